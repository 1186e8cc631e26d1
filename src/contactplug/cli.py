"""The `contactplug` command: each subcommand lives in its own module with `register(subparsers)`.

A subcommand's parser sets `func=run` where `run(args) -> int`. Bad input and I/O failures
are one line on stderr and exit code 2: ContactplugError, an OSError (a full disk, a read-only
folder, a file in the way: with the path), and argparse's own complaints. Nothing else is
caught, so real bugs still show a traceback. SIGTERM unwinds like Ctrl-C (exit 143), so
temporary files are removed as they are on SIGINT; both wait while a map is being written
(`files.atomic.signals_held`), so the file in hand is finished rather than left half-made.

Messages word their arguments as flags (`--top`). With CONTACTPLUG_MESSAGES=marked (set by the
PyMOL plugin when it runs this executable) errors and log lines keep the arguments' markers
(`files.errors`), so the plugin words them as PyMOL arguments.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys

from contactplug import __version__
from contactplug.files import atomic
from contactplug.files.errors import ContactplugError, Message

# One line per subcommand module, in the order `--help` lists them.
COMMAND_MODULES = [
    "contactplug.commands.predict",
    "contactplug.commands.jacobian",
    "contactplug.commands.evaluate",
    "contactplug.commands.export",
    "contactplug.commands.bench",
    "contactplug.commands.structure",
    "contactplug.commands.samplesheet",
]
# The module that registers each subcommand: `contactplug predict ...` imports that one only
# (the others' imports cost it ~0.1 s). A name missing here registers them all, so a new
# subcommand works before it is listed; tests/test_cli_overhead.py keeps the table whole.
COMMAND_MODULE = {
    **dict.fromkeys(["predict", "select-heads", "model-info", "tiny-model"], COMMAND_MODULES[0]),
    **dict.fromkeys(["jacobian", "gather-jacobian"], COMMAND_MODULES[1]),
    **dict.fromkeys(["evaluate", "compare", "plot"], COMMAND_MODULES[2]),
    **dict.fromkeys(["export", "calibrate"], COMMAND_MODULES[3]),
    "bench": COMMAND_MODULES[4],
    "structure": COMMAND_MODULES[5],
    **dict.fromkeys(["samplesheet", "versions"], COMMAND_MODULES[6]),
}


LOG_FORMAT = "contactplug: %(levelname)s: %(message)s"


class MarkedFormatter(logging.Formatter):
    """Log lines whose `Message` keeps its argument markers (CONTACTPLUG_MESSAGES=marked)."""

    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.msg, Message):
            record = logging.makeLogRecord({**record.__dict__, "msg": record.msg.marked})
        return super().format(record)


class Terminated(BaseException):
    """SIGTERM, raised where the program is, so `finally` blocks and temp-file cleanup run."""


class OneLineParser(argparse.ArgumentParser):
    """argparse's errors as the one line every other bad input gets (usage stays in --help)."""

    def error(self, message: str):
        self.exit(2, f"contactplug: error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with `argv` naming a known subcommand, that command's module only
    (the global options take no values, so the first word not starting with - is the command)."""
    command = next((word for word in argv if not word.startswith("-")), None) if argv else None
    modules = [COMMAND_MODULE[command]] if command in COMMAND_MODULE else COMMAND_MODULES
    parser = OneLineParser(
        prog="contactplug",
        description="Protein contacts from a protein language model's attention (one forward pass) "
        "and the Categorical Jacobian (20*L+1 passes).",
    )
    parser.add_argument("--version", action="version", version=f"contactplug {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def os_error_line(exc: OSError) -> str:
    """`path: reason` for an OSError (both paths of a rename)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"{' -> '.join(paths)}: {reason}" if paths else reason


def _raise_terminated() -> None:
    raise Terminated()


def _raise_interrupted() -> None:
    raise KeyboardInterrupt


def _terminate(signum, frame):
    atomic.deliver(_raise_terminated)  # held while a map is being written (files.atomic)


def _interrupt(signum, frame):
    atomic.deliver(_raise_interrupted)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    marked = os.environ.get("CONTACTPLUG_MESSAGES") == "marked"
    handlers = [logging.StreamHandler()] if marked else None
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format=LOG_FORMAT,
        handlers=handlers,
    )
    if handlers:
        handlers[0].setFormatter(MarkedFormatter(LOG_FORMAT))
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
        previous_int = signal.signal(signal.SIGINT, _interrupt)
    except ValueError:  # not the main thread (an embedding application): leave signals alone
        previous = previous_int = None
    try:
        return int(args.func(args) or 0)
    except ContactplugError as exc:
        message = exc.marked if marked else str(exc)
        print(f"contactplug: error: {' '.join(message.splitlines())}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"contactplug: error: {os_error_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("contactplug: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("contactplug: terminated", file=sys.stderr)
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int)


if __name__ == "__main__":
    sys.exit(main())
