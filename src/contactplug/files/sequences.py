"""FASTA reading and sequence checks: every problem is one clear line, or a stated warning."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ContactplugError

log = logging.getLogger("contactplug")

STANDARD = "ACDEFGHIKLMNPQRSTVWY"
# Letters ESM's alphabet knows beyond the 20: kept as they are, with a warning.
AMBIGUOUS = set("XBZUO")
MAX_LENGTH = 1022  # ESM-2's window without BOS/EOS


@dataclass(frozen=True)
class Record:
    id: str
    sequence: str


def clean_sequence(raw: str, name: str = "sequence") -> str:
    """Upper-case, strip whitespace, refuse what the model cannot read."""
    seq = re.sub(r"\s+", "", raw)
    if not seq:
        raise ContactplugError(f"{name}: empty sequence")
    if seq.endswith("*"):  # a stop codon mark at the very end is conventional
        seq = seq[:-1]
    if any(c.islower() for c in seq):
        log.warning("%s: lowercase letters were upper-cased", name)
        seq = seq.upper()
    bad = sorted({c for c in seq if c not in STANDARD and c not in AMBIGUOUS})
    if bad:
        shown = "".join(bad)
        raise ContactplugError(
            f"{name}: characters {shown!r} are not amino acids "
            "(gaps '-', '.' and stops '*' inside a sequence are refused)"
        )
    odd = sorted({c for c in seq if c in AMBIGUOUS})
    if odd:
        log.warning(
            "%s: non-standard letters %s kept as ESM tokens; their positions are scored as usual",
            name,
            "".join(odd),
        )
    if not seq:
        raise ContactplugError(f"{name}: empty sequence")
    return seq


def check_length(record: Record, max_length: int = MAX_LENGTH) -> None:
    if len(record.sequence) > max_length:
        raise ContactplugError(
            f"{record.id}: {len(record.sequence)} residues exceed the model's {max_length}-residue "
            "window; split the sequence or use --window"
        )


def parse_fasta(text: str, source: str = "<fasta>") -> list[Record]:
    records: list[Record] = []
    seen: set[str] = set()
    header: str | None = None
    chunks: list[str] = []

    def flush() -> None:
        if header is None:
            return
        rid = header.split()[0] if header.split() else ""
        if not rid:
            raise ContactplugError(f"{source}: a record has an empty header line")
        rid = re.sub(r"[^A-Za-z0-9_.\-]", "_", rid)
        if rid in seen:
            raise ContactplugError(f"{source}: duplicate record id {rid!r}")
        seen.add(rid)
        records.append(Record(rid, clean_sequence("".join(chunks), f"{source}:{rid}")))

    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith(">"):
            flush()
            header, chunks = line[1:].strip(), []
        elif header is None:
            raise ContactplugError(
                f"{source}: line {lineno} comes before any '>' header; not a FASTA file"
            )
        else:
            chunks.append(line)
    flush()
    if not records:
        raise ContactplugError(f"{source}: no FASTA records")
    return records


def read_fasta(path: str | os.PathLike) -> list[Record]:
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ContactplugError(f"{path}: cannot read FASTA ({exc.__class__.__name__})") from None
    return parse_fasta(text, str(path))


def write_fasta(records: list[Record], path: str | os.PathLike, width: int = 60) -> None:
    with open(path, "w") as handle:
        for rec in records:
            handle.write(f">{rec.id}\n")
            for k in range(0, len(rec.sequence), width):
                handle.write(rec.sequence[k : k + width] + "\n")
