"""The one chain of a structure that a protein is scored against, written as `<id>.cif`.

The pipeline runs this once per protein (`contactplug structure`), so that the evaluation and
the report find the chain by the protein's id whatever the structure file was called, and
score the chain the samplesheet named. Without a chain name, the protein chain that aligns
best to the sequence is taken. Model 1 only; ligands and waters are dropped; author
numbering is kept.
"""

from __future__ import annotations

import os
from pathlib import Path

import gemmi

from contactplug.files.atomic import atomic_path
from contactplug.files.errors import ContactplugError
from contactplug.inputs.structure import align, protein_chains, read_chain


def pick_chain(path: str | os.PathLike, sequence: str, chain: str | None = None) -> str:
    """The named chain (checked against the sequence), else the best-aligned protein chain."""
    names = [chain] if chain else protein_chains(path)
    scored, reasons = [], []
    for name in names:
        found = read_chain(path, name)
        try:
            aligned = int((align(sequence, found.sequence) >= 0).sum())
        except ContactplugError as exc:
            reasons.append(f"chain {name!r}: {exc.marked}")
            continue
        scored.append((aligned, -names.index(name), name))
    if not scored:
        raise ContactplugError(
            f"{path}: the sequence matches no protein chain ({'; '.join(reasons)})"
        )
    return max(scored)[2]


def write_chain(path: str | os.PathLike, chain: str, out: str | os.PathLike) -> Path:
    """Model 1's `chain` of the structure at `path`, alone, as mmCIF at `out` (atomically)."""
    st = gemmi.read_structure(str(path), format=gemmi.CoorFormat.Detect)
    st.setup_entities()
    while len(st) > 1:
        del st[len(st) - 1]
    model = st[0]
    for k in reversed(range(len(model))):
        if model[k].name != chain:
            del model[k]
    st.remove_ligands_and_waters()
    st.remove_empty_chains()
    if not chain.strip():  # a blank chain id cannot be written to mmCIF
        model[0].name = "A"
    st.setup_entities()
    with atomic_path(out) as tmp:
        st.make_mmcif_document().write_file(str(tmp))
    return Path(out)


def write_complex(
    path: str | os.PathLike, chains: list[str], names: list[str], out: str | os.PathLike
) -> Path:
    """Model 1's `chains` of the structure, in that order, renamed `names` (a FASTA complex's
    A, B, ...: the letters its map carries), as mmCIF at `out` (atomically)."""
    st = gemmi.read_structure(str(path), format=gemmi.CoorFormat.Detect)
    st.setup_entities()
    while len(st) > 1:
        del st[len(st) - 1]
    st.remove_ligands_and_waters()
    model = st[0]
    kept = gemmi.Model(model.num)
    for chain, name in zip(chains, names, strict=True):
        found = [ch for ch in model if ch.name == chain]
        if not found:
            raise ContactplugError(f"{path}: no chain {chain!r}")
        copy = found[0].clone()
        copy.name = name
        kept.add_chain(copy)
    del st[0]
    st.add_model(kept)
    st.remove_empty_chains()
    st.setup_entities()
    with atomic_path(out) as tmp:
        st.make_mmcif_document().write_file(str(tmp))
    return Path(out)
