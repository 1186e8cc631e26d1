"""The compact store of many proteins' best pairs: `OUT/pairs.parquet` (`predict --store pairs`).

One row per kept pair, best first within each protein, ids in run order:

  id        str    the protein
  i, j      int32  0-based positions, i < j (as in the npz); null for a protein with no pair
  score     float32 the map's score
  prob      float32 calibrated P(contact) from the full map at predict time; null without one
  method, model  str; length int32
  sequence  str    the protein's first row only (null on the others)
  map_info  str    JSON, first row only: n_forward, seconds, chain, resnum, icode, meta (and
                   a complex's chain_ids, chain_lengths, linker)

Why Parquet through pyarrow: pandas, Polars and DuckDB read the file as it is; its
ParquetWriter appends row groups one at a time, so a run holds only the proteins not yet
written, and a reader takes one row group at a time (`iter_proteins`), so neither side grows
with the proteome. fastparquet needs pandas frames for every write, and Polars and DuckDB write
a frame held whole.

A Parquet file is whole only once its footer is written, so a run writes its pairs as parts,
`OUT/pairs.parts/*.parquet` (each a complete file of one row group, moved into place
atomically every FLUSH_ROWS rows or FLUSH_SECONDS seconds), and at its end streams the old
store and the parts into a new `pairs.parquet` (temp file, then rename). A SIGKILL loses only
the proteins of the part being filled; a rerun finds the parts and counts them as done.
A protein never spans two row groups. pyarrow is imported only in the functions that need it:
the PyMOL plugin's copy of this layer imports with numpy alone.

A store can also stay in parts: `predict --part NAME` ends its run as `OUT/NAME.parquet`
instead (the pipeline's attention tasks, one part per batch). A folder's store is every
`*.parquet` in it and in `pairs.parts/`, read one row group at a time as one dataset, with no
merge; a protein found in two of its files is refused (`Maps`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import ensure_folder, remove_stale_temps, temp_beside
from .errors import ContactplugError, Message, arg
from .pair_maps import COMPLEX_FIELDS, contact_map_fields, first_rows, split_row_group
from .specs import parse_top

log = logging.getLogger("contactplug")

STORE_NAME = "pairs.parquet"
PARTS_NAME = "pairs.parts"
VERSION = 1
FLUSH_ROWS = 1 << 20  # ~20 MB of pairs in memory at most
# at most this much work lost to a SIGKILL ($CONTACTPLUG_FLUSH_SECONDS: tests kill sooner)
FLUSH_SECONDS = float(os.environ.get("CONTACTPLUG_FLUSH_SECONDS") or 10.0)
_META_KEY = b"contactplug.pairs"


def require_pyarrow():
    _arrow()


def _arrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ContactplugError(
            "reading or writing pairs.parquet needs pyarrow (pip install pyarrow)"
        ) from None
    return pa, pq


def schema(info: dict):
    pa, _ = _arrow()
    fields = [
        ("id", pa.string()),
        ("i", pa.int32()),
        ("j", pa.int32()),
        ("score", pa.float32()),
        ("prob", pa.float32()),
        ("method", pa.string()),
        ("model", pa.string()),
        ("length", pa.int32()),
        ("sequence", pa.string()),
        ("map_info", pa.string()),
    ]
    return pa.schema(fields, metadata={_META_KEY: json.dumps(info, sort_keys=True).encode()})


def store_files(path: str | os.PathLike) -> list[Path]:
    """The files of a store, given its folder or its `pairs.parquet`: `pairs.parquet`, the
    folder's other `*.parquet` (named parts, `predict --part`) and an unfinished run's parts;
    another .parquet file given: just it; [] when none."""
    path = Path(path)
    if path.name != STORE_NAME and path.suffix.lower() == ".parquet":
        return [path] if path.is_file() else []
    folder = path.parent if path.name == STORE_NAME else path
    found = [folder / STORE_NAME] if (folder / STORE_NAME).is_file() else []
    named = folder.glob("*.parquet") if folder.is_dir() else []
    found += sorted(p for p in named if p.name != STORE_NAME and _visible_file(p))
    return found + _run_parts(folder)


def _visible_file(path: Path) -> bool:
    return not path.name.startswith(".") and path.is_file()  # temp files are hidden


def _run_parts(folder: Path) -> list[Path]:
    """The parts a run writes as it goes (`pairs.parts/`), merged when it ends."""
    parts = folder / PARTS_NAME
    return sorted(p for p in parts.glob("*.parquet") if _visible_file(p)) if parts.is_dir() else []


def is_store(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() == ".parquet"


def _open(path: Path):
    _, pq = _arrow()
    try:
        handle = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise ContactplugError(f"{path}: not a readable Parquet file ({exc})") from None
    raw = (handle.schema_arrow.metadata or {}).get(_META_KEY)
    if raw is None:
        raise ContactplugError(f"{path}: a Parquet file, but not a contactplug pairs store")
    info = json.loads(raw)
    if info.get("version", 0) > VERSION:
        raise ContactplugError(f"{path}: pairs store version {info['version']}; update contactplug")
    handle.contactplug = info
    return handle


def store_info(path: str | os.PathLike) -> dict | None:
    """The settings a store was made with (its first file's), or None when there is none."""
    files = store_files(path)
    return _open(files[0]).contactplug if files else None


def _groups(path: str | os.PathLike) -> Iterator[tuple[Path, object, int]]:
    """(file, its ParquetFile, row group) over every file of a store."""
    for file in store_files(path):
        handle = _open(file)
        for group in range(handle.num_row_groups):
            yield file, handle, group


def stored_proteins(path: str | os.PathLike) -> dict[str, str]:
    """id -> sequence of every protein in a store, two columns of one row group at a time."""
    found: dict[str, str] = {}
    for _, handle, group in _groups(path):
        table = handle.read_row_group(group, columns=["id", "sequence"])
        firsts = first_rows(table)
        ids = table.column("id").take(firsts).to_pylist()
        found.update(zip(ids, table.column("sequence").take(firsts).to_pylist(), strict=True))
    return found


def _holders(stores: list[Path]) -> dict[str, Path]:
    """id -> the file that holds it, over the files of the stores (their id columns only). An
    id in two files is refused: a protein is stored once, and two parts holding it mean one is
    left from an earlier run (a pipeline rerun whose batches differed: the old part stays)."""
    holder: dict[str, Path] = {}
    for store in stores:
        for file, handle, group in _groups(store):
            table = handle.read_row_group(group, columns=["id", "sequence"])
            for pid in table.column("id").take(first_rows(table)).to_pylist():
                first = holder.setdefault(pid, file)
                if first != file:
                    raise ContactplugError(
                        f"{pid!r} is stored twice, in {first} and in {file}; a protein is "
                        "stored once: remove the part left from an earlier run"
                    )
    return holder


def iter_proteins(path: str | os.PathLike, wanted: set[str] | None = None) -> Iterator[dict]:
    """Each protein of a store as a dict (i, j, score, prob as numpy arrays), one row group in
    memory at a time; `wanted`: only these ids (other row groups are not read whole)."""
    for file, handle, group in _groups(path):
        if wanted is not None:
            table = handle.read_row_group(group, columns=["id", "sequence"])
            if not wanted & set(table.column("id").take(first_rows(table)).to_pylist()):
                continue
        yield from split_row_group(handle.read_row_group(group), wanted, file)


def best_pairs(cmap: Any, keep: str, min_sep: int) -> tuple[np.ndarray, ...]:
    """(i, j, score) of the best `keep` pairs with j - i >= min_sep, best first, ties by (i, j)
    as `ContactMap.pairs`. Rows are scanned in blocks with a running best set, so a titin-sized
    map needs no index arrays of all its L^2/2 pairs."""
    contacts = cmap.contacts
    L = contacts.shape[0]
    sep = max(1, min_sep)
    n = parse_top(keep, L, "keep")
    n = max(0, L * (L - 1) // 2) if n is None else n
    best_i, best_j, best_s = (np.empty(0, np.int64),) * 2 + (np.empty(0, np.float32),)
    rows = max(1, (1 << 22) // max(L, 1))
    for r0 in range(0, max(L - sep, 0), rows):
        r1 = min(r0 + rows, L - sep)
        block = contacts[r0:r1]
        ii, jj = np.nonzero(np.arange(L)[None, :] - np.arange(r0, r1)[:, None] >= sep)
        scores = block[ii, jj]
        ii = ii + r0
        best_i, best_j = np.concatenate([best_i, ii]), np.concatenate([best_j, jj])
        best_s = np.concatenate([best_s, scores])
        if best_s.size > n:
            cut = np.partition(-best_s, n - 1)[n - 1] if n else np.inf
            keep_mask = -best_s <= cut  # ties at the cut all kept; cut again by order below
            best_i, best_j, best_s = best_i[keep_mask], best_j[keep_mask], best_s[keep_mask]
        if best_s.size > 2 * n:  # many ties (a flat map): cut exactly, by (score, i, j)
            order = np.lexsort((best_j, best_i, -best_s))[:n]
            best_i, best_j, best_s = best_i[order], best_j[order], best_s[order]
    order = np.lexsort((best_j, best_i, -best_s))[:n]
    return best_i[order], best_j[order], best_s[order]


class PairStoreWriter:
    """Streams proteins' best pairs into `folder/pairs.parts/`, and at `close` into
    `folder/pairs.parquet` with the store that was there (see the module docstring); with
    `part`, into `folder/<part>.parquet` and what that file held, the folder's others untouched."""

    def __init__(self, folder: str | os.PathLike, info: dict, part: str | None = None):
        self.folder = Path(folder)
        self.target = f"{part}.parquet" if part else STORE_NAME
        self.info = {**info, "version": VERSION}
        self.schema = schema(self.info)
        self.parts = self.folder / PARTS_NAME
        self.rows: dict[str, list] = {name: [] for name in self.schema.names}
        self.since = time.monotonic()
        self.written = 0

    def add(self, cmap: Any, pairs: tuple[np.ndarray, ...], probs: np.ndarray | None) -> None:
        """One protein: its kept pairs (i, j, score from `best_pairs`) and their P or None."""
        i, j, score = pairs
        n = max(1, len(i))  # a protein with no pair still has its row: it is done
        info = {
            "n_forward": cmap.n_forward,
            "seconds": cmap.seconds,
            "chain": cmap.chain,
            "resnum": None if cmap.resnum is None else cmap.resnum.tolist(),
            "icode": None if cmap.icode is None else cmap.icode.tolist(),
            "meta": cmap.meta,
        }
        for name in COMPLEX_FIELDS:  # a complex's chains, when the map has them
            if getattr(cmap, name, None) is not None:
                info[name] = getattr(cmap, name)
        rows = self.rows
        rows["id"] += [cmap.id] * n
        rows["i"] += i.tolist() if len(i) else [None]
        rows["j"] += j.tolist() if len(i) else [None]
        rows["score"] += score.tolist() if len(i) else [None]
        p = probs.tolist() if probs is not None and len(i) else [None] * n
        rows["prob"] += p
        rows["method"] += [cmap.method] * n
        rows["model"] += [cmap.model] * n
        rows["length"] += [cmap.length] * n
        rows["sequence"] += [cmap.sequence] + [None] * (n - 1)
        text = json.dumps(info, sort_keys=True, default=str)
        rows["map_info"] += [text] + [None] * (n - 1)
        if len(rows["id"]) >= FLUSH_ROWS or time.monotonic() - self.since >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> Path | None:
        """The buffered proteins as one part file, moved into place whole."""
        self.since = time.monotonic()
        if not self.rows["id"]:
            return None
        pa, pq = _arrow()
        table = pa.table(self.rows, schema=self.schema)
        target = self.parts / f"part-{time.time_ns():020d}-{os.getpid()}.parquet"
        ensure_folder(self.parts)
        with temp_beside(target) as tmp:
            # one row group, whatever its size: pyarrow would cut at 2^20 rows, mid-protein
            pq.write_table(table, tmp, row_group_size=table.num_rows, compression="zstd")
            os.replace(tmp, target)
        self.written += len(set(self.rows["id"]))
        self.rows = {name: [] for name in self.schema.names}
        return target

    def close(self) -> Path:
        """Flush, then the old store (or part) and every run part streamed into a new one, one
        row group at a time; the run parts are removed once it is in place."""
        self.flush()
        if not _run_parts(self.folder):
            return self.folder / self.target  # nothing new: the store is left as it is
        return compact(self.folder, self.schema, self.target)


def compact(folder: Path, table_schema=None, name: str = STORE_NAME) -> Path:
    """`name` (`pairs.parquet`) and `pairs.parts/*` into one `name`, row group by row group."""
    _, pq = _arrow()
    target = folder / name
    sources = ([target] if target.is_file() else []) + _run_parts(folder)
    if table_schema is None:
        table_schema = _open(sources[0]).schema_arrow
    with temp_beside(target) as tmp:
        with pq.ParquetWriter(tmp, table_schema, compression="zstd") as out:
            for source in sources:
                handle = _open(source)
                for group in range(handle.num_row_groups):
                    part = handle.read_row_group(group).cast(table_schema)
                    out.write_table(part, row_group_size=max(1, part.num_rows))  # kept whole
        os.replace(tmp, target)
    for source in sources:
        if source.parent.name == PARTS_NAME:
            source.unlink()
    parts = folder / PARTS_NAME
    if parts.is_dir():
        remove_stale_temps(parts)
        try:
            parts.rmdir()
        except OSError:
            pass  # another live run's temp file is still there
    return target


def remove_store(folder: str | os.PathLike) -> int:
    """`--force`: the store and its parts removed before the run; how many files."""
    files = store_files(folder)
    for file in files:
        file.unlink()
    return len(files)


class Maps:
    """The maps of npz files (read and checked now) and of pairs stores (read as iterated, one
    row group at a time). `load` and `make` are `files.contactmap`'s reader and ContactMap,
    handed in so that this module does not import the one that imports it."""

    def __init__(self, files: list[Path], load, make):
        self.make = make
        self.npz = [(p, load(p)) for p in files if not is_store(p)]
        self.stores = [p for p in files if is_store(p)]
        self.count = len(self.npz) + len(_holders(self.stores))

    def __len__(self) -> int:
        return self.count

    def items(self) -> Iterator[tuple[Path, Any]]:
        """(file, map) for every map: an npz's path, or the store file that holds the protein."""
        yield from self.npz
        for store in self.stores:
            info = store_info(store) or {}
            shown = store if store.is_file() else store.parent  # a folder of parts
            log.info(Message(
                "%s: each protein's best %s pairs |i-j| >= %s; a ranking deeper than those "
                "(say long-range top-L where fewer long pairs were kept) meets pairs that are "
                f"not stored: predict {arg('keep', value='all')}, or "
                f"{arg('store', value='map')}, gives exact metrics"),
                shown, info.get("keep"), info.get("min_sep"),
            )  # fmt: skip
            for protein in iter_proteins(store):
                yield protein["file"], self.from_store(protein)

    def __iter__(self) -> Iterator[Any]:
        return (cmap for _, cmap in self.items())

    def from_store(self, protein: dict):
        """A stored protein as a ContactMap; its stored probabilities ride along as
        `stored_probabilities` (export uses them: a calibration needs every pair of a map)."""
        fields, probs = contact_map_fields(protein)
        try:
            cmap = self.make(**fields)
        except ContactplugError as exc:
            raise ContactplugError(f"{protein['file']}: {exc.marked}") from None
        cmap.stored_probabilities = probs
        return cmap
