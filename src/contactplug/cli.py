"""The `contactplug` command: each subcommand lives in its own module with `register(subparsers)`.

A subcommand's parser sets `func=run` where `run(args) -> int`. ContactplugError becomes one
line on stderr and exit code 2; nothing else is caught, so real bugs still show a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from contactplug import __version__
from contactplug.files.errors import ContactplugError

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="contactplug",
        description="Protein contacts from ESM-2 attention (one forward pass) "
        "and the Categorical Jacobian (20*L+1 passes).",
    )
    parser.add_argument("--version", action="version", version=f"contactplug {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="contactplug: %(levelname)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except ContactplugError as exc:
        print(f"contactplug: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("contactplug: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
