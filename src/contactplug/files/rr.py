"""CASP RR contact files: a tolerant reader and a strict writer.

The reader takes what people actually have: full CASP files (PFRMAT/TARGET/.../MODEL/END),
bare files from tools such as CONFOLD (a sequence line, then `i j d1 d2 score`), and the
3-column `i j p` form. Scores are returned as written; nothing here calls them probabilities.

The writer emits the CASP RR layout: header records, `MODEL 1`, the sequence wrapped at 50
letters, then `i j d1 d2 p` with i < j sorted by descending p, and `END`.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import NamedTuple

from .atomic import write_text as write_text_atomic
from .errors import ContactplugError

log = logging.getLogger("contactplug")

HEADER_KEYS = {"PFRMAT", "TARGET", "AUTHOR", "METHOD", "REMARK", "MODEL", "PARENT", "SCORE"}
_SEQ_LINE = re.compile(r"^[A-Za-z]+$")


class RR(NamedTuple):
    """`sequence` (None when the file has none) and 1-based pairs (i, j, score), i < j."""

    sequence: str | None
    pairs: list[tuple[int, int, float]]


def parse_rr(text: str, source: str = "<rr>") -> RR:
    """Parse RR text; only the first MODEL is read (later ones are reported and skipped)."""
    seq_parts: list[str] = []
    pairs: list[tuple[int, int, float]] = []
    seen: set[tuple[int, int]] = set()
    models = 0
    duplicates = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        word = line.split()[0].upper()
        if word in ("END", "ENDMDL"):
            if models <= 1:
                # The first model ends here; anything after belongs to another model.
                if pairs or seq_parts:
                    break
            continue
        if word == "MODEL":
            models += 1
            if models > 1:
                log.warning("%s: more than one MODEL; only MODEL 1 was read", source)
                break
            continue
        if word in HEADER_KEYS:
            continue
        fields = line.split()
        if len(fields) == 1 and _SEQ_LINE.match(line):
            if pairs:
                raise ContactplugError(f"{source}: line {lineno}: sequence line after contacts")
            seq_parts.append(line.upper())
            continue
        if len(fields) not in (3, 5):
            raise ContactplugError(
                f"{source}: line {lineno}: expected 'i j d1 d2 p' or 'i j p', got {line[:60]!r}"
            )
        try:
            i, j = int(fields[0]), int(fields[1])
            score = float(fields[-1])
            if len(fields) == 5:
                float(fields[2]), float(fields[3])
        except ValueError:
            raise ContactplugError(
                f"{source}: line {lineno}: not a contact line ({line[:60]!r}); "
                "multi-chain RR (chain letters in residue fields) is not supported"
            ) from None
        if i == j or i < 1 or j < 1:
            raise ContactplugError(f"{source}: line {lineno}: bad residue pair {i} {j}")
        if i > j:
            i, j = j, i
        if (i, j) in seen:
            duplicates += 1
            continue
        seen.add((i, j))
        pairs.append((i, j, score))
    sequence = "".join(seq_parts) or None
    if sequence is not None:
        too_far = [p for p in pairs if p[1] > len(sequence)]
        if too_far:
            i, j, _ = too_far[0]
            raise ContactplugError(
                f"{source}: pair {i} {j} lies beyond the {len(sequence)}-residue sequence"
            )
    if duplicates:
        log.warning("%s: %d repeated pairs ignored (first kept)", source, duplicates)
    return RR(sequence, pairs)


def read_rr(path: str | os.PathLike) -> RR:
    """Read a CASP RR file -> RR(sequence or None, [(i, j, score), ...]) with 1-based i < j."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ContactplugError(f"{path}: cannot read RR file ({exc.__class__.__name__})") from None
    return parse_rr(text, str(path))


def format_rr(
    sequence: str,
    pairs: list[tuple[int, int, float]],
    target: str = "unknown",
    author: str = "contactplug",
    method: list[str] | str = "contactplug",
    remarks: list[str] | None = None,
    d1: float = 0,
    d2: float = 8,
    width: int = 50,
) -> str:
    """CASP RR text for 1-based pairs (i, j, p); p must already be a probability in [0, 1]."""
    rows = []
    for i, j, p in pairs:
        if not 0.0 <= p <= 1.0:
            raise ContactplugError(f"RR probability {p} for pair {i} {j} is outside [0, 1]")
        if i == j or min(i, j) < 1 or max(i, j) > len(sequence):
            raise ContactplugError(f"RR pair {i} {j} is outside the {len(sequence)}-residue chain")
        rows.append((min(i, j), max(i, j), float(p)))
    rows.sort(key=lambda r: (-r[2], r[0], r[1]))
    methods = [method] if isinstance(method, str) else list(method)
    out = ["PFRMAT RR", f"TARGET {_one_line(target)}", f"AUTHOR {_one_line(author)}"]
    out += [f"REMARK {_one_line(r)}" for r in remarks or []]
    out += [f"METHOD {_one_line(m)}" for m in methods]
    out.append("MODEL  1")
    out += [sequence[k : k + width] for k in range(0, len(sequence), width)]
    out += [f"{i:<4d} {j:<4d} {_num(d1)} {_num(d2)} {p:.6f}" for i, j, p in rows]
    out.append("END")
    return "\n".join(out) + "\n"


def write_rr(path: str | os.PathLike, sequence: str, pairs, **kwargs) -> Path:
    """Atomically write a CASP RR file; see `format_rr` for the arguments."""
    return write_text_atomic(path, format_rr(sequence, pairs, **kwargs))


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) or "-"


def _num(x: float) -> str:
    return f"{int(x)}" if float(x).is_integer() else f"{x:g}"
