"""CASP RR contact files: a tolerant reader and a strict writer.

The reader takes what people actually have: full CASP files (PFRMAT/TARGET/.../MODEL/END),
bare files from tools such as CONFOLD (a sequence line, then `i j d1 d2 score`), and the
3-column `i j p` form. Scores are returned as written; nothing here calls them probabilities.

The writer emits the CASP RR layout: header records, `MODEL 1`, the sequence wrapped at 50
letters, then `i j d1 d2 p` with i < j sorted by descending p, and `END`.

Complexes: residues carry their chain letter, `A12 B145 0 8 p`, as ConKit reads and writes
them (`RE_RES`: letters, then digits). The number is the position in the file's sequence (all
chains joined, in order), which is what ConKit's sequence register indexes, so every residue
keeps its own letter there; a `REMARK chains A 1-98 B 99-284` line gives each chain's span.
ConKit writes back intra-chain pairs without letters; the span remark (which it keeps) names
their chain again (`read_rr_chains`).
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
_RESIDUE = re.compile(r"^([A-Za-z]{1,4})?(\d+)$")  # 12, or A12 (chain letter, then number)
_SPANS = re.compile(r"^REMARK\s+chains\s+(.+)$", re.IGNORECASE)
_SPAN = re.compile(r"^([A-Za-z]{1,4})\s+(\d+)-(\d+)$")


class RR(NamedTuple):
    """`sequence` (None when the file has none) and 1-based pairs (i, j, score), i < j."""

    sequence: str | None
    pairs: list[tuple[int, int, float]]


class ChainedRR(NamedTuple):
    """An RR file with chains: `pairs` as in `RR` (1-based positions in the joined sequence),
    `chains` the (chain_i, chain_j) of each pair ('' where neither a letter nor a span names
    it), `spans` (chain, first, last), 1-based inclusive, from the `REMARK chains` line."""

    sequence: str | None
    pairs: list[tuple[int, int, float]]
    chains: list[tuple[str, str]]
    spans: list[tuple[str, int, int]] | None


def parse_rr(text: str, source: str = "<rr>") -> RR:
    """Parse RR text; only the first MODEL is read (later ones are reported and skipped).
    Residues may carry chain letters (`A12 B145`); see `parse_rr_chains` for the chains."""
    found = parse_rr_chains(text, source)
    return RR(found.sequence, found.pairs)


def _residue(field: str, source: str, lineno: int, line: str) -> tuple[str, int]:
    m = _RESIDUE.match(field)
    if not m:
        raise ContactplugError(
            f"{source}: line {lineno}: not a contact line ({line[:60]!r}); a residue is a "
            "number, or a chain letter and a number (A12)"
        )
    return (m.group(1) or ""), int(m.group(2))


def _spans(text: str, source: str) -> list[tuple[str, int, int]] | None:
    """(chain, first, last) from `REMARK chains A 1-98 B 99-284`, checked to tile 1..N."""
    for raw in text.splitlines():
        m = _SPANS.match(raw.strip())
        if not m:
            continue
        words = m.group(1).replace(",", " ").split()
        spans, end = [], 0
        for k in range(0, len(words) - 1, 2):
            s = _SPAN.match(f"{words[k]} {words[k + 1]}")
            if not s or int(s.group(2)) != end + 1 or int(s.group(3)) < int(s.group(2)):
                raise ContactplugError(f"{source}: chain spans {m.group(1)!r} do not tile 1..N")
            spans.append((s.group(1), int(s.group(2)), int(s.group(3))))
            end = int(s.group(3))
        if len(words) % 2 or len({c for c, _, _ in spans}) != len(spans):
            raise ContactplugError(f"{source}: chain spans {m.group(1)!r} are malformed")
        return spans
    return None


def _chain_at(spans: list[tuple[str, int, int]] | None, k: int) -> str:
    for name, first, last in spans or []:
        if first <= k <= last:
            return name
    return ""


def parse_rr_chains(text: str, source: str = "<rr>") -> ChainedRR:
    """Parse RR text with its chains (see the module's docstring); single-chain files give
    chains '' throughout and spans None."""
    seq_parts: list[str] = []
    pairs: list[tuple[int, int, float]] = []
    chains: list[tuple[str, str]] = []
    seen: set[tuple[int, int]] = set()
    spans = _spans(text, source)
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
        (ci, i), (cj, j) = (_residue(f, source, lineno, line) for f in fields[:2])
        try:
            score = float(fields[-1])
            if len(fields) == 5:
                float(fields[2]), float(fields[3])
        except ValueError:
            raise ContactplugError(
                f"{source}: line {lineno}: not a contact line ({line[:60]!r})"
            ) from None
        if i == j or i < 1 or j < 1:
            raise ContactplugError(f"{source}: line {lineno}: bad residue pair {i} {j}")
        ci = _check_chain(ci, i, spans, source, lineno)
        cj = _check_chain(cj, j, spans, source, lineno)
        if i > j:
            (i, ci), (j, cj) = (j, cj), (i, ci)
        if (i, j) in seen:
            duplicates += 1
            continue
        seen.add((i, j))
        pairs.append((i, j, score))
        chains.append((ci, cj))
    sequence = "".join(seq_parts) or None
    if spans is not None and sequence is not None and spans[-1][2] != len(sequence):
        raise ContactplugError(
            f"{source}: chain spans end at {spans[-1][2]}, the sequence has {len(sequence)}"
        )
    if sequence is not None:
        too_far = [p for p in pairs if p[1] > len(sequence)]
        if too_far:
            i, j, _ = too_far[0]
            raise ContactplugError(
                f"{source}: pair {i} {j} lies beyond the {len(sequence)}-residue sequence"
            )
    if duplicates:
        log.warning("%s: %d repeated pairs ignored (first kept)", source, duplicates)
    return ChainedRR(sequence, pairs, chains, spans)


def _check_chain(letter: str, k: int, spans, source: str, lineno: int) -> str:
    """The chain of residue k: its letter, which must agree with the span holding k."""
    spanned = _chain_at(spans, k)
    if letter and spans is not None and letter != spanned:
        raise ContactplugError(
            f"{source}: line {lineno}: residue {letter}{k} lies in chain {spanned or '?'}'s "
            "span (numbers index the joined sequence; see REMARK chains)"
        )
    return letter or spanned


def read_rr(path: str | os.PathLike) -> RR:
    """Read a CASP RR file -> RR(sequence or None, [(i, j, score), ...]) with 1-based i < j."""
    found = read_rr_chains(path)
    return RR(found.sequence, found.pairs)


def read_rr_chains(path: str | os.PathLike) -> ChainedRR:
    """Read a CASP RR file with its chains; see `ChainedRR`."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ContactplugError(f"{path}: cannot read RR file ({exc.__class__.__name__})") from None
    return parse_rr_chains(text, str(path))


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
    chains: list[tuple[str, int]] | None = None,
) -> str:
    """CASP RR text for 1-based pairs (i, j, p); p must already be a probability in [0, 1].
    `chains` (name, length) in sequence order: residues carry their chain letter and a
    `REMARK chains` line gives the spans (see the module's docstring)."""
    letters = _letters(chains, len(sequence))
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
    if chains is not None:
        spans, end = [], 0
        for c, n in chains:
            spans.append(f"{c} {end + 1}-{end + n}")
            end += n
        out.append(f"REMARK chains {' '.join(spans)}")
    out += [f"METHOD {_one_line(m)}" for m in methods]
    out.append("MODEL  1")
    out += [sequence[k : k + width] for k in range(0, len(sequence), width)]
    out += [
        f"{letters[i - 1]}{i:<4d} {letters[j - 1]}{j:<4d} {_num(d1)} {_num(d2)} {p:.6f}"
        for i, j, p in rows
    ]
    out.append("END")
    return "\n".join(out) + "\n"


def write_rr(path: str | os.PathLike, sequence: str, pairs, **kwargs) -> Path:
    """Atomically write a CASP RR file; see `format_rr` for the arguments."""
    return write_text_atomic(path, format_rr(sequence, pairs, **kwargs))


def _letters(chains: list[tuple[str, int]] | None, length: int) -> list[str]:
    """Each position's chain letter ('' throughout for a single chain)."""
    if chains is None:
        return [""] * length
    if sum(n for _, n in chains) != length:
        raise ContactplugError(f"RR chain lengths {chains} do not add up to {length}")
    bad = [c for c, _ in chains if not re.fullmatch(r"[A-Za-z]{1,4}", c)]
    if bad:
        raise ContactplugError(
            f"RR chain names must be letters (ConKit reads a letter, then a number): {bad}"
        )
    return [c for c, n in chains for _ in range(n)]


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) or "-"


def _num(x: float) -> str:
    return f"{int(x)}" if float(x).is_integer() else f"{x:g}"
