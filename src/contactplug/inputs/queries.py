"""Turn command-line inputs (FASTA files, structure files, folders of them, `-` for standard
input) into queries for the model."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from contactplug.files.contactmap import ContactMap
from contactplug.files.errors import ContactplugError, arg
from contactplug.files.sequences import (
    Record,
    clean_sequence,
    complex_record,
    parse_fasta,
    read_text,
)

log = logging.getLogger("contactplug")

FASTA_SUFFIX = re.compile(r"\.(fa|fasta|faa|fas|fsa|mfa|seq)(\.gz)?$", re.IGNORECASE)
# first words of PDB records and of mmCIF: how a structure without a telling suffix is known
_STRUCTURE_START = re.compile(
    r"^(HEADER|TITLE|COMPND|REMARK|CRYST1|MODEL|ATOM  |HETATM|SEQRES|EXPDTA|data_)", re.M
)


@dataclass
class Query:
    record: Record
    chain: str | None = None
    resnum: np.ndarray | None = None
    icode: np.ndarray | None = None
    structure: str | None = None
    meta: dict = field(default_factory=dict)  # facts the map's meta carries (chain breaks)

    def schema_fields(self) -> dict:
        """The npz fields a map made from this query carries: chain, resnum, icode from a
        structure; chain_ids and chain_lengths for a complex (its resnum and icode run over
        every chain, in map order)."""
        fields: dict = {}
        if self.record.is_complex:
            fields["chain_ids"] = list(self.record.chain_ids)
            fields["chain_lengths"] = list(self.record.chain_lengths)
        elif self.chain is not None:
            fields["chain"] = self.chain
        if self.resnum is not None:
            fields.update(resnum=self.resnum, icode=self.icode)
        return fields

    def fill(self, cmap: ContactMap) -> ContactMap:
        """The query's fields and meta onto a map made from its record, checked again."""
        for key, value in self.schema_fields().items():
            setattr(cmap, key, value)
        cmap.meta.update(self.meta)
        cmap.__post_init__()
        return cmap


def from_structure(
    path: str | os.PathLike, chain: str | None = None, structure=None, stem: str | None = None
) -> Query:
    from contactplug.inputs.structure import read_chain, structure_stem

    ch = read_chain(path, chain, structure)
    stem = stem or structure_stem(path)
    # a blank chain id (PDB column 22 empty) adds nothing to the id: `blank`, not `blank_`
    named = ch.name.strip() and not stem.upper().endswith(f"_{ch.name}".upper())
    rid = f"{stem}_{ch.name}" if named else stem
    seq = clean_sequence(ch.sequence, f"{path}:{ch.name}")
    meta: dict = {}
    if ch.breaks:
        # the sequence read joins the resolved pieces: the map is of that chimera, so say so
        log.warning(
            "%s chain %s: %s; the sequence read joins the pieces (give the full sequence as "
            "FASTA to predict the whole protein)",
            path,
            ch.name,
            ch.describe_breaks(),
        )
        meta["chain_breaks"] = [b.to_json() for b in ch.breaks]
    if ch.model != 1:
        meta["model_number"] = ch.model
    return Query(Record(rid, seq), ch.name, ch.resnum, ch.icode, str(path), meta)


def parse_chains_option(text: str | None) -> list[str] | str | None:
    """`--chains A,B` (names, in that order) or `--chains all`; None when not given."""
    if text is None:
        return None
    if text.strip().lower() == "all":
        return "all"
    names = [name.strip() for name in text.split(",")]
    if any(not name for name in names):
        raise ContactplugError(
            f"{arg('chains', value=repr(text))}: an empty chain name (write A,B or all)"
        )
    if len(set(names)) != len(names):
        repeat = next(n for n in names if names.count(n) > 1)
        raise ContactplugError(
            f"{arg('chains', value=repr(text))}: chain {repeat!r} is named twice"
        )
    if len(names) < 2:
        raise ContactplugError(
            f"{arg('chains', value=repr(text))}: a complex needs two or more chains "
            f"(for one chain use {arg('chain')})"
        )
    return names


