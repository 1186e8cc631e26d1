"""Turn command-line inputs (FASTA files, structure files) into queries for the model."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from contactplug.files.errors import ContactplugError
from contactplug.files.sequences import Record, clean_sequence, read_fasta


@dataclass
class Query:
    record: Record
    chain: str | None = None
    resnum: np.ndarray | None = None
    icode: np.ndarray | None = None
    structure: str | None = None

    def schema_fields(self) -> dict:
        """The npz fields a map made from a structure carries (chain, resnum, icode)."""
        if self.chain is None:
            return {}
        return {"chain": self.chain, "resnum": self.resnum, "icode": self.icode}


def from_structure(path: str | os.PathLike, chain: str | None = None) -> Query:
    from contactplug.inputs.structure import read_chain, structure_stem

    ch = read_chain(path, chain)
    stem = structure_stem(path)
    rid = stem if stem.upper().endswith(f"_{ch.name}".upper()) else f"{stem}_{ch.name}"
    seq = clean_sequence(ch.sequence, f"{path}:{ch.name}")
    return Query(Record(rid, seq), ch.name, ch.resnum, ch.icode, str(path))


def read_inputs(paths: list[str], chain: str | None = None) -> list[Query]:
    """FASTA records and structure chains, in the order given; ids must be unique."""
    from contactplug.inputs.structure import is_structure_file

    queries: list[Query] = []
    for path in paths:
        if not os.path.isfile(path):
            raise ContactplugError(f"{path}: no such input file")
        if is_structure_file(path):
            queries.append(from_structure(path, chain))
        else:
            queries.extend(Query(rec) for rec in read_fasta(path))
    seen: set[str] = set()
    for q in queries:
        if q.record.id in seen:
            raise ContactplugError(f"duplicate id {q.record.id!r} across the inputs")
        seen.add(q.record.id)
    return queries
