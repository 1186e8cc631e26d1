"""Precision of predicted contacts against a structure: P@L, P@L/2, P@L/5 per range."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
from pathlib import Path

import numpy as np

from contactplug.files.atomic import write_text as write_text_atomic
from contactplug.files.contactmap import ContactMap
from contactplug.files.errors import ContactplugError, Message, arg
from contactplug.files.specs import RANGES
from contactplug.inputs.complex_structure import match_complex_structure, read_complex_chains
from contactplug.inputs.structure import (
    align,
    contacts_from_coords,
    index_structures,
    match_structure,
    query_coords,
    read_chain,
)

from .interface import INTER_COLUMNS, inter_rows, interface_candidates

log = logging.getLogger("contactplug")

DIVISORS = {"L": 1, "L/2": 2, "L/5": 5}
METRICS = [f"{r}_P@{d}" for r in RANGES for d in DIVISORS]
INFO_COLUMNS = ["id", "L", "model", "method", "n_forward", "seconds", "structure", "chain"]
COUNT_COLUMNS = (
    ["aligned"]
    + [f"{k}_{r}" for r in RANGES for k in ("n_valid", "n_true")]
    + [f"{r}_base_rate" for r in RANGES]
)
COLUMNS = INFO_COLUMNS + METRICS + COUNT_COLUMNS


def range_mask(L: int, lo: int, hi: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Indices (i, j), i < j, with lo <= j - i <= hi."""
    i, j = np.triu_indices(L, k=max(1, lo))
    if hi is not None:
        keep = (j - i) <= hi
        i, j = i[keep], j[keep]
    return i, j