def from_structure_complex(
    path: str | os.PathLike, chains: list[str] | str, structure=None, stem: str | None = None
) -> Query:
    """The named protein chains of a structure (or all of them) as one complex, in that
    order. `all` over a structure of one protein chain falls back to that chain, saying so."""
    from contactplug.inputs.structure import protein_chains, read_structure

    st = structure if structure is not None else read_structure(path)
    names = protein_chains(path, st) if chains == "all" else list(chains)
    if len(names) == 1:
        log.warning("%s: one protein chain (%s); predicted as a single chain", path, names[0])
        return from_structure(path, names[0], st, stem)
    parts = [from_structure(path, name, st, stem) for name in names]
    stem = stem or structure_stem_of(path)
    rec = complex_record(f"{stem}_{'_'.join(names)}", [q.record.sequence for q in parts], names)
    meta: dict = {"chains": names}
    for q in parts:
        if q.meta.get("chain_breaks"):
            meta.setdefault("chain_breaks", []).extend(
                dict(b, chain=q.chain) for b in q.meta["chain_breaks"]
            )
        if "model_number" in q.meta:
            meta["model_number"] = q.meta["model_number"]
    resnum = np.concatenate([q.resnum for q in parts])
    icode = np.concatenate([q.icode for q in parts])
    return Query(rec, None, resnum, icode, str(path), meta)


def structure_stem_of(path: str | os.PathLike) -> str:
    from contactplug.inputs.structure import structure_stem

    return structure_stem(path)


def _is_fasta_text(text: str) -> bool:
    head = text.lstrip()
    return head.startswith((">", ";"))


def _structure_query(path, chain, chains, structure=None, stem=None) -> Query:
    if chains is not None:
        return from_structure_complex(path, chains, structure, stem)
    return from_structure(path, chain, structure, stem)


def _from_stdin(chain: str | None, chains=None) -> list[Query]:
    """Standard input holds FASTA, or a PDB / mmCIF structure."""
    from contactplug.inputs.structure import parse_structure

    text = read_text("-", "standard input")
    if _is_fasta_text(text) or not _STRUCTURE_START.search(text[:100000]):
        return [Query(rec) for rec in parse_fasta(text, "<stdin>")]
    st = parse_structure(text, "<stdin>")
    name = st.name.strip()  # the HEADER's or data_ block's id; gemmi says "string" without one
    stem = name if name not in ("", "string") else "stdin"
    return [_structure_query("<stdin>", chain, chains, st, stem)]


def _from_file(path: Path, chain: str | None, chains=None) -> list[Query]:
    from contactplug.inputs.structure import is_structure_file, parse_structure

    if is_structure_file(path):
        return [_structure_query(path, chain, chains)]
    text = read_text(path, "input")
    if not _is_fasta_text(text) and _STRUCTURE_START.search(text[:100000]):
        return [_structure_query(path, chain, chains, parse_structure(text, str(path)))]
    return [Query(rec) for rec in parse_fasta(text, str(path))]


def expand_folder(folder: Path) -> list[Path]:
    """The FASTA and structure files of a folder, by name; others are left, with a note."""
    from contactplug.inputs.structure import is_structure_file

    files, others = [], []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        (files if is_structure_file(path) or FASTA_SUFFIX.search(path.name) else others).append(
            path
        )
    if not files:
        raise ContactplugError(
            f"{folder}: no FASTA (.fa .fasta .faa ...) or structure (.pdb .cif ..., .gz) files"
        )
    if others:
        log.info("%s: %d files that are neither FASTA nor structures left out", folder, len(others))
    return files


def read_inputs(
    paths: list[str], chain: str | None = None, chains: str | None = None
) -> list[Query]:
    """FASTA records and structure chains, in the order given; ids must be unique.
    chains: `A,B` or `all`, each structure read as one complex of those chains (FASTA
    records are complexes when their sequence holds ':')."""
    if list(paths).count("-") > 1:
        raise ContactplugError("'-' (standard input) is given twice")
    if chain is not None and chains is not None:
        raise ContactplugError(
            f"{arg('chain')} and {arg('chains')} contradict each other: give one"
        )
    wanted = parse_chains_option(chains)
    queries: list[Query] = []
    for given in paths:
        if given == "-":
            queries.extend(_from_stdin(chain, wanted))
            continue
        path = Path(given)
        if path.is_dir():
            for member in expand_folder(path):
                queries.extend(_from_file(member, chain, wanted))
        elif path.is_file():
            queries.extend(_from_file(path, chain, wanted))
        else:
            raise ContactplugError(f"{given}: no such input file")
    seen: set[str] = set()
    for q in queries:
        if q.record.id in seen:
            raise ContactplugError(f"duplicate id {q.record.id!r} across the inputs")
        seen.add(q.record.id)
    return queries


def warn_chain_breaks(queries: list[Query]) -> None:
    """The run's last word on maps of joined chain pieces (each was warned about when read,
    and each map carries `chain_breaks` in its meta)."""
    broken = [q.record.id for q in queries if q.meta.get("chain_breaks")]
    if broken:
        more = f" (+{len(broken) - 10} more)" if len(broken) > 10 else ""
        log.warning(
            "%d of %d maps are of chains with breaks, read as one sequence (meta chain_breaks): %s",
            len(broken),
            len(queries),
            ", ".join(broken[:10]) + more,
        )
