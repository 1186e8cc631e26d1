"""Maps over chains of PyMOL's shipped 1tii.pdb (heat-labile enterotoxin IIb: the A subunit as
chains A and C, the B pentamer as five identical chains D-H), built from the structure itself
so that tests know the truth they are scored against."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pymol

from contactplug.files.contactmap import ContactMap
from contactplug.inputs.structure import Chain, read_chain

TII = Path(pymol.__file__).parent / "pymol_path" / "data" / "demo" / "1tii.pdb"


def chains(*names: str) -> list[Chain]:
    return [read_chain(TII, n) for n in names]


def distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cβ-Cβ distances written out here, independently of the code under test."""
    return np.linalg.norm(x[:, None, :] - y[None, :, :], axis=-1)


def complex_map(
    names: str,
    scores: np.ndarray | None = None,
    map_id: str = "1tii",
    chain_ids: list[str] | None = None,
    method: str = "attention",
    seed: int = 0,
) -> ContactMap:
    """A complex map over the named 1tii chains; default scores: seeded noise."""
    found = chains(*names)
    n = sum(len(c.sequence) for c in found)
    if scores is None:
        scores = np.random.default_rng(seed).random((n, n))
    scores = (scores + scores.T) / 2
    np.fill_diagonal(scores, 0)
    return ContactMap(
        contacts=scores.astype(np.float32),
        sequence="".join(c.sequence for c in found),
        id=map_id,
        method=method,
        model="test",
        chain_ids=chain_ids or list(names),
        chain_lengths=[len(c.sequence) for c in found],
    )


def single_map(name: str, scores: np.ndarray, map_id: str | None = None) -> ContactMap:
    [found] = chains(name)
    scores = (scores + scores.T) / 2
    np.fill_diagonal(scores, 0)
    return ContactMap(
        contacts=scores.astype(np.float32),
        sequence=found.sequence,
        id=map_id or f"1tii_{name}",
        method="attention",
        model="test",
        chain=name,
    )


def distance_map(name: str) -> ContactMap:
    """A single chain's map scored by closeness in its own structure (minus the distance)."""
    [c] = chains(name)
    return single_map(name, np.nan_to_num(-distances(c.cb, c.cb), nan=-100.0))


def other_method(cmap: ContactMap, method: str, seed: int, seconds: float) -> ContactMap:
    """The same protein under another method's name: noise added, slower."""
    noise = np.random.default_rng(seed).random(cmap.contacts.shape).astype(np.float32) * 30
    scores = cmap.contacts + noise
    fields = dict(cmap.__dict__, contacts=(scores + scores.T) / 2, method=method, seconds=seconds)
    return ContactMap(**fields)
