"""What the plugin says in PyMOL's output: one line per message, in PyMOL's own words.

The core's messages name command-line flags (`--top-k`, `--model PATH`); a PyMOL user types
arguments (`top_k=`, `model=`), so every message from the core passes through `pymol_words`.
The core's log records (progress lines, notes) are shown while it runs (`core_messages`).
"""

from __future__ import annotations

import contextlib
import logging
import re

# Specific phrases first, then any remaining flag: --top-k -> top_k
_WEIGHTS = (
    "model=/path/to/folder (a HuggingFace folder: config.json and its weights) or "
    "model=/path/to/file.pt (a fair-esm checkpoint)"
)
_PHRASES = [
    (
        r"pass --model PATH to a fair-esm \.pt or an HF folder",
        "give " + _WEIGHTS,
    ),
    (r"pass --model PATH to local weights", "give " + _WEIGHTS),
    (r"pass --model PATH to its folder", "give model=/path/to/its/folder"),
    (r"--model PATH", "model=/path/to/folder"),
    (r"\(use --repr for representation-CJ\)", "(use method=repr-jacobian)"),
    (r"\(use the full variant, without --fast\)", "(use method=jacobian or repr-jacobian)"),
    (r"split the sequence or use --window", "select a part of the chain"),
]
_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)")


def pymol_words(message: str) -> str:
    """A core message with its command-line flags turned into PyMOL argument names."""
    for pattern, words in _PHRASES:
        message = re.sub(pattern, words, message)
    return _FLAG.sub(lambda m: m.group(1).replace("-", "_"), message)


def feedback(message: str, command: str = "attncontacts") -> None:
    """One line into PyMOL's output (the GUI shows stdout), named after the command."""
    print(f" {command}: {message}", flush=True)


class _Feedback(logging.Handler):
    def __init__(self, command: str) -> None:
        super().__init__(logging.INFO)
        self.command = command

    def emit(self, record: logging.LogRecord) -> None:
        feedback(pymol_words(record.getMessage()), self.command)


@contextlib.contextmanager
def core_messages(command: str = "attncontacts"):
    """While the core runs in-process, its INFO records (progress every tenth, notes such as
    a head ranking made once) go to PyMOL's output."""
    logger = logging.getLogger("contactplug")
    handler, level = _Feedback(command), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
