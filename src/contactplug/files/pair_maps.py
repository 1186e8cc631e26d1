"""The readers' side of the pairs store (`files.pair_store`): a row group's rows into its
proteins, and a stored protein into a map's fields (its kept pairs at their scores, the rest
below them). The row groups come from pyarrow; this module itself needs numpy alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .errors import ContactplugError

COMPLEX_FIELDS = ("chain_ids", "chain_lengths", "linker")


def first_rows(table) -> np.ndarray:
    """Rows that open a protein: its sequence is there (null on the others)."""
    return np.flatnonzero(table.column("sequence").is_valid().to_numpy(zero_copy_only=False))


def contact_map_fields(protein: dict) -> tuple[dict, np.ndarray | None]:
    """A stored protein as ContactMap fields, and its L x L probabilities (None without).
    Its kept pairs are at their scores; every other pair (and the diagonal) just below the
    lowest kept score, so any ranking reads the kept pairs first. Rankings deeper than the
    kept pairs are not in the store: `meta['store']` says how many were kept."""
    L = len(protein["sequence"])
    i, j, score = protein["i"], protein["j"], protein["score"]
    low = float(score.min()) if score.size else 0.0
    floor = float(np.float32(low - max(1.0, abs(low))))  # exact in float32: below every score
    contacts = np.full((L, L), floor, dtype=np.float32)
    contacts[i, j] = score
    contacts[j, i] = score
    info = protein["info"]
    meta = dict(info.get("meta") or {})
    meta["store"] = {"file": str(protein["file"]), "kept": int(score.size), "floor": floor}
    probs = None
    if protein["prob"] is not None:
        probs = np.zeros((L, L), dtype=np.float32)
        probs[i, j] = protein["prob"]
        probs[j, i] = protein["prob"]
    resnum = info.get("resnum")
    fields = {
        "contacts": contacts,
        "sequence": protein["sequence"],
        "id": protein["id"],
        "method": protein["method"],
        "model": protein["model"],
        "n_forward": int(info.get("n_forward", 1)),
        "seconds": float(info.get("seconds", 0.0)),
        "chain": info.get("chain"),
        "resnum": None if resnum is None else np.asarray(resnum, dtype=np.int32),
        "icode": None if resnum is None else np.asarray(info.get("icode"), dtype=str),
        "meta": meta,
        **{name: info[name] for name in COMPLEX_FIELDS if info.get(name) is not None},
    }
    return fields, probs


def split_row_group(table, wanted: set[str] | None, file: Path) -> Iterator[dict]:
    """A row group's proteins as dicts (see `iter_proteins`); `wanted`: only these ids."""
    firsts = first_rows(table)
    if table.num_rows and (not len(firsts) or firsts[0] != 0):
        raise ContactplugError(f"{file}: damaged pairs store (a row group opens mid-protein)")
    ends = np.append(firsts[1:], table.num_rows)
    first = {
        name: table.column(name).take(firsts).to_pylist()
        for name in ("id", "method", "model", "sequence", "map_info")
    }
    i = table.column("i").fill_null(-1).to_numpy()
    j = table.column("j").fill_null(-1).to_numpy()
    score = table.column("score").fill_null(0).to_numpy()
    prob_col = table.column("prob")
    has_prob = prob_col.is_valid().to_numpy(zero_copy_only=False)
    prob = prob_col.fill_null(0).to_numpy()
    for n, (a, b) in enumerate(zip(firsts, ends, strict=True)):
        if wanted is not None and first["id"][n] not in wanted:
            continue
        if i[a] < 0:  # a protein with no pair: one row of nulls
            b = a
        yield {
            "id": first["id"][n],
            "i": i[a:b].astype(np.int64),
            "j": j[a:b].astype(np.int64),
            "score": score[a:b].astype(np.float32),
            "prob": prob[a:b].astype(np.float32) if b > a and has_prob[a] else None,
            "method": first["method"][n],
            "model": first["model"][n],
            "sequence": first["sequence"][n],
            "info": json.loads(first["map_info"][n] or "{}"),
            "file": file,
        }
