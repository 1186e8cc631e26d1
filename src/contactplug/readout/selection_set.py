"""The labelled proteins shipped with the package for head ranking and calibration.

`data/selection_set.npz` holds, per protein, its sequence and the upper triangles of its
true-contact and resolved-pair matrices (Cb-Cb < 8 A, virtual Cb for Gly), bit-packed.
It is built from public PDB structures by `scripts/build_selection_set.py`.
Proteins are split deterministically: every fourth (by id) is held out, so head rankings
and calibrations are fitted on one part and judged on the other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from contactplug.files.contactmap import atomic_write_npz

HELD_OUT_EVERY = 4


@dataclass(frozen=True)
class LabelledProtein:
    id: str
    sequence: str
    contacts: np.ndarray  # L x L bool
    valid: np.ndarray  # L x L bool: both residues resolved


def _pack(matrix: np.ndarray) -> np.ndarray:
    return np.packbits(matrix[np.triu_indices(len(matrix), 1)])


def _unpack(bits: np.ndarray, length: int) -> np.ndarray:
    iu = np.triu_indices(length, 1)
    out = np.zeros((length, length), dtype=bool)
    out[iu] = np.unpackbits(bits, count=len(iu[0])).astype(bool)
    return out | out.T


def default_path() -> Path:
    return Path(str(resources.files("contactplug") / "data" / "selection_set.npz"))


def load(path: str | os.PathLike | None = None) -> list[LabelledProtein]:
    with np.load(path or default_path(), allow_pickle=False) as data:
        ids, seqs = data["ids"], data["sequences"]
        out = []
        for n, (pid, seq) in enumerate(zip(ids, seqs, strict=True)):
            length = len(str(seq))
            out.append(
                LabelledProtein(
                    str(pid),
                    str(seq),
                    _unpack(data[f"contacts_{n}"], length),
                    _unpack(data[f"valid_{n}"], length),
                )
            )
    return out


def split(proteins: list[LabelledProtein]) -> tuple[list[LabelledProtein], list[LabelledProtein]]:
    """(fit, held_out): every HELD_OUT_EVERY-th protein by sorted id is held out."""
    ordered = sorted(proteins, key=lambda p: p.id)
    held = [p for n, p in enumerate(ordered) if n % HELD_OUT_EVERY == HELD_OUT_EVERY - 1]
    fit = [p for n, p in enumerate(ordered) if n % HELD_OUT_EVERY != HELD_OUT_EVERY - 1]
    return fit, held


def build(structure_files: list[str | os.PathLike], out: str | os.PathLike) -> int:
    """Write a selection set from structures (each file's first protein chain, its own
    sequence as the query)."""
    from contactplug.inputs.structure import read_chain, structure_stem, true_contacts

    arrays: dict[str, np.ndarray] = {}
    ids, seqs = [], []
    for n, path in enumerate(sorted(map(str, structure_files))):
        chain = read_chain(path)
        contacts, valid = true_contacts(chain.sequence, chain)
        ids.append(structure_stem(path))
        seqs.append(chain.sequence)
        arrays[f"contacts_{n}"] = _pack(contacts)
        arrays[f"valid_{n}"] = _pack(valid)
    arrays["ids"] = np.array(ids)
    arrays["sequences"] = np.array(seqs)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_npz(out, arrays)
    return len(ids)
