"""FASTA reading and sequence checks: every problem is one clear line, or a stated warning."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .atomic import write_text
from .errors import ContactplugError, arg

log = logging.getLogger("contactplug")

STANDARD = "ACDEFGHIKLMNPQRSTVWY"
# Letters ESM's alphabet knows beyond the 20: kept as they are, with a warning.
AMBIGUOUS = set("XBZUO")
# The one residue limit: ESM's 1024 positions less BOS and EOS. ESM-1b's learned table
# has it, ESM-2 kept it, ProtT5 takes it as a memory bound, and every window defaults to it.
MAX_LENGTH = 1022


LINE_ENDS = re.compile("\r\n|\r|\u2028|\u2029")
CHAIN_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_NOT_IN_ID = re.compile(r"[^A-Za-z0-9_.\-]")


@dataclass(frozen=True)
class Record:
    """A protein to predict: one chain, or a complex of chains (`chain_ids` and
    `chain_lengths` set, `sequence` their residues joined in that order, no separator)."""

    id: str
    sequence: str
    chain_ids: tuple[str, ...] | None = None
    chain_lengths: tuple[int, ...] | None = None

    @property
    def is_complex(self) -> bool:
        return self.chain_lengths is not None

    def chains(self) -> list[str]:
        """The sequence of each chain (one for a single chain)."""
        if self.chain_lengths is None:
            return [self.sequence]
        ends = np.cumsum((0, *self.chain_lengths))
        return [self.sequence[ends[n] : ends[n + 1]] for n in range(len(self.chain_lengths))]


def complex_record(rid: str, chains: list[str], chain_ids: list[str] | None = None) -> Record:
    """A complex of two or more chains (each already cleaned); ids default to A, B, C..."""
    if len(chains) < 2:
        raise ContactplugError(f"{rid}: a complex needs two or more chains, got {len(chains)}")
    if len(chains) > len(CHAIN_LETTERS):
        raise ContactplugError(f"{rid}: {len(chains)} chains; at most {len(CHAIN_LETTERS)}")
    ids = list(chain_ids) if chain_ids is not None else list(CHAIN_LETTERS[: len(chains)])
    if len(set(ids)) != len(ids):
        raise ContactplugError(f"{rid}: chain {_first_repeat(ids)!r} is named twice")
    return Record(rid, "".join(chains), tuple(ids), tuple(len(c) for c in chains))


def _first_repeat(items: list[str]) -> str:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    return ""


def parse_chains(raw: str, name: str) -> Record | str:
    """A FASTA sequence holding chains separated by ':' (the ColabFold/ESMFold convention)
    as a complex Record; without ':' the cleaned sequence itself."""
    if ":" not in raw:
        return clean_sequence(raw, name)
    parts = re.sub(r"\s+", "", raw).split(":")
    empty = [n + 1 for n, part in enumerate(parts) if not part.strip("*")]
    if empty:
        raise ContactplugError(
            f"{name}: chain {empty[0]} of {len(parts)} is empty (a stray ':'; chains are "
            "separated by single ':' as in SEQA:SEQB)"
        )
    chains = [clean_sequence(part, f"{name} chain {CHAIN_LETTERS[n]}") for n, part in
              enumerate(parts)]  # fmt: skip
    return complex_record(name, chains)


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
    if not any(c in STANDARD for c in seq):
        # nothing a model reads as a residue: its map (and any probability) would mean nothing
        raise ContactplugError(
            f"{name}: only non-standard letters ({''.join(sorted(set(seq)))}); no amino acid "
            "to read contacts from"
        )
    return seq


def check_length(record: Record, max_length: int = MAX_LENGTH) -> None:
    if len(record.sequence) > max_length:
        raise ContactplugError(
            f"{record.id}: {len(record.sequence)} residues exceed the model's {max_length}-residue "
            "window; " + arg("window", phrase="split the sequence or use {}")
        )


def fasta_id(word: str) -> str:
    """A FASTA record's id from its header's first word: characters outside [A-Za-z0-9_.-] ->
    `_`. Narrower than `atomic.safe_name` (which also keeps +=,@), as it always was: a wider
    rule would rename the maps of existing FASTA ids. File names still go through safe_name."""
    return _NOT_IN_ID.sub("_", word)


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
        rid = fasta_id(rid)
        if rid in seen:
            raise ContactplugError(f"{source}: duplicate record id {rid!r}")
        seen.add(rid)
        got = parse_chains("".join(chunks), f"{source}:{rid}")
        records.append(Record(rid, got) if isinstance(got, str) else replace(got, id=rid))

    # every line ending people's files hold (\r\n Windows, \r classic Mac, U+2028/U+2029),
    # but not str.splitlines': it also breaks at \x85, \x1c.. that Latin-1 text holds
    text = LINE_ENDS.sub("\n", text)
    for lineno, line in enumerate(text.split("\n"), 1):
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


GZIP_MAGIC = b"\x1f\x8b"


def decode_text(data: bytes) -> str:
    """Text as people's files hold it: gzip-compressed or not, UTF-8 with or without a BOM,
    UTF-16 with one, else Latin-1 (every byte decodes; a stray accent in a description line
    is no error)."""
    if data[:2] == GZIP_MAGIC:
        import gzip
        import zlib

        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise OSError(f"damaged gzip data ({exc})") from None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with its BOM (Windows editors)
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.removeprefix(b"\xef\xbb\xbf").decode("latin-1")


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """A text input (`-` is standard input), decoded by `decode_text`; one line on failure."""
    try:
        if str(path) == "-":
            import sys

            return decode_text(sys.stdin.buffer.read())
        return decode_text(Path(path).read_bytes())
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ContactplugError(f"{path}: cannot read {what} ({reason})") from None


def read_fasta(path: str | os.PathLike) -> list[Record]:
    """Records of a FASTA file (gzipped or not; `-` reads standard input)."""
    source = "<stdin>" if str(path) == "-" else str(path)
    return parse_fasta(read_text(path, "FASTA"), source)


def write_fasta(records: list[Record], path: str | os.PathLike, width: int = 60) -> None:
    lines = []
    for rec in records:
        lines.append(f">{rec.id}")
        text = ":".join(rec.chains())  # a complex as ColabFold writes it
        lines += [text[k : k + width] for k in range(0, len(text), width)]
    write_text(path, "\n".join(lines) + "\n")
