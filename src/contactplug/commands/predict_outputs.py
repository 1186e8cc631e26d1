"""Where `predict`'s maps go on a run that can be stopped and resumed: one npz per protein
(`--store map`) or the best pairs of every protein in `OUT/pairs.parquet` (`--store pairs`),
the proteins already finished there for the same settings kept (`files.resume`,
`files.pair_store`), `--force` recomputing them."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from contactplug.files import pair_store, resume
from contactplug.files.atomic import safe_name
from contactplug.files.contactmap import ContactMap, load
from contactplug.files.errors import ContactplugError
from contactplug.files.outputs import OutputFolder
from contactplug.files.sequences import Record
from contactplug.files.specs import parse_top

log = logging.getLogger("contactplug")

MIN_SEP = 6  # the store keeps pairs |i - j| >= 6: the shortest range any metric scores


def check_store_options(args: argparse.Namespace) -> None:
    """A bad --keep or --part refused before the model is loaded."""
    parse_top(getattr(args, "keep", "5L"), 100, "keep")
    part = getattr(args, "part", None)
    if part is not None and (getattr(args, "store", "map") != "pairs" or safe_name(part) != part):
        raise ContactplugError(
            f"--part {part!r}: a file name (letters, digits, ._+=,@-) with --store pairs"
        )


class PredictOutputs:
    """`finished(n, record)` for `predict_unordered`, `write(n, cmap)` for each map, and as a
    context manager the pairs store closed: compacted into pairs.parquet when the run ends,
    its buffered proteins written as a part when it is stopped (SIGTERM, Ctrl-C, an error)."""

    def __init__(self, args: argparse.Namespace, folder: OutputFolder, records: list[Record],
                 settings: dict):  # fmt: skip
        self.folder = folder
        self.out = Path(args.output)
        self.store = getattr(args, "store", "map")
        self.keep = getattr(args, "keep", "5L")
        self.kept: dict[int, Path] = {}
        self.calibration = None
        self.looked_up = False
        force = getattr(args, "force", False)
        part = getattr(args, "part", None)  # checked by check_store_options, before the model
        if self.store == "pairs":
            pair_store.require_pyarrow()  # before any work
            self._open_store(records, settings, force)
        else:
            keys = [(r.id, r.sequence, args.method) for r in records]
            _, self.kept = resume.Finished.of(self.out).split(keys, settings, "maps", force)
        self.writer = (
            pair_store.PairStoreWriter(
                self.out, {"settings": settings, "keep": self.keep, "min_sep": MIN_SEP}, part
            )
            if self.store == "pairs"
            else None
        )

    def _open_store(self, records: list[Record], settings: dict, force: bool) -> None:
        seen: dict[str, str] = {}
        for r in records:
            if seen.setdefault(r.id, r.sequence) != r.sequence:
                raise ContactplugError(
                    f"--store pairs: the id {r.id!r} names two different sequences; "
                    "ids are the store's keys"
                )
        if force and pair_store.store_files(self.out):
            removed = pair_store.remove_store(self.out)
            log.info("--force: removed the pairs store in %s (%d file(s))", self.out, removed)
        info = pair_store.store_info(self.out)
        if info is not None and resume.settings_key(info.get("settings")) != resume.settings_key(
            settings
        ):
            raise ContactplugError(
                f"{self.out}/pairs.parquet was made with other settings "
                f"({_difference(info.get('settings') or {}, settings)}); --force replaces it, "
                "or write to another -o"
            )
        if info is not None and info.get("keep") != self.keep:
            raise ContactplugError(
                f"{self.out}/pairs.parquet keeps {info.get('keep')} pairs per protein, not "
                f"--keep {self.keep}; --force replaces it"
            )
        stored = pair_store.stored_proteins(self.out)
        for n, r in enumerate(records):
            if r.id in stored and stored[r.id] != r.sequence:
                raise ContactplugError(
                    f"{self.out}/pairs.parquet holds {r.id!r} with another sequence; "
                    "--force replaces the store, or write to another -o"
                )
            if r.id in stored:
                self.kept[n] = self.out / pair_store.STORE_NAME
        resume.say(len(self.kept), 0, len(records) - len(self.kept), "proteins", force)

    def finished(self, n: int, record: Record) -> bool:
        return n in self.kept

    def write(self, cmap: ContactMap) -> Path:
        """The map saved: its npz path, or for the store the name its picture would take."""
        if self.writer is None:
            return cmap.save_in(self.folder)
        if not self.looked_up:  # one calibration per run: same weights and method throughout
            from contactplug.restraints import calibration as cal

            self.calibration, self.looked_up = cal.find(cmap), True
            if self.calibration is None:
                log.info("--store pairs: no calibration for %s %s; prob left empty",
                         cmap.model, cmap.method)  # fmt: skip
        i, j, score = pair_store.best_pairs(cmap, self.keep, MIN_SEP)
        probs = None
        if self.calibration is not None:
            probs = kept_probabilities(self.calibration, cmap, i, j)
        self.writer.add(cmap, (i, j, score), probs)
        return self.out / f"{safe_name(cmap.id)}.pairs"

    def kept_maps(self, wanted: dict[int, str]) -> dict[int, tuple[ContactMap, Path]]:
        """index -> (map, its file) of maps kept from an earlier run, read back for
        `--evaluate` (a stored protein: its best pairs only, `files.pair_store`)."""
        if self.writer is None:
            return {n: (load(self.kept[n]), self.kept[n]) for n in wanted}
        by_id = {pid: n for n, pid in wanted.items()}
        maps = pair_store.Maps([], load, ContactMap)
        return {
            by_id[p["id"]]: (maps.from_store(p), self.out / f"{safe_name(p['id'])}.pairs")
            for p in pair_store.iter_proteins(self.out, set(by_id))
        }

    def __enter__(self) -> PredictOutputs:
        return self

    def __exit__(self, kind, value, trace) -> None:
        if self.writer is None:
            return
        if kind is None:
            path = self.writer.close()
            log.info("pairs store: %s (%d proteins written by this run)", path, self.writer.written)
        else:
            part = self.writer.flush()
            if part is not None:
                log.info("stopped: %d proteins kept in %s for the next run",
                         self.writer.written, part.parent)  # fmt: skip


def _difference(old: dict, new: dict) -> str:
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in keys[:3]) or "?"


def kept_probabilities(calibration, cmap: ContactMap, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """`calibration.probabilities(cmap)[i, j]` for the kept pairs, without the L x L features:
    a pair's rank within its range bucket counts only pairs above it, and every such pair is
    kept too (the kept pairs are the top of all pairs |i - j| >= 6, ties by (i, j)), so ranks
    come from the kept pairs alone; each bucket's mean and spread from its diagonals' sums.
    A complex (ranks per chain and per chain pair), or a map not exactly symmetric: the whole
    calibration, as export would run it."""
    from contactplug.restraints import calibration as cal

    c = cmap.contacts.astype(np.float64)
    L = cmap.length
    if cmap.is_complex or not np.array_equal(c, c.T):
        return calibration.probabilities(cmap)[i, j]
    sep = j - i
    out = np.zeros(len(i))
    squared = c * c
    for name, lo, hi in cal.BUCKETS:
        top = L - 1 if hi is None else min(hi, L - 1)
        inside = (sep >= lo) & (sep <= top)
        if name not in calibration.coef or not inside.any():
            continue
        count = sum(L - d for d in range(lo, top + 1))
        total, sq = _band_sum(c, lo, hi), _band_sum(squared, lo, hi)
        mean = total / count
        sd = np.sqrt(max(sq / count - mean * mean, 0.0))
        a, b = i[inside], j[inside]
        s = c[a, b]
        rank = np.empty(len(s))
        rank[np.lexsort((b, a, -s))] = np.arange(len(s))
        z = (s - mean) / sd if sd > 0 else np.zeros_like(s)
        X = np.stack([np.ones(len(s)), np.log((rank + 1.0) / L), np.clip(z, *cal.Z_CLIP)], 1)
        knots = np.asarray(calibration.knots[name], dtype=np.float64)
        eta = X @ np.asarray(calibration.coef[name], dtype=np.float64)
        out[inside] = np.interp(eta, knots[:, 0], knots[:, 1])
    return out


def _band_sum(x: np.ndarray, lo: int, hi: int | None) -> float:
    """Sum of a symmetric matrix's pairs i < j with lo <= j - i <= hi (None: no bound), from
    its diagonals: the few of a bounded band, or the upper triangle less those below lo."""
    if hi is not None:
        return float(sum(np.trace(x, d) for d in range(lo, min(hi, len(x) - 1) + 1)))
    upper = (x.sum() - np.trace(x)) / 2
    return float(upper - sum(np.trace(x, d) for d in range(1, lo)))
