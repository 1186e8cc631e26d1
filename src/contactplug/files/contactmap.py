"""The shared npz schema every method writes and every consumer reads.

Keys (see README "npz schema"):
  contacts  float32 L x L, symmetric, diagonal 0 (higher = more likely in contact)
  sequence  str, L residues (one-letter, upper case)
  id        str
  method    str: attention | esm-head | all-heads | jacobian | jacobian-fast | repr-jacobian ...
  model     str: model name or path
  n_forward int: forward passes spent on this map
  seconds   float: wall time spent on this map
  chain     str (only when the input was a structure)
  resnum    int32 L (only when the input was a structure; author residue numbers)
  icode     str L  (only when the input was a structure; insertion codes, '' when none)
  meta      str: JSON with anything else (heads used, batch size, device, dtype, ...)
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .errors import ContactplugError

SCHEMA_VERSION = 1


@dataclass
class ContactMap:
    contacts: np.ndarray
    sequence: str
    id: str
    method: str
    model: str
    n_forward: int = 1
    seconds: float = 0.0
    chain: str | None = None
    resnum: np.ndarray | None = None
    icode: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        c = np.asarray(self.contacts, dtype=np.float32)
        L = len(self.sequence)
        if c.shape != (L, L):
            raise ContactplugError(
                f"contact map of {self.id!r} has shape {c.shape}, expected ({L}, {L})"
            )
        if not np.isfinite(c).all():
            raise ContactplugError(f"contact map of {self.id!r} has NaN or infinite values")
        self.contacts = c
        if self.resnum is not None:
            self.resnum = np.asarray(self.resnum, dtype=np.int32)
            if self.icode is None:
                self.icode = np.array([""] * L)
            self.icode = np.asarray(self.icode, dtype=str)
            if len(self.resnum) != L or len(self.icode) != L:
                raise ContactplugError(f"resnum/icode of {self.id!r} do not match length {L}")

    @property
    def length(self) -> int:
        return len(self.sequence)

    def pairs(
        self,
        min_sep: int = 6,
        max_sep: int | None = None,
        top: int | None = None,
    ) -> list[tuple[int, int, float]]:
        """Pairs (i, j, score) with i < j, 0-based, best first; ties broken by (i, j)."""
        i, j = np.triu_indices(self.length, k=max(1, min_sep))
        if max_sep is not None:
            keep = (j - i) <= max_sep
            i, j = i[keep], j[keep]
        scores = self.contacts[i, j]
        order = np.lexsort((j, i, -scores))
        if top is not None:
            order = order[:top]
        return [(int(i[k]), int(j[k]), float(scores[k])) for k in order]

    def label(self, index: int) -> str:
        """Author label of a 0-based position (resnum+icode) or its 1-based index."""
        if self.resnum is None:
            return str(index + 1)
        return f"{self.resnum[index]}{self.icode[index]}".strip()

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically: a temporary file in the same folder, then rename."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {
            "contacts": self.contacts,
            "sequence": np.array(self.sequence),
            "id": np.array(self.id),
            "method": np.array(self.method),
            "model": np.array(self.model),
            "n_forward": np.array(int(self.n_forward), dtype=np.int64),
            "seconds": np.array(float(self.seconds), dtype=np.float64),
            "schema_version": np.array(SCHEMA_VERSION),
            "meta": np.array(json.dumps(self.meta, sort_keys=True, default=str)),
        }
        if self.chain is not None:
            arrays["chain"] = np.array(self.chain)
        if self.resnum is not None:
            arrays["resnum"] = self.resnum
            arrays["icode"] = self.icode
        atomic_write_npz(path, arrays)
        return path


def atomic_write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def load(path: str | os.PathLike) -> ContactMap:
    """Read one npz of this schema; any problem is one ContactplugError line."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = {"contacts", "sequence", "id", "method", "model"} - set(data.files)
            if missing:
                raise ContactplugError(
                    f"{path}: not a contactplug map (missing {', '.join(sorted(missing))})"
                )
            get = {k: data[k] for k in data.files}
    except ContactplugError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        if not zipfile.is_zipfile(path):
            raise ContactplugError(f"{path}: not an .npz file") from None
        raise ContactplugError(f"{path}: cannot read npz ({exc})") from None
    return ContactMap(
        contacts=get["contacts"],
        sequence=str(get["sequence"]),
        id=str(get["id"]),
        method=str(get["method"]),
        model=str(get["model"]),
        n_forward=int(get.get("n_forward", 1)),
        seconds=float(get.get("seconds", 0.0)),
        chain=str(get["chain"]) if "chain" in get else None,
        resnum=get.get("resnum"),
        icode=get.get("icode"),
        meta=json.loads(str(get["meta"])) if "meta" in get else {},
    )


def load_dir(path: str | os.PathLike) -> list[ContactMap]:
    """All maps in a folder (sorted by file name), or the one file given."""
    path = Path(path)
    if path.is_file():
        return [load(path)]
    if not path.is_dir():
        raise ContactplugError(f"{path}: no such file or folder")
    files = sorted(p for p in path.glob("*.npz") if ".part" not in p.name)
    if not files:
        raise ContactplugError(f"{path}: no .npz contact maps in this folder")
    return [load(p) for p in files]


def symmetrize(x: np.ndarray) -> np.ndarray:
    return 0.5 * (x + np.swapaxes(x, -1, -2))


def apc(x: np.ndarray) -> np.ndarray:
    """Average product correction over the last two axes."""
    a1 = x.sum(-1, keepdims=True)
    a2 = x.sum(-2, keepdims=True)
    total = x.sum((-1, -2), keepdims=True)
    return x - a1 * a2 / np.where(total == 0, 1, total)


def zero_diagonal(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    idx = np.arange(x.shape[-1])
    x[..., idx, idx] = 0
    return x
