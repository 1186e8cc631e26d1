"""Candidate readouts over every head's processed map, and their fits (for readout_accuracy).

A readout here is what the one-forward fold can compute: a weighted sum of the heads' processed
maps (per range, if it says so), optionally APC'd once more after the sum, or, as a diagnostic
the fold cannot do cheaply, a sum of per-protein standardised head maps. Every fit sees only
its training proteins: head precisions, K, the head set, scales and regression weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from readout_features import Protein

RANGES = {"short": (6, 11), "medium": (12, 23), "long": (24, 10**9)}
DIVISORS = {"L": 1, "L/2": 2, "L/5": 5}


@dataclass
class Readout:
    weights: dict[str, np.ndarray]  # range (or "all") -> K weights
    final_apc: bool = False  # APC once more, after the weighted sum
    zscore: bool = False  # per protein, per head (diagnostic: not fold-able)
    raw: bool = False  # heads summed before APC, APC after the sum only (needs final_apc)
    info: dict = field(default_factory=dict)

    def scores(self, p: Protein) -> np.ndarray:
        x = p.raw_scores() if self.raw else p.scores
        if self.zscore:
            x = (x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-12)
        if "all" in self.weights:
            return self._apply(self.weights["all"], x, p)
        out = np.empty(x.shape[1], dtype=np.float64)
        sep = p.sep
        for name, (lo, hi) in RANGES.items():
            mask = (sep >= lo) & (sep <= hi)
            out[mask] = self._apply(self.weights[name], x, p)[mask]
        return out

    def _apply(self, w: np.ndarray, x: np.ndarray, p: Protein) -> np.ndarray:
        s = w @ x
        if self.final_apc:
            rows, totals = (p.raw_row_sums, p.raw_totals) if self.raw else (p.row_sums, p.totals)
            r = w @ rows
            s = s - r[p.i] * r[p.j] / max(float(w @ totals), 1e-12)
        return s


def precision_table(scores: np.ndarray, p: Protein) -> dict[str, float]:
    """As evaluation.metrics.precision: top max(1, L // k) valid pairs per range, ties by (i, j)
    (the pairs are stored in (i, j) order and the sort is stable)."""
    out = {}
    sep = p.sep
    for name, (lo, hi) in RANGES.items():
        mask = (sep >= lo) & (sep <= hi)
        s, t = scores[mask], p.truth[mask]
        order = np.argsort(-s, kind="stable")
        for label, k in DIVISORS.items():
            n = min(max(1, p.length // k), len(order))
            out[f"{name}_P@{label}"] = float(t[order[:n]].mean()) if n else float("nan")
    return out


def _top_precision(curves: np.ndarray, truth: np.ndarray, n: int) -> np.ndarray:
    """Rows of scores (C x m) -> each row's precision of its top n (fitting only: ties loose)."""
    n = min(n, curves.shape[1])
    if n == 0:
        return np.full(curves.shape[0], np.nan)
    top = np.argpartition(-curves, n - 1, axis=1)[:, :n]
    return truth[top].mean(1)


def _range_mask(p: Protein, name: str) -> np.ndarray:
    lo, hi = RANGES[name]
    return (p.sep >= lo) & (p.sep <= hi)


def head_precision(proteins: list[Protein], name: str = "long") -> np.ndarray:
    """N x K: each head alone, P@L/2 in the range, per protein (NaN where the range is empty)."""
    rows = []
    for p in proteins:
        mask = _range_mask(p, name)
        rows.append(_top_precision(p.scores[:, mask], p.truth[mask], max(1, p.length // 2)))
    return np.stack(rows)


def k_curve(
    proteins: list[Protein],
    order: np.ndarray,
    w: np.ndarray,
    final_apc: bool,
    name: str,
    raw: bool = False,
) -> np.ndarray:
    """Mean P@L/2 in the range of the weighted sum of the first k heads of `order`, k = 1..K."""
    curves = []
    for p in proteins:
        mask = _range_mask(p, name)
        if not mask.any():
            continue
        x = (p.raw_scores() if raw else p.scores)[order][:, mask] * w[order, None]
        c = np.cumsum(x, 0)
        if final_apc:
            rows, totals = (p.raw_row_sums, p.raw_totals) if raw else (p.row_sums, p.totals)
            r = np.cumsum(rows[order] * w[order, None], 0)
            t = np.maximum(np.cumsum(totals[order] * w[order]), 1e-12)
            c = c - r[:, p.i[mask]] * r[:, p.j[mask]] / t[:, None]
        curves.append(_top_precision(c, p.truth[mask], max(1, p.length // 2)))
    return np.nanmean(np.stack(curves), 0)


def top_k(
    train: list[Protein],
    base: np.ndarray | None = None,
    weigh: Callable[[np.ndarray], np.ndarray] | None = None,
    final_apc: bool = False,
    name: str = "long",
    raw: bool = False,
) -> tuple[np.ndarray, dict]:
    """Rank heads by their mean P@L/2 in the range, choose K on the same criterion (smallest K
    at the best), as ranking.rank_heads does. base: per-head multipliers (scales) applied first;
    weigh: head precisions -> relative weights (default: equal)."""
    prec = np.nanmean(head_precision(train, name), 0)
    order = np.array(sorted(range(len(prec)), key=lambda n: (-prec[n], n)))
    rel = np.ones_like(prec) if weigh is None else weigh(prec)
    base = np.ones_like(prec) if base is None else base
    curve = k_curve(train, order, rel * base, final_apc, name, raw)
    k = int(np.nanargmax(curve)) + 1
    w = np.zeros_like(prec)
    w[order[:k]] = rel[order[:k]] / rel[order[:k]].sum()
    return w * base, {"k": k, "heads": order[:k].tolist()}


def by_precision(prec: np.ndarray) -> np.ndarray:
    return np.maximum(prec, 1e-6)


def head_scales(train: list[Protein]) -> np.ndarray:
    """1 / each head's typical spread (mean over proteins of its std over pairs)."""
    return 1.0 / np.mean([p.scores.std(1) for p in train], 0).clip(1e-12)


def greedy(train: list[Protein], most: int = 24) -> tuple[np.ndarray, dict]:
    """Forward selection: add the head that most raises the training mean long P@L/2 of the
    equal-weight mean; stop when none does."""
    chosen: list[int] = []
    best = -1.0
    K = train[0].scores.shape[0]
    longs = [(_range_mask(p, "long"), p) for p in train]
    sums = [np.zeros(int(m.sum())) for m, _ in longs]
    while len(chosen) < most:
        gains = np.zeros(K)
        for (mask, p), s in zip(longs, sums, strict=True):
            cand = s[None, :] + p.scores[:, mask]
            gains += _top_precision(cand, p.truth[mask], max(1, p.length // 2))
        gains /= len(train)
        gains[chosen] = -1
        h = int(np.argmax(gains))
        if gains[h] <= best + 1e-9:
            break
        best = float(gains[h])
        chosen.append(h)
        sums = [s + p.scores[h, mask] for (mask, p), s in zip(longs, sums, strict=True)]
    w = np.zeros(K)
    w[chosen] = 1 / len(chosen)
    return w, {"k": len(chosen), "heads": chosen}


def logistic(
    train: list[Protein], penalty: float = 1.0, min_sep: int = 6, l1: bool = False
) -> tuple[np.ndarray, dict]:
    """Rao et al. 2020's recipe (ESM's own contact head): a logistic regression on every head's
    processed map over pairs with |i-j| >= min_sep, here fitted on the training proteins
    (LBFGS; penalty on the weights of per-head standardised maps, L2, or a smooth L1 as theirs).
    The scales are folded back into the weights, so it stays one weighted sum of the heads."""
    scale = head_scales(train)
    keep = [p.sep >= min_sep for p in train]
    x = np.concatenate([p.scores[:, m] for p, m in zip(train, keep, strict=True)], 1).T * scale
    x = torch.from_numpy(x.astype(np.float32))
    y = torch.from_numpy(np.concatenate([p.truth[m] for p, m in zip(train, keep, strict=True)]))
    y = y.float()
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=100, line_search_fn="strong_wolfe")

    def loss():
        opt.zero_grad()
        value = torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y)
        reg = torch.sqrt(w * w + 1e-6).sum() if l1 else w @ w
        value = value + penalty * reg / len(train)
        value.backward()
        return value

    opt.step(loss)
    return w.detach().numpy().astype(np.float64) * scale, {"k": int((w.abs() > 1e-3).sum())}


PENALTIES = (1e-2, 1e-1, 1.0)


def tuned_logistic(train: list[Protein], folds: int = 3, **kw) -> tuple[np.ndarray, dict]:
    """The penalty chosen by an inner cross-validation over the training proteins only (mean
    long P@L/2 of the held-in fold), then refitted on all of them."""
    ordered = sorted(train, key=lambda p: p.id)
    means = []
    for penalty in PENALTIES:
        values = []
        for fold in range(folds):
            inner = [p for n, p in enumerate(ordered) if n % folds != fold]
            w, _ = logistic(inner, penalty, **kw)
            for p in (p for n, p in enumerate(ordered) if n % folds == fold):
                values.append(precision_table(w @ p.scores, p)["long_P@L/2"])
        means.append(np.nanmean(values))
    best = PENALTIES[int(np.argmax(means))]
    w, info = logistic(train, best, **kw)
    return w, {**info, "penalty": best}


def fit_all(train: list[Protein]) -> dict[str, Readout]:
    """Every candidate fitted on `train` (esm-head and all-heads need no fit)."""
    K = train[0].scores.shape[0]
    scales = head_scales(train)
    out: dict[str, Readout] = {"all-heads": Readout({"all": np.full(K, 1 / K)})}
    w, info = top_k(train)
    out["attention (today)"] = Readout({"all": w}, info=info)
    w, info = top_k(train, final_apc=True)
    out["attention, APC per head and after"] = Readout({"all": w}, final_apc=True, info=info)
    w, info = top_k(train, final_apc=True, raw=True)
    out["attention, APC after the mean only"] = Readout(
        {"all": w}, final_apc=True, raw=True, info=info
    )
    w, info = top_k(train, weigh=by_precision)
    out["precision-weighted"] = Readout({"all": w}, info=info)
    w, info = top_k(train, weigh=lambda p: np.maximum(p, 1e-6) ** 2)
    out["precision^2-weighted"] = Readout({"all": w}, info=info)
    w, info = top_k(train, base=scales)
    out["standardised (per-head scale)"] = Readout({"all": w}, info=info)
    w, info = top_k(train, base=scales, weigh=by_precision)
    out["standardised + precision-weighted"] = Readout({"all": w}, info=info)
    out["standardised per protein (z)"] = _zscored(train)
    per_range, infos = {}, {}
    for name in RANGES:
        per_range[name], infos[name] = top_k(train, name=name)
    out["K and heads per range"] = Readout(
        per_range, info={"k": {n: i["k"] for n, i in infos.items()}}
    )
    w, info = greedy(train)
    out["greedy head set"] = Readout({"all": w}, info=info)
    w, info = tuned_logistic(train)
    out["logistic, all heads, sep >= 6"] = Readout({"all": w}, info=info)
    w, info = tuned_logistic(train, min_sep=24)
    out["logistic, all heads, long pairs only"] = Readout({"all": w}, info=info)
    w, info = tuned_logistic(train, l1=True)
    out["logistic L1, all heads, sep >= 6"] = Readout({"all": w}, info=info)
    return out


def _zscored(train: list[Protein]) -> Readout:
    """Top-K of the z-scored maps, K chosen on the z-scored maps."""
    z = [
        replace(
            p,
            scores=(p.scores - p.scores.mean(1, keepdims=True))
            / (p.scores.std(1, keepdims=True) + 1e-12),
        )
        for p in train
    ]
    w, info = top_k(z)
    return Readout({"all": w}, zscore=True, info=info)
