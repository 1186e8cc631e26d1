"""Contact files for the plugin, read by the core's torch-free layer (`contactplug.files`).

PyMOL builds without torch (Incentive PyMOL, conda PyMOL) may not import the contactplug core;
then the copy of that layer carried with the plugin is used: `_files` is a link to
src/contactplug/files in the repository, and a copy of it in the Plugin Manager zip
(plugin/build_zip.py). Either way the plugin has no reader of its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from pymol import CmdException

try:
    from contactplug.files import contactmap, rr, specs
    from contactplug.files.errors import ContactplugError
except ImportError:  # PyMOL's Python without the core: the copy carried with the plugin
    from ._files import contactmap, rr, specs
    from ._files.errors import ContactplugError


@dataclass
class Prediction:
    """Candidate pairs (0-based i < j, score), best first, with what is known about them."""

    i: np.ndarray
    j: np.ndarray
    score: np.ndarray
    length: int
    sequence: str | None = None
    id: str = ""
    method: str = ""
    model: str = ""
    seconds: float = 0.0
    chain: str | None = None
    resnum: np.ndarray | None = None
    icode: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def pairs(
        self, min_sep: int = 6, max_sep: int | None = None, top: int | None = None
    ) -> list[tuple[int, int, float]]:
        sep = self.j - self.i
        keep = sep >= min_sep
        if max_sep is not None:
            keep &= sep <= max_sep
        idx = np.flatnonzero(keep)
        if top is not None:
            idx = idx[:top]
        return [(int(self.i[k]), int(self.j[k]), float(self.score[k])) for k in idx]


def sorted_pairs(i: np.ndarray, j: np.ndarray, score: np.ndarray):
    """Best first; ties broken by (i, j), as ContactMap.pairs does."""
    order = np.lexsort((j, i, -score))
    return i[order], j[order], score[order]


def from_matrix(contacts: np.ndarray, **meta) -> Prediction:
    c = np.asarray(contacts, dtype=np.float32)
    i, j = np.triu_indices(c.shape[0], k=1)
    i, j, s = sorted_pairs(i, j, c[i, j])
    return Prediction(i=i, j=j, score=s, length=c.shape[0], **meta)


def _error(exc: Exception) -> CmdException:
    return CmdException(str(exc))


def read_npz(path: str | os.PathLike) -> Prediction:
    """One contactplug npz, read and checked by the core's reader (`files.contactmap.load`)."""
    try:
        cmap = contactmap.load(path)
    except ContactplugError as exc:
        raise _error(exc) from None
    return from_matrix(
        cmap.contacts,
        sequence=cmap.sequence,
        id=cmap.id,
        method=cmap.method,
        model=cmap.model,
        seconds=cmap.seconds,
        chain=cmap.chain,
        resnum=cmap.resnum,
        icode=cmap.icode,
        meta=cmap.meta,
    )


def read_rr(path: str | os.PathLike) -> Prediction:
    """A CASP RR file (1-based pairs, read by `files.rr`) as 0-based candidate pairs."""
    try:
        sequence, pairs = rr.read_rr(path)
    except ContactplugError as exc:
        raise _error(exc) from None
    if not pairs:
        raise CmdException(f"{path}: no contacts in this RR file")
    seen: dict[tuple[int, int], float] = {}
    for a, b, p in pairs:
        seen.setdefault((a - 1, b - 1), p)  # first of repeated pairs wins
    ij = np.array(list(seen), dtype=np.int64)
    s = np.array(list(seen.values()), dtype=np.float64)
    i, j, s = sorted_pairs(ij[:, 0], ij[:, 1], s)
    length = len(sequence) if sequence else int(j.max()) + 1
    stem = os.path.splitext(os.path.basename(str(path)))[0]
    return Prediction(i=i, j=j, score=s, length=length, sequence=sequence, id=stem, method="rr")


def read_contacts(path: str | os.PathLike) -> Prediction:
    path = os.path.expanduser(str(path))
    if not os.path.isfile(path):
        raise CmdException(f"{path}: no such file")
    if path.lower().endswith(".npz"):
        return read_npz(path)
    return read_rr(path)


def parse_top(top, length: int) -> int | None:
    """A count, L, L/2, L/5 (any L/k), or all (None), in PyMOL's argument words."""
    try:
        return specs.parse_top(top, length, option="top=")
    except ContactplugError as exc:
        raise _error(exc) from None


def parse_min_sep(min_sep) -> tuple[int, int | None]:
    """A minimum separation, a range A-B, or a range word: short, medium, long."""
    try:
        return specs.parse_sep(min_sep, option="min_sep=")
    except ContactplugError as exc:
        raise _error(exc) from None
