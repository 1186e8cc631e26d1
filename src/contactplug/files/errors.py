"""The one exception type users see: its message is a single line, the CLI exits 2 on it.

A message names the arguments it is about as data, not in one interface's words: it is written
with `arg("top")` or `arg("model", "PATH")` markers, the error keeps them (`err.arguments`),
`str(err)` words them for the command line (`--top`, `--model PATH`) and `err.worded(words)`
for another interface (the PyMOL plugin: `top=`, `model=/path/to/folder`). A log record that
names an argument is a `Message`, worded the same way. Self-contained and torch-free: the
PyMOL plugin carries a copy of this layer.
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable

# A marker is framed by control characters that no message holds and no typed value shows
# (values go in through repr or as plain words), and that str.splitlines does not split on
# (the CLI joins a message's lines): every wording replaces them, so none reaches a user.
_START, _FIELD, _END = "\x02", "\x1f", "\x03"
_MARKER = re.compile(f"{_START}([^{_START}{_END}]*){_END}")


# a named tuple, not a dataclass: the CLI imports this module first, and it brings no
# `dataclasses` (with `inspect`, ~6 ms here) of its own
class Argument(namedtuple("Argument", "name metavar value phrase", defaults=("", None, "{}"))):
    """One argument a message is about.

    name: its keyword (`top_k`; the command line's flag is `--top-k`); metavar: the kind of
    value to give (`PATH`); value: the value that was given, as the message shows it;
    phrase: the words around it, `{}` where it stands (`pass {} to its folder`), so that an
    interface whose way to say it differs in kind can word the whole phrase."""

    __slots__ = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def marker(self) -> str:
        value = "" if self.value is None else "=" + self.value
        return _START + _FIELD.join((self.name, self.metavar, value, self.phrase)) + _END

    @classmethod
    def from_marker(cls, body: str) -> Argument:
        name, metavar, value, phrase = body.split(_FIELD)
        return cls(name, metavar, value[1:] if value else None, phrase)


Words = Callable[[Argument], str]


def cli_words(argument: Argument) -> str:
    """The command line's words: `--top`, `--model PATH`, `--top 'x'`, inside the phrase."""
    tail = argument.metavar if argument.value is None else argument.value
    said = f"{argument.flag} {tail}" if tail else argument.flag
    return argument.phrase.replace("{}", said)


def arg(name: str, metavar: str = "", *, value: object = None, phrase: str = "{}") -> str:
    """A marker for the argument `name` inside a message (see `Argument` for the rest):
    f"{arg('top', value=repr(text))}: give a count" reads `--top 'x': give a count` on the
    command line and `top='x': give a count` in PyMOL."""
    if "{}" not in phrase:
        raise ValueError(f"phrase {phrase!r} has no {{}} for the argument")
    return Argument(name, metavar, None if value is None else str(value), phrase).marker()


def arguments_in(text: str) -> list[Argument]:
    """The arguments a marked text names, in order."""
    return [Argument.from_marker(m.group(1)) for m in _MARKER.finditer(text)]


def worded(text: str, words: Words = cli_words) -> str:
    """A marked text with each argument in an interface's words (the command line's unless
    told)."""
    return _MARKER.sub(lambda m: words(Argument.from_marker(m.group(1))), text)


class Marked:
    """What a marked text is to its readers: its arguments, and its wording by an interface
    (`str()`: the command line's). `marked` is the text with its markers."""

    marked: str

    @property
    def arguments(self) -> list[Argument]:
        return arguments_in(self.marked)

    def worded(self, words: Words) -> str:
        return worded(self.marked, words)

    def __str__(self) -> str:
        return self.worded(cli_words)


class ContactplugError(Marked, Exception):
    """Bad input or an impossible request, explained in one line.

    The message keeps its argument markers (`marked`; also what pickling carries to another
    process); `str()` is the command line's wording. A caller that adds to a message words
    through the same mechanism: `ContactplugError(f"{path}: {exc.marked}")`."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)

    @property
    def marked(self) -> str:
        return str(self.args[0]) if self.args else ""


class Message(Marked):
    """A log message that names arguments: `log.info(Message(f"{arg('force')}: ..."), ...)`.
    Logging's handlers print `str()` (the command line's words, %-arguments applied after);
    another interface's handler words `record.msg` itself (`worded`)."""

    def __init__(self, marked: str) -> None:
        self.marked = marked

    def __repr__(self) -> str:
        return f"Message({str(self)!r})"
