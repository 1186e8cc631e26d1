"""What the plugin says in PyMOL's output: one line per message, in PyMOL's own words.

The core's messages name the arguments they are about as data (`files.errors.arg`), which the
command line words as flags (`--top-k`, `--model PATH`). A PyMOL user types arguments, so
every core message is worded here by its arguments (`pymol_words`): `top_k`, `top='x'`,
`model=/path/to/folder`, and, where PyMOL's way differs in kind, the phrase table below
(`--repr` is `method=repr-jacobian`; `--window` is selecting a part of the chain). The
executable, when the plugin runs it, is asked to keep its messages' markers
(CONTACTPLUG_MESSAGES=marked), so its lines are worded the same way. The core's log records
(progress lines, notes) are shown while it runs (`core_messages`).
"""

from __future__ import annotations

import contextlib
import logging
import re

try:
    from contactplug.files.errors import Argument, ContactplugError, Message, arguments_in, worded
except ImportError:  # PyMOL's Python without the core: the copy carried with the plugin
    from ._files.errors import Argument, ContactplugError, Message, arguments_in, worded

# what the environment of the executable says so that its messages keep their markers
MARKED_ENV = {"CONTACTPLUG_MESSAGES": "marked"}

_WEIGHTS = (
    "model=/path/to/folder (a HuggingFace folder: config.json and its weights) or "
    "model=/path/to/file.pt (a fair-esm checkpoint)"
)
# (argument, the core's phrase around it) -> PyMOL's words for the whole phrase, where they
# differ in kind; tests/test_messages.py holds every key to a phrase the core writes
PHRASES = {
    ("model", "pass {} to a fair-esm .pt or an HF folder"): "give " + _WEIGHTS,
    ("model", "pass {} to local weights"): "give " + _WEIGHTS,
    ("model", "pass {} to its folder"): "give model=/path/to/its/folder",
    ("repr", "use {} for representation-CJ"): "use method=repr-jacobian",
    ("fast", "use the full variant, without {}"): "use method=jacobian or repr-jacobian",
    ("window", "split the sequence or use {}"): "select a part of the chain",
    # a complex too long for the model: PyMOL predicts the chains selected, joined its way
    ("chains", "({})"): "(select fewer chains)",
    ("linker", "({})"): "(linker none, on the command line)",
}
# what to give for a kind of value, where the core names the kind (`--model PATH`)
PLACEHOLDERS = {"PATH": "/path/to/folder", "FILE": "/path/to/file"}


def pymol_argument(argument: Argument) -> str:
    """One argument as a PyMOL user types it: `top_k`, `top='x'`, `model=/path/to/folder`."""
    phrase = PHRASES.get((argument.name, argument.phrase))
    if phrase is not None:
        return phrase
    if argument.value is not None:
        said = f"{argument.name}={argument.value}"
    elif argument.metavar:
        said = f"{argument.name}={PLACEHOLDERS.get(argument.metavar, argument.metavar)}"
    else:
        said = argument.name
    return argument.phrase.replace("{}", said)


# Text with no markers came from an executable older than its marked messages: its flags are
# the one thing left to word by their look.
_UNMARKED_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)")


def pymol_words(message: str | ContactplugError | Message) -> str:
    """A core error, log message or marked line in PyMOL's words."""
    if isinstance(message, (ContactplugError, Message)):
        return message.worded(pymol_argument)
    if arguments_in(message):
        return worded(message, pymol_argument)
    return _UNMARKED_FLAG.sub(lambda m: m.group(1).replace("-", "_"), message)


def feedback(message: str, command: str = "attncontacts") -> None:
    """One line into PyMOL's output (the GUI shows stdout), named after the command."""
    print(f" {command}: {message}", flush=True)


class _Feedback(logging.Handler):
    def __init__(self, command: str) -> None:
        super().__init__(logging.INFO)
        self.command = command

    def emit(self, record: logging.LogRecord) -> None:
        feedback(record_words(record), self.command)


def record_words(record: logging.LogRecord) -> str:
    """A core log record in PyMOL's words: a `Message` worded by its arguments, then its
    %-arguments applied, as logging applies them."""
    if not isinstance(record.msg, Message):
        return record.getMessage()
    text = record.msg.worded(pymol_argument)
    return text % record.args if record.args else text


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
