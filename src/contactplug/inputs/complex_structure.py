"""A complex map's multi-chain structure: the file found by the map's id, each map chain read
from the structure chain of its name (or of the name `--chain` gives it) and aligned to it,
and the coordinates over the map's joined positions that true contacts are computed from.

A map chain whose name the structure lacks, or whose sequence does not match the structure
chain of that name, is one line naming what the structure holds and which of its chains the
sequence does match, with the way out (`--chain`, the structure's chains in map order).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import gemmi
import numpy as np

from contactplug.files.contactmap import ContactMap
from contactplug.files.errors import ContactplugError, arg
from contactplug.inputs.structure import (
    Chain,
    align,
    protein_chains,
    query_coords,
    read_chain,
    read_structure,
)

# what may join a structure's stem to the chain letters in a complex map's id: 1TII_A_C,
# 1TII_AC, 1TII.A-C, 1TII:A+C
_CHAIN_TAIL = re.compile(r"^(.+?)([_.:\-+,][A-Za-z0-9]{1,4})$")


@dataclass
class ComplexChains:
    """The structure chains a complex map is scored against, in map order."""

    path: Path
    names: list[str]  # structure chain per map chain
    found: list[Chain]
    mappings: list[np.ndarray]  # per map chain: its positions -> structure residue (or -1)

    def coords(self, atom: str = "CB") -> np.ndarray:
        """Coordinates over the map's joined positions (sum of L x 3), NaN where unaligned."""
        return np.concatenate(
            [query_coords(c, m, atom) for c, m in zip(self.found, self.mappings, strict=True)]
        )

    def aligned(self) -> list[int]:
        return [int((m >= 0).sum()) for m in self.mappings]


def match_complex_structure(map_id: str, index: dict[str, Path]) -> Path | None:
    """The structure file for a complex map's id: `1TII` -> 1TII.pdb; `1TII_A_C`, `1TII_AC`
    or `1TII.A-C` -> 1TII_A_C.pdb if there is one, else 1TII.pdb (chain tails stripped one
    at a time, the longest stem that names a file wins)."""
    key = map_id.lower()
    while True:
        if key in index:
            return index[key]
        m = _CHAIN_TAIL.match(key)
        if not m:
            return None
        key = m.group(1)


def chain_names(cmap: ContactMap, chains: str | None) -> list[str]:
    """The structure chain for each map chain: the map's own names, or `--chain A,C` (the
    structure's chains in map order)."""
    if not chains:
        return list(cmap.chain_ids)
    names = [c.strip() for c in chains.split(",")]
    if len(names) != len(cmap.chain_ids) or not all(names):
        raise ContactplugError(
            f"{cmap.id}: {arg('chain', value=repr(chains))} names {len(names)} chain(s) for a "
            "complex of "
            f"{len(cmap.chain_ids)} ({', '.join(cmap.chain_ids)}); give one structure chain per "
            "map chain, comma-separated, in map order"
        )
    if len(set(names)) != len(names):
        raise ContactplugError(f"{cmap.id}: {arg('chain', value=repr(chains))} names a chain twice")
    return names


def read_complex_chains(
    cmap: ContactMap, path: str | os.PathLike, chains: str | None = None
) -> ComplexChains:
    """Each map chain read from its structure chain and aligned to it; bad names or letters
    that disagree are one ContactplugError line."""
    path = Path(path)
    names = chain_names(cmap, chains)
    st = read_structure(path)
    present = protein_chains(path)
    where = f"{cmap.id} vs {path.name}"
    spans = {label: (first, end) for label, first, end in cmap.chain_spans()}
    for label, name in zip(cmap.chain_ids, names, strict=True):
        if name not in present:
            first, end = spans[label]
            raise ContactplugError(
                _absent(where, name, cmap.sequence[first:end], path, st, present)
            )
    found, mappings = [], []
    for (label, first, end), name in zip(cmap.chain_spans(), names, strict=True):
        chain = read_chain(path, name, structure=st)
        try:
            mappings.append(align(cmap.sequence[first:end], chain.sequence))
        except ContactplugError:
            raise ContactplugError(
                _disagree(where, label, name, cmap.sequence[first:end], path, st, present)
            ) from None
        found.append(chain)
    return ComplexChains(path, names, found, mappings)


def _matching(seq: str, path: Path, st: gemmi.Structure, chains: list[str]) -> list[str]:
    """The chains among `chains` whose sequence the map chain's sequence aligns to."""
    fits = []
    for other in chains:
        try:
            align(seq, read_chain(path, other, structure=st).sequence)
        except ContactplugError:
            continue
        fits.append(other)
    return fits


def _hint(fits: list[str]) -> str:
    return f"its sequence matches chain {' or '.join(repr(f) for f in fits[:3])} there; "


def _absent(
    where: str, name: str, seq: str, path: Path, st: gemmi.Structure, present: list[str]
) -> str:
    """A map chain the structure lacks: letters that disagree when another chain matches."""
    fits = _matching(seq, path, st, present)
    way_out = f"{arg('chain')} names the structure's chains in map order"
    if fits:
        return (
            f"{where}: chain letters disagree: the map's chain {name!r} is not in the "
            f"structure; {_hint(fits)}{way_out}"
        )
    listed = ", ".join(repr(n) for n in present)
    return (
        f"{where}: the map's chain {name!r} is not a protein chain of the structure (protein "
        f"chains there: {listed}) and its sequence matches none of them; {way_out}"
    )


def _disagree(
    where: str, label: str, name: str, seq: str, path: Path, st: gemmi.Structure, present: list[str]
) -> str:
    """The chain letters disagree: say which structure chains the map chain does match."""
    fits = _matching(seq, path, st, [c for c in present if c != name])
    hint = _hint(fits) if fits else "its sequence matches no chain there; "
    return (
        f"{where}: chain letters disagree: the map's chain {label!r} ({len(seq)} residues) "
        f"does not match the structure's chain {name!r}; {hint}{arg('chain')} names the "
        "structure's chains in map order"
    )
