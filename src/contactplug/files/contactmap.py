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
  chain_ids     str C (only for a complex of C >= 2 chains: each chain's name, in map order)
  chain_lengths int32 C (only for a complex: each chain's residues; they sum to L)
  linker    str (only for a complex: how its chains were joined for the model)
  meta      str: JSON with anything else (heads used, batch size, device, dtype, ...)
"""

from __future__ import annotations

import json
import logging
import os
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.lib.npyio import NpzFile

from .atomic import atomic_path, signals_held
from .errors import ContactplugError
from .outputs import OutputFolder
from .sequences import AMBIGUOUS, STANDARD

log = logging.getLogger("contactplug")

SCHEMA_VERSION = 1
# A Jacobian part's file name, exactly: <name>.part<first>-<last>.npz (Q9XYZ1.partial.npz is a map)
PART_FILE = re.compile(r"\.part(\d+)-(\d+)\.npz$")
_LETTERS = set(STANDARD) | AMBIGUOUS
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_id(value: object, where: str = "map") -> str:
    """An id is a non-empty string on one line: it becomes RR TARGET lines, table cells and
    (through `safe_name`) file names."""
    if not isinstance(value, str) or not value.strip():
        raise ContactplugError(f"{where}: the id is empty")
    if _CONTROL.search(value):
        raise ContactplugError(f"{where}: the id {value!r} holds control characters")
    return value


def check_map_sequence(sequence: object, where: str) -> str:
    """The sequence of a map as predict writes it: upper-case one-letter amino acids."""
    if not isinstance(sequence, str) or not sequence:
        raise ContactplugError(f"{where}: empty sequence")
    bad = sorted(set(sequence) - _LETTERS)
    if bad:
        raise ContactplugError(
            f"{where}: sequence holds {''.join(bad)!r}, not upper-case amino-acid letters"
        )
    return sequence


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
    chain_ids: list[str] | None = None
    chain_lengths: list[int] | None = None
    linker: str | None = None

    def __post_init__(self) -> None:
        """Every field checked once, here: maps read from files and maps made in memory alike,
        so no consumer (exporters, plugin, evaluation) meets a malformed one."""
        check_id(self.id)
        where = f"contact map of {self.id!r}"
        check_map_sequence(self.sequence, where)
        try:
            c = np.asarray(self.contacts, dtype=np.float32)
        except (TypeError, ValueError):
            raise ContactplugError(f"{where}: contacts are not numbers") from None
        L = len(self.sequence)
        if c.shape != (L, L):
            raise ContactplugError(f"{where} has shape {c.shape}, expected ({L}, {L})")
        if not np.isfinite(c).all():
            raise ContactplugError(f"{where} has NaN or infinite values")
        self.contacts = c
        for name in ("method", "model"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ContactplugError(f"{where}: {name} is empty")
        if isinstance(self.n_forward, bool) or not isinstance(self.n_forward, (int, np.integer)):
            raise ContactplugError(f"{where}: n_forward {self.n_forward!r} is not an integer")
        if self.n_forward < 0:
            raise ContactplugError(f"{where}: n_forward {self.n_forward} is negative")
        self.n_forward = int(self.n_forward)
        try:
            self.seconds = float(self.seconds)
        except (TypeError, ValueError):
            raise ContactplugError(f"{where}: seconds {self.seconds!r} is not a number") from None
        if not (np.isfinite(self.seconds) and self.seconds >= 0):
            raise ContactplugError(f"{where}: seconds {self.seconds!r} is not a duration")
        if not isinstance(self.meta, dict):
            raise ContactplugError(f"{where}: meta is not a JSON object")
        if self.chain is not None and not isinstance(self.chain, str):
            raise ContactplugError(f"{where}: chain {self.chain!r} is not a name")
        if self.resnum is not None:
            resnum = np.asarray(self.resnum)
            if resnum.dtype.kind not in "iu":
                raise ContactplugError(f"{where}: resnum is not integers")
            self.resnum = resnum.astype(np.int32)
            if self.icode is None:
                self.icode = np.array([""] * L)
            self.icode = np.asarray(self.icode, dtype=str)
            if self.resnum.shape != (L,) or self.icode.shape != (L,):
                raise ContactplugError(f"resnum/icode of {self.id!r} do not match length {L}")
        elif self.icode is not None:
            raise ContactplugError(f"{where}: icode without resnum")
        self._check_chains(where)

    def _check_chains(self, where: str) -> None:
        """A complex's chains: two or more distinct names, lengths that add up to L."""
        if self.chain_ids is None and self.chain_lengths is None:
            if self.linker is not None:
                raise ContactplugError(f"{where}: a linker without chains")
            return
        if self.chain_ids is None or self.chain_lengths is None:
            raise ContactplugError(f"{where}: chain_ids and chain_lengths come together")
        ids = [str(c) for c in np.asarray(self.chain_ids, dtype=str).reshape(-1)]
        lengths = np.asarray(self.chain_lengths).reshape(-1)
        if lengths.dtype.kind not in "iu":
            raise ContactplugError(f"{where}: chain_lengths are not integers")
        if len(ids) != len(lengths) or len(ids) < 2:
            raise ContactplugError(
                f"{where}: {len(ids)} chain ids for {len(lengths)} chain lengths (a complex "
                "has two or more)"
            )
        if any(not c.strip() or _CONTROL.search(c) for c in ids) or len(set(ids)) != len(ids):
            raise ContactplugError(f"{where}: chain ids {ids} are not distinct names")
        if (lengths < 1).any() or int(lengths.sum()) != self.length:
            raise ContactplugError(
                f"{where}: chain lengths {lengths.tolist()} do not add up to {self.length}"
            )
        self.chain_ids, self.chain_lengths = ids, [int(n) for n in lengths]
        if self.linker is not None and not isinstance(self.linker, str):
            raise ContactplugError(f"{where}: linker {self.linker!r} is not a name")

    @property
    def is_complex(self) -> bool:
        return self.chain_lengths is not None

    def chain_index(self) -> np.ndarray:
        """Each position's chain, 0-based in map order (all 0 for a single chain)."""
        if self.chain_lengths is None:
            return np.zeros(self.length, dtype=np.int64)
        return np.repeat(np.arange(len(self.chain_lengths)), self.chain_lengths)

    def chain_spans(self) -> list[tuple[str, int, int]]:
        """(chain name, first, end) per chain, 0-based and end exclusive, in map order."""
        if self.chain_lengths is None:
            return [(self.chain or "A", 0, self.length)]
        ends = np.cumsum([0, *self.chain_lengths])
        return [(c, int(ends[n]), int(ends[n + 1])) for n, c in enumerate(self.chain_ids)]

    def chain_of(self, index: int) -> str:
        """The chain name of a 0-based position ('A' for a single chain without a name)."""
        return self.chain_spans()[int(self.chain_index()[index])][0]

    @property
    def length(self) -> int:
        return len(self.sequence)

    @property
    def key(self) -> tuple[str, str, str]:
        """What makes two maps the same output: the protein (id, sequence) and the method."""
        return (self.id, self.sequence, self.method)

    def pairs(
        self,
        min_sep: int = 6,
        max_sep: int | None = None,
        top: int | None = None,
        kind: str = "intra",
    ) -> list[tuple[int, int, float]]:
        """Pairs (i, j, score) with i < j, 0-based, best first; ties broken by (i, j).

        kind: `intra` (pairs within a chain, min_sep <= j - i <= max_sep), `inter` (pairs
        between chains of a complex; separation does not apply), or `all`: the intra pairs
        ranked, then the inter pairs ranked, each list cut to `top` on its own, since the
        inter-chain block is scored on its own scale (see README, Complexes)."""
        if kind == "all":
            return self.pairs(min_sep, max_sep, top, "intra") + self.pairs(top=top, kind="inter")
        if kind not in ("intra", "inter"):
            raise ContactplugError(f"unknown pair kind {kind!r}; choose intra, inter or all")
        chain = self.chain_index()
        if kind == "inter":
            i, j = np.triu_indices(self.length, k=1)
            keep = chain[i] != chain[j]
        else:
            i, j = np.triu_indices(self.length, k=max(1, min_sep))
            keep = chain[i] == chain[j]
            if max_sep is not None:
                keep &= (j - i) <= max_sep
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

    def arrays(self) -> dict[str, np.ndarray]:
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
        if self.chain_ids is not None:
            arrays["chain_ids"] = np.array(self.chain_ids, dtype=str)
            arrays["chain_lengths"] = np.array(self.chain_lengths, dtype=np.int32)
        if self.linker is not None:
            arrays["linker"] = np.array(self.linker)
        return arrays

    def save(self, path: str | os.PathLike) -> Path:
        """Write to this exact path atomically: a temporary file in the same folder, then rename."""
        path = Path(path)
        atomic_write_npz(path, self.arrays(), compressed=False)
        return path

    def save_in(self, folder: OutputFolder) -> Path:
        """Write as `<safe id>.npz` in a run's output folder (see `files.outputs`)."""
        return write_npz_in(folder, self.id, ".npz", self.arrays(), self.key)


def write_npz(
    path: str | os.PathLike, arrays: dict[str, np.ndarray], compressed: bool = True
) -> None:
    """An npz, zlib-compressed or stored. Maps and Jacobian parts are stored: their float
    noise compresses by ~12 % for ~13 ms a 400-residue map, most of the CLI's writing time.
    np.load reads either kind, so older compressed files still load."""
    with signals_held(), open(path, "wb") as handle:
        (np.savez_compressed if compressed else np.savez)(handle, **arrays)


def atomic_write_npz(path: Path, arrays: dict[str, np.ndarray], compressed: bool = True) -> None:
    with atomic_path(path) as tmp:
        write_npz(tmp, arrays, compressed)


def write_npz_in(
    folder: OutputFolder, name: str, suffix: str, arrays: dict[str, np.ndarray], key
) -> Path:
    """An npz of a map or a Jacobian part, named by its id in a run's folder."""
    return folder.write(
        name, suffix, key, lambda tmp: write_npz(tmp, arrays, False), identify_npz, describe_key
    )


def identify_npz(path: Path) -> tuple | None:
    """(id, sequence, method) of an existing map, plus (start, end) for a Jacobian part (the
    key `compute_part` writes it under), or None when it is not one."""
    try:
        with np.load(path, allow_pickle=False) as data:
            key = (str(data["id"]), str(data["sequence"]), str(data["method"]))
            if "start" in data.files and is_part_file(path):
                key += (int(data["start"]), int(data["end"]))
            return key
    except Exception:  # any unreadable file is simply "not ours": it is kept, never replaced
        return None


def describe_key(key) -> str:
    if not key:
        return "a file that is not a contactplug map"
    pid, sequence, method = key[:3]
    span = f" (positions {key[3] + 1}-{key[4]})" if len(key) == 5 else ""
    return f"the {method} map of {pid!r} ({len(sequence)} residues){span}"


NPZ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


def read_npz(path: str | os.PathLike, skip: tuple[str, ...] = (), what: str = "npz") -> dict:
    """Every array of an npz (but `skip`), read now: a truncated, damaged or pickled file is one
    ContactplugError line here rather than a traceback at first use."""
    path = Path(path)
    if path.is_dir():  # a folder where one file is wanted: say so, not "no such file"
        raise ContactplugError(f"{path}: a folder; give one {what} file (.npz) in it")
    if not path.is_file():
        raise ContactplugError(f"{path}: no such {what} file")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, NpzFile):
            raise ContactplugError(f"{path}: not an .npz file (a bare .npy array)")
        with data:
            return {k: data[k] for k in data.files if k not in skip}
    except ContactplugError:
        raise
    except NPZ_ERRORS as exc:
        raise ContactplugError(f"{path}: {_npz_problem(path, exc)}") from None


def read_npz_member(path: str | os.PathLike, key: str, what: str = "npz") -> np.ndarray:
    """One array of an npz, with the errors of `read_npz`."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return data[key]
    except NPZ_ERRORS as exc:
        raise ContactplugError(f"{path}: {_npz_problem(Path(path), exc)}") from None


def _npz_problem(path: Path, exc: BaseException) -> str:
    try:
        is_zip = zipfile.is_zipfile(path)
    except OSError:
        is_zip = False
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"cannot read ({exc.strerror})"
    if not is_zip:
        return "not an .npz file (or a truncated one)"
    if "allow_pickle" in str(exc):
        return "holds pickled Python objects, which are never loaded (allow_pickle=False)"
    if isinstance(exc, KeyError):
        return f"damaged npz (missing member {exc})"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"damaged npz ({first[:120]})"


def _scalar(data: dict, key: str, kind: type, path: Path, default=None):
    if key not in data:
        return default
    value = data[key]
    if value.shape != ():
        raise ContactplugError(f"{path}: {key} is not a single value (shape {value.shape})")
    if kind is str:
        if value.dtype.kind != "U":
            raise ContactplugError(f"{path}: {key} is not text")
        return str(value)
    if kind is int:
        if value.dtype.kind not in "iu":
            raise ContactplugError(f"{path}: {key} {value.item()!r} is not an integer")
        return int(value)
    if value.dtype.kind not in "iuf":
        raise ContactplugError(f"{path}: {key} {value.item()!r} is not a number")
    return float(value)


def load(path: str | os.PathLike) -> ContactMap:
    """Read one npz of this schema; any problem is one ContactplugError line naming the file."""
    path = Path(path)
    data = read_npz(path, what="contact map")
    missing = {"contacts", "sequence", "id", "method", "model"} - set(data)
    if missing:
        raise ContactplugError(
            f"{path}: not a contactplug map (missing {', '.join(sorted(missing))})"
        )
    version = _scalar(data, "schema_version", int, path, SCHEMA_VERSION)
    if version > SCHEMA_VERSION:
        raise ContactplugError(
            f"{path}: schema version {version} is newer than this contactplug reads "
            f"({SCHEMA_VERSION}); update contactplug"
        )
    meta_text = _scalar(data, "meta", str, path, "{}")
    try:
        meta = json.loads(meta_text)
    except json.JSONDecodeError:
        raise ContactplugError(f"{path}: meta is not JSON ({meta_text[:40]!r})") from None
    if not isinstance(meta, dict):
        raise ContactplugError(f"{path}: meta is not a JSON object")
    contacts = data["contacts"]
    if contacts.dtype.kind not in "iuf":
        raise ContactplugError(f"{path}: contacts are not numbers ({contacts.dtype})")
    for name in ("resnum", "icode", "chain_ids", "chain_lengths"):
        if name in data and data[name].ndim != 1:
            raise ContactplugError(f"{path}: {name} is not one value per residue")
    try:
        return ContactMap(
            contacts=contacts,
            sequence=_scalar(data, "sequence", str, path),
            id=_scalar(data, "id", str, path),
            method=_scalar(data, "method", str, path),
            model=_scalar(data, "model", str, path),
            n_forward=_scalar(data, "n_forward", int, path, 1),
            seconds=_scalar(data, "seconds", float, path, 0.0),
            chain=_scalar(data, "chain", str, path),
            resnum=data.get("resnum"),
            icode=data.get("icode"),
            meta=meta,
            chain_ids=data.get("chain_ids"),
            chain_lengths=data.get("chain_lengths"),
            linker=_scalar(data, "linker", str, path),
        )
    except ContactplugError as exc:
        raise ContactplugError(f"{path}: {exc.marked}") from None


def is_part_file(path: str | os.PathLike) -> bool:
    return PART_FILE.search(Path(path).name) is not None


def map_files(path: str | os.PathLike) -> list[Path]:
    """The map files of a folder (sorted by name; Jacobian parts and hidden files left out),
    its pairs store as `pairs.parquet` (read with its parts: every *.parquet there), or the one
    file."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ContactplugError(f"{path}: no such file or folder")
    found = sorted(p for p in path.glob("*.npz") if not p.name.startswith("."))
    files = [p for p in found if not is_part_file(p)]
    if any(path.glob("*.parquet")) or (path / "pairs.parts").is_dir():
        files.append(path / "pairs.parquet")  # the folder's store: `files.pair_store`
    if not files:
        if found:
            raise ContactplugError(
                f"{path}: only Jacobian parts (*.partA-B.npz) here; run gather-jacobian first"
            )
        raise ContactplugError(f"{path}: no .npz contact maps in this folder")
    return files


def load_dir(path: str | os.PathLike):
    """All maps in a folder (see `map_files`), or the one file given: a list, or with a pairs
    store a `pair_store.Maps` that reads the store as it is iterated (never held whole)."""
    files = map_files(path)
    if any(p.suffix.lower() == ".parquet" for p in files):
        from .pair_store import Maps

        return Maps(files, load, ContactMap)
    return [load(p) for p in files]

