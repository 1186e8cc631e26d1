"""The inter-chain part of a calibration: fitted on complexes' inter-chain pairs, judged on
complexes the fit did not see.

Why a part of its own: an interface's base rate is tiny (about 0.2 % of the residue pairs
between two chains of Docking Benchmark 5 are within 8 A), so an intra-chain probability on an
inter-chain pair would be off by orders of magnitude. The same features as the intra-chain
buckets (rank and z), computed within each chain pair's block, go through the same monotone
logistic + isotonic fit (`calibration._logistic`, `_isotonic_knots`). Where the scores carry
no interface signal (the fine-tuned ESM-2 8M weights), the fit says so by itself: every
probability sits at the base rate. Torch-free: it reads maps and structures only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from contactplug.files.contactmap import ContactMap
from contactplug.files.errors import ContactplugError
from contactplug.restraints.calibration import (
    INTER,
    ISO_BINS,
    MIN_BIN,
    Calibration,
    _isotonic_knots,
    _logistic,
    inter_blocks,
    inter_features,
    reliability,
)

log = logging.getLogger("contactplug")
CUTOFF = 8.0  # CB-CB, virtual CB for Gly: contactplug's contact everywhere


def complex_truth(cmap: ContactMap, structure: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(contacts, valid), ΣL x ΣL, of a complex map against its structure: each map chain
    aligned to the structure chain of its name, CB-CB < 8 A."""
    from contactplug.inputs.structure import align, contacts_from_coords, query_coords, read_chain

    parts = []
    for name, a, b in cmap.chain_spans():
        ch = read_chain(structure, name)
        parts.append(query_coords(ch, align(cmap.sequence[a:b], ch.sequence), "CB"))
    return contacts_from_coords(np.concatenate(parts), CUTOFF)


def _inter_data(maps, truths, valid):
    X, y, who = [], [], []
    for n, cmap in enumerate(maps):
        t, ok = np.asarray(truths[n], dtype=bool), np.asarray(valid[n], dtype=bool)
        for (i, j), feats in inter_features(cmap):
            keep = ok[i, j]
            X.append(feats[keep])
            y.append(t[i, j][keep].astype(np.float64))
            who.append(np.full(int(keep.sum()), n))
    if not X:
        raise ContactplugError("no complex maps (two or more chains) to fit inter-chain pairs on")
    return np.concatenate(X), np.concatenate(y), np.concatenate(who)


def fit_inter(
    calibration: Calibration, maps: list[ContactMap], truths: list, valid: list
) -> Calibration:
    """Add (or replace) the inter part of `calibration`, fitted on these complexes."""
    X, y, _ = _inter_data(maps, truths, valid)
    if y.min() == y.max():
        raise ContactplugError(
            "cannot fit inter-chain probabilities: every inter-chain pair has the same truth"
        )
    w = _logistic(X, y)
    calibration.coef[INTER] = [float(v) for v in w]
    # bins of MIN_BIN pairs, not ISO_BINS quantiles: at a 0.2 % base rate one of 200 quantile
    # bins holds thousands of pairs and would pool a strong signal's contacts with the rest
    calibration.knots[INTER] = _isotonic_knots(X @ w, y, bins=max(ISO_BINS, len(y) // MIN_BIN))
    calibration.info[INTER] = {
        "n_complexes": len(maps),
        "pairs_and_contacts": [int(len(y)), int(y.sum())],
        "base_rate": float(y.mean()),
        "features": "per chain pair block: log((rank+1)/L_min), z; rank 0 = best pair",
    }
    return calibration


def evaluate_inter(calibration: Calibration, maps: list[ContactMap], truths, valid) -> dict:
    """Reliability of the inter part on (held-out) complexes: every inter-chain pair, and the
    top L_min of each chain pair by score (what `--pairs inter --top L` writes)."""
    if not calibration.has_inter:
        raise ContactplugError("the calibration has no inter-chain part to judge")
    all_p, all_y, top_p, top_y = [], [], [], []
    for n, cmap in enumerate(maps):
        P = calibration.probabilities(cmap)
        t, ok = np.asarray(truths[n], dtype=bool), np.asarray(valid[n], dtype=bool)
        for i, j, lmin in inter_blocks(cmap):
            keep = ok[i, j]
            i, j = i[keep], j[keep]
            order = np.lexsort((j, i, -cmap.contacts[i, j]))[:lmin]
            all_p.append(P[i, j])
            all_y.append(t[i, j])
            top_p.append(P[i[order], j[order]])
            top_y.append(t[i[order], j[order]])
    cat = np.concatenate
    base = float(cat(all_y).mean())
    out = {
        "n_complexes": len(maps),
        "base_rate": base,
        "all_pairs": reliability(cat(all_p), cat(all_y)),
        "top_Lmin": reliability(cat(top_p), cat(top_y)),
    }
    p = cat(all_p)
    out["p_summary"] = {
        "mean": float(p.mean()),
        "min": float(p.min()),
        "max": float(p.max()),
        "max_over_base_rate": float(p.max() / base) if base > 0 else float("nan"),
    }
    return out


def split(ids: list[str]) -> tuple[list[int], list[int]]:
    """Fit / held-out indices: every 4th complex by sorted id is held out (as the selection
    set's split does for single chains)."""
    order = sorted(range(len(ids)), key=lambda k: ids[k])
    held = [k for n, k in enumerate(order) if n % 4 == 3]
    return [k for k in order if k not in held], held


def fit_and_judge(
    calibration: Calibration, maps: list[ContactMap], structures: list[str | Path]
) -> Calibration:
    """Truth from each complex's structure, fit on 3/4, held-out reliability on the rest."""
    pairs = [complex_truth(m, s) for m, s in zip(maps, structures, strict=True)]
    truths, valid = [t for t, _ in pairs], [v for _, v in pairs]
    fit_k, held_k = split([m.id for m in maps])
    if not fit_k or not held_k:
        raise ContactplugError("need at least 4 complexes to fit and judge inter-chain pairs")

    def pick(items, ks):
        return [items[k] for k in ks]

    fit_inter(calibration, pick(maps, fit_k), pick(truths, fit_k), pick(valid, fit_k))
    held = evaluate_inter(
        calibration, pick(maps, held_k), pick(truths, held_k), pick(valid, held_k)
    )
    calibration.info[INTER].update(
        held_out=held,
        fit_ids=[maps[k].id for k in fit_k],
        held_out_ids=[maps[k].id for k in held_k],
    )
    return calibration