def precision(
    scores: np.ndarray, contacts: np.ndarray, valid: np.ndarray, L: int | None = None
) -> dict:
    """Top-n precision per range among valid pairs; n = max(1, L // k); NaN with no valid pair.

    Ties in score are broken by (i, j), so the result does not depend on sort stability.
    """
    scores = np.asarray(scores, dtype=np.float64)
    size = scores.shape[0]
    L = size if L is None else int(L)
    out: dict = {}
    for name, (lo, hi) in RANGES.items():
        i, j = range_mask(size, lo, hi)
        keep = valid[i, j]
        i, j = i[keep], j[keep]
        truth = contacts[i, j]
        order = np.lexsort((j, i, -scores[i, j]))
        for label, k in DIVISORS.items():
            n = min(max(1, L // k), len(order))
            out[f"{name}_P@{label}"] = float(truth[order[:n]].mean()) if n else math.nan
        out[f"n_valid_{name}"] = int(len(i))
        out[f"n_true_{name}"] = int(truth.sum())
        out[f"{name}_base_rate"] = float(truth.mean()) if len(i) else math.nan
    return out


def evaluate_map(
    cmap: ContactMap,
    structure_path: str | os.PathLike,
    chain: str | None = None,
    cutoff: float = 8.0,
    atom: str = "CB",
) -> dict:
    """One row: the map's facts, the chain used, how many residues aligned, the precisions."""
    if chain is None:
        chain = cmap.chain
    found = read_chain(structure_path, chain)
    try:
        mapping = align(cmap.sequence, found.sequence)
    except ContactplugError as exc:
        raise ContactplugError(f"{cmap.id} vs {Path(structure_path).name}: {exc.marked}") from None
    coords = query_coords(found, mapping, atom)
    if atom == "CB":
        _check_cb(
            coords,
            query_coords(found, mapping, "CA"),
            f"{cmap.id} vs {Path(structure_path).name} chain {found.name}",
        )
    contacts, valid = contacts_from_coords(coords, cutoff)
    row = _facts(cmap, Path(structure_path).name, cmap.length, found.name)
    row["aligned"] = int((mapping >= 0).sum())
    row.update(precision(cmap.contacts, contacts, valid, cmap.length))
    return row


def _facts(cmap: ContactMap, structure: str, length: int | None, chain: str | None) -> dict:
    """A row's first columns, in their order: the map's facts, the structure and chain."""
    return {
        "id": cmap.id,
        "L": length,
        "model": cmap.model,
        "method": cmap.method,
        "n_forward": int(cmap.n_forward),
        "seconds": float(cmap.seconds),
        "structure": structure,
        "chain": chain,
    }


def evaluate_rows(
    cmap: ContactMap,
    structure_path: str | os.PathLike,
    chain: str | None = None,
    cutoff: float = 8.0,
    atom: str = "CB",
) -> list[dict]:
    """A map's rows: one for a single chain (`evaluate_map`); for a complex, one per chain
    (its block scored as a single chain's map would be) and one `inter A-B` per chain pair.
    `chain` for a complex: the structure's chains in map order, comma-separated."""
    if not cmap.is_complex:
        return [evaluate_map(cmap, structure_path, chain, cutoff, atom)]
    cx = read_complex_chains(cmap, structure_path, chain)
    coords = cx.coords(atom)
    spans = cmap.chain_spans()
    if atom == "CB":
        ca = cx.coords("CA")
        for (_, first, end), name in zip(spans, cx.names, strict=True):
            where = f"{cmap.id} vs {cx.path.name} chain {name}"
            _check_cb(coords[first:end], ca[first:end], where)
    contacts, valid = contacts_from_coords(coords, cutoff)
    base = _facts(cmap, cx.path.name, None, None)  # L and chain filled in per row
    rows = []
    for (_, first, end), name, n in zip(spans, cx.names, cx.aligned(), strict=True):
        block = slice(first, end)
        row = {**base, "L": end - first, "chain": name, "aligned": n}
        row.update(precision(cmap.contacts[block, block], contacts[block, block],
                             valid[block, block], end - first))  # fmt: skip
        rows.append(row)
    rows += inter_rows(cmap, contacts, valid, cx.names, base)
    for row in rows:
        row["complex"] = ",".join(cx.names)  # JSON only: which complex a row belongs to
    return rows


def _check_cb(cb: np.ndarray, ca: np.ndarray, where: str) -> None:
    """C-beta needs CB, or N, CA and C for the virtual one: a CA-only model has none, and
    would score NaN everywhere. Refused (or warned about, when most are missing) with the way
    out: --atom CA."""
    n_cb = int(np.isfinite(cb).all(axis=1).sum())
    n_ca = int(np.isfinite(ca).all(axis=1).sum())
    if n_ca and n_cb < 2:
        raise ContactplugError(
            f"{where}: no C-beta positions (CB, or N, CA and C for a virtual one): a CA-only "
            f"model? use {arg('atom', value='CA')}"
        )
    if n_cb < 0.5 * n_ca:
        log.warning(
            Message(
                "%s: only %d of %d residues with a CA have a C-beta position; the rest are not "
                f"scored ({arg('atom', value='CA')} scores them all)"
            ),
            where,
            n_cb,
            n_ca,
        )


def evaluate_maps(
    maps: list[ContactMap],
    structure: str | os.PathLike,
    chain: str | None = None,
    cutoff: float = 8.0,
    atom: str = "CB",
    candidates: bool = False,
) -> tuple[list[dict], list[dict]]:
    """(rows, skipped). `structure` is one file (used for every map) or a folder to match in.

    A single map is strict (its error is the error); with several, a map that fails is
    skipped with a warning and listed, and it is an error only when none could be scored.
    `candidates`: a single chain's row scored against a homo-oligomer gets its candidate
    interface contacts (`interface.interface_candidates`) under `interface_candidates`.
    """
    structure = Path(structure)
    index = index_structures(structure) if structure.is_dir() else None
    rows: list[dict] = []
    skipped: list[dict] = []
    for cmap in maps:
        if index is None:
            target: tuple[Path, str | None] | None = (structure, chain or cmap.chain)
        elif cmap.is_complex:
            found = match_complex_structure(cmap.id, index)
            target = None if found is None else (found, chain)
        else:
            target = match_structure(cmap.id, index, chain or cmap.chain)
        try:
            if target is None:
                raise ContactplugError(f"{cmap.id}: no structure file for it in {structure}")
            rows += evaluate_rows(cmap, target[0], target[1], cutoff, atom)
            if candidates and not cmap.is_complex:
                _add_candidates(rows[-1], cmap, target, cutoff, atom)
        except ContactplugError as exc:
            if len(maps) == 1:
                raise
            log.warning("skipped %s (%s): %s", cmap.id, cmap.method, exc)
            skipped.append({"id": cmap.id, "method": cmap.method, "reason": str(exc)})
    if not rows:
        raise ContactplugError(f"no map could be evaluated ({len(skipped)} skipped)")
    return rows, skipped


def _add_candidates(row: dict, cmap: ContactMap, target: tuple, cutoff: float, atom: str) -> None:
    found = interface_candidates(cmap, target[0], row["chain"], cutoff, atom)
    if found is None:
        log.info("%s: %s holds no other copy of chain %s; no interface candidates",
                 cmap.id, row["structure"], row["chain"])  # fmt: skip
    else:
        row["interface_candidates"] = found


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def csv_text(rows: list[dict], columns: list[str] | None = None) -> str:
    columns = columns or [c for c in COLUMNS + INTER_COLUMNS if any(c in r for r in rows)]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c, "")) for c in columns])
    return buf.getvalue()


def write_csv(rows: list[dict], path: str | os.PathLike, columns: list[str] | None = None) -> Path:
    return write_text_atomic(path, csv_text(rows, columns))


def _jsonable(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def write_json(
    rows: list[dict], path: str | os.PathLike, skipped: list[dict] | None = None, **settings
) -> Path:
    doc = {"settings": settings, "results": rows, "skipped": skipped or []}
    return write_text_atomic(path, json.dumps(_jsonable(doc), indent=2, sort_keys=False) + "\n")
