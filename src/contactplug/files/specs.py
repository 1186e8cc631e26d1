"""How users name a number of pairs (`top`) and a sequence separation (`min_sep`): one parser
for the CLI, the library, the exporters and the PyMOL plugin. `option` is the argument's name
in messages, which each interface words its own way (`--top 'x'` on the command line, `top='x'`
in PyMOL: `errors.arg`)."""

from __future__ import annotations

import re

from .errors import ContactplugError, arg

# sequence separation j - i of each range, inclusive; None = no upper bound
RANGES: dict[str, tuple[int, int | None]] = {
    "short": (6, 11),
    "medium": (12, 23),
    "long": (24, None),
}


def parse_top(text: str | int | None, length: int, option: str = "top") -> int | None:
    """'all'/None -> every pair (None); 'N' -> N; 'L', 'L/k', 'kL' -> in units of the length L."""
    if text is None or str(text).strip().lower() == "all":
        return None
    t = str(text).strip().replace(" ", "")
    m = re.fullmatch(r"(\d*\.?\d*)\*?L(?:/(\d+(?:\.\d+)?))?", t, flags=re.IGNORECASE)
    if m and (m.group(1) or m.group(2) or t.upper() == "L"):
        factor = float(m.group(1)) if m.group(1) else 1.0
        div = float(m.group(2)) if m.group(2) else 1.0
        if div == 0:
            raise ContactplugError(f"{arg(option, value=text)}: division by zero")
        return max(1, int(factor * length // div))
    if t.isdigit() and int(t) > 0:
        return int(t)
    raise ContactplugError(
        f"{arg(option, value=repr(text))}: give a count or L, L/2, L/5 (also 2L, all)"
    )


def parse_sep(
    text: str | int, max_sep: int | None = None, option: str = "min_sep"
) -> tuple[int, int | None]:
    """A minimum separation N, a range A-B, or a range word: short / medium / long."""
    word = str(text).strip().lower()
    lo_text, dash, hi_text = word.partition("-")
    if word in RANGES:
        lo, own = RANGES[word]
    elif lo_text.isdigit() and int(lo_text) >= 1 and (not dash or hi_text.isdigit()):
        lo, own = int(lo_text), int(hi_text) if dash else None
    else:
        raise ContactplugError(
            f"{arg(option, value=repr(text))}: give a number N >= 1, a range A-B, or "
            "short / medium / long"
        )
    if own is not None and max_sep is not None and max_sep != own:
        # two upper bounds: taking either silently would export pairs the user did not ask for
        raise ContactplugError(
            f"{arg(option, value=repr(text))} ends at {own}, but the maximum separation given is "
            f"{max_sep}; "
            "give one of them"
        )
    hi = own if own is not None else max_sep
    if hi is not None and hi < lo:
        raise ContactplugError(
            f"{arg(option, value=repr(text))}: the upper bound {hi} is below {lo}"
        )
    return lo, hi
