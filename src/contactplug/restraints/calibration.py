"""Calibrated contact probabilities: raw attention/Jacobian scores -> P(contact).

Raw scores are not probabilities and their scale differs from protein to protein, so the
calibration never sees a raw score. It sees two features that transfer across proteins,
computed within each sequence-separation bucket of one map:

  rank/L  log((rank + 1) / L), rank 0 = the best pair of that bucket in this protein
  z       (score - mean) / std over that bucket's pairs in this protein (clipped)

and fits one logistic regression per bucket (local 1-5, short 6-11, medium 12-23, long >= 24):
P = sigmoid(a + b * log_rank + c * z). Why logistic and not isotonic on rank/L: isotonic on
rank alone cannot tell a protein with a strong signal (top z-scores far out) from one with a
flat map, where the same rank means much less; a 3-parameter logistic per bucket uses both
features, is smooth, and cannot overfit 30 proteins the way a step function can.

"Contact" means what the truths say (the selection set: C-beta - C-beta < 8 A, virtual C-beta
for Gly). A probability of 0.3 means: over held-out proteins, about 30% of pairs given 0.3
were in contact. Reliability (expected calibration error, ECE) is measured on proteins the
fit did not see and stored with the calibration.

Complexes: intra-chain pairs are calibrated per chain, as single chains. Inter-chain pairs
have their own part (`inter`), fitted on inter-chain pairs of complexes (`fit_inter`), with
the same two features computed within each chain pair's block (rank over L_min, the shorter
chain): their base rate (~0.2 % of residue pairs on Docking Benchmark 5) is nothing like an
intra-chain range's, so an intra-chain probability is never given to an inter-chain pair. A
calibration without an inter part gives inter-chain pairs NaN (no probability).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from contactplug.files.atomic import write_text as write_text_atomic
from contactplug.files.contactmap import ContactMap
from contactplug.files.errors import ContactplugError
from contactplug.readout import cache

log = logging.getLogger("contactplug")

VERSION = 1
# (name, min_sep, max_sep); "local" pairs are in contact almost by chain geometry.
BUCKETS: list[tuple[str, int, int | None]] = [
    ("local", 1, 5),
    ("short", 6, 11),
    ("medium", 12, 23),
    ("long", 24, None),
]
INTER = "inter"  # the inter-chain part: pairs between two chains of a complex
Z_CLIP = (-5.0, 15.0)
RIDGE = 1e-3
ISO_BINS = 200  # at most this many knots per bucket
MIN_BIN = 50  # pairs per knot at least: no P of 0 or 1 from a handful of pairs
ECE_BINS = 10


@dataclass
class Calibration:
    """Per bucket: logistic coefficients (intercept, log-rank, z) giving an index eta, and
    monotone knots (eta, P) mapping eta to the observed contact frequency."""

    coef: dict[str, list[float]]
    knots: dict[str, list[list[float]]]
    model: str = ""
    method: str = ""
    fingerprint: str = ""
    info: dict = field(default_factory=dict)

    def probabilities(self, cmap: ContactMap) -> np.ndarray:
        """L x L symmetric P(contact), diagonal 0: each chain's pairs by the intra-chain
        buckets, inter-chain pairs by the inter part (NaN when this calibration has none)."""
        L = cmap.length
        out = np.zeros((L, L), dtype=np.float64)
        for _, a, b in cmap.chain_spans():
            for name, (i, j), X in _bucket_features(cmap.contacts[a:b, a:b]):
                if name not in self.coef or len(i) == 0:
                    continue
                p = self._bucket_p(name, X)
                out[a + i, a + j] = p
                out[a + j, a + i] = p
        if cmap.is_complex:
            for (i, j), X in inter_features(cmap):
                p = self._bucket_p(INTER, X) if INTER in self.coef else np.nan
                out[i, j] = p
                out[j, i] = p
        return out

    @property
    def has_inter(self) -> bool:
        return INTER in self.coef

    def _bucket_p(self, name: str, X: np.ndarray) -> np.ndarray:
        eta = X @ np.asarray(self.coef[name], dtype=np.float64)
        k = np.asarray(self.knots[name], dtype=np.float64)
        return np.interp(eta, k[:, 0], k[:, 1])

    def to_json(self) -> dict:
        return {
            "kind": "contactplug-calibration",
            "version": VERSION,
            "model": self.model,
            "method": self.method,
            "fingerprint": self.fingerprint,
            "features": ["intercept", "log((rank+1)/L) within bucket", "z within bucket"],
            "buckets": {name: [lo, hi] for name, lo, hi in BUCKETS},
            "coef": self.coef,
            "knots": self.knots,
            "info": self.info,
        }

    def save(self, path: str | os.PathLike) -> Path:
        return write_text_atomic(path, json.dumps(self.to_json(), indent=1, sort_keys=True) + "\n")


def load(path: str | os.PathLike) -> Calibration:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContactplugError(
            f"{path}: cannot read calibration ({exc.__class__.__name__})"
        ) from None
    if not isinstance(data, dict) or data.get("kind") != "contactplug-calibration":
        raise ContactplugError(f"{path}: not a contactplug calibration file")
    try:
        coef = {str(k): [float(x) for x in v] for k, v in data["coef"].items()}
        knots = {str(k): [[float(a), float(b)] for a, b in v] for k, v in data["knots"].items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ContactplugError(f"{path}: calibration coefficients are malformed") from None
    names = {b[0] for b in BUCKETS} | {INTER}
    if (
        set(coef) - names
        or set(coef) != set(knots)
        or any(len(v) != 3 for v in coef.values())
        or any(len(v) == 0 for v in knots.values())
    ):
        raise ContactplugError(f"{path}: calibration coefficients are malformed")
    return Calibration(
        coef=coef,
        knots=knots,
        model=str(data.get("model", "")),
        method=str(data.get("method", "")),
        fingerprint=str(data.get("fingerprint", "")),
        info=data.get("info", {}),
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic


def _features(s: np.ndarray, i: np.ndarray, j: np.ndarray, L: int) -> np.ndarray:
    """X = [1, log((rank+1)/L), z] over one group of pairs (ties ranked by (i, j))."""
    X = np.ones((len(s), 3))
    if len(s):
        order = np.lexsort((j, i, -s))
        rank = np.empty(len(s))
        rank[order] = np.arange(len(s))
        X[:, 1] = np.log((rank + 1.0) / L)
        sd = s.std()
        z = (s - s.mean()) / sd if sd > 0 else np.zeros_like(s)
        X[:, 2] = np.clip(z, *Z_CLIP)
    return X


def _bucket_features(scores: np.ndarray):
    """Yield (bucket, (i, j), X) with X = [1, log((rank+1)/L), z] for one map's pairs i < j."""
    L = scores.shape[0]
    for name, lo, hi in BUCKETS:
        i, j = np.triu_indices(L, k=lo)
        if hi is not None:
            keep = (j - i) <= hi
            i, j = i[keep], j[keep]
        yield name, (i, j), _features(scores[i, j].astype(np.float64), i, j, L)


def inter_blocks(cmap: ContactMap):
    """Yield (i, j, L_min) for each chain pair's block of a complex (i in the earlier chain)."""
    spans = cmap.chain_spans() if cmap.is_complex else []
    for m, (_, a0, a1) in enumerate(spans):
        for _, b0, b1 in spans[m + 1 :]:
            i, j = np.meshgrid(np.arange(a0, a1), np.arange(b0, b1), indexing="ij")
            yield i.ravel(), j.ravel(), min(a1 - a0, b1 - b0)


def inter_features(cmap: ContactMap):
    """Yield ((i, j), X) per chain pair's block: rank over L_min and z within the block."""
    for i, j, lmin in inter_blocks(cmap):
        yield (i, j), _features(cmap.contacts[i, j].astype(np.float64), i, j, lmin)


def _truth_mask(truth: np.ndarray, valid: np.ndarray | None, L: int, name: str):
    t = np.asarray(truth)
    if t.shape != (L, L):
        raise ContactplugError(f"{name}: true contacts have shape {t.shape}, expected ({L}, {L})")
    ok = np.ones((L, L), dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if t.dtype.kind == "f":
        ok = ok & np.isfinite(t)
        t = np.nan_to_num(t)
    ok = ok & (t >= 0)
    return t > 0, ok


def _collect(maps, truths, valid):
    """Per bucket: stacked X, y over all pairs with a known truth; plus per-pair protein index."""
    if len(maps) != len(truths):
        raise ContactplugError(f"{len(maps)} maps but {len(truths)} truth matrices")
    if valid is not None and len(valid) != len(maps):
        raise ContactplugError(f"{len(maps)} maps but {len(valid)} validity masks")
    data = {name: ([], [], []) for name, _, _ in BUCKETS}
    for n, cmap in enumerate(maps):
        y_full, ok = _truth_mask(
            truths[n], None if valid is None else valid[n], cmap.length, cmap.id
        )
        for name, (i, j), X in _bucket_features(cmap.contacts):
            keep = ok[i, j]
            data[name][0].append(X[keep])
            data[name][1].append(y_full[i, j][keep].astype(np.float64))
            data[name][2].append(np.full(int(keep.sum()), n))
    return {
        name: tuple(np.concatenate(parts) if parts else np.zeros(0) for parts in v)
        for name, v in data.items()
    }


def _nll(X: np.ndarray, y: np.ndarray, w: np.ndarray, penalty: np.ndarray) -> float:
    eta = X @ w
    # log(1 + exp(eta)) - y * eta, computed without overflow
    return float(np.sum(np.logaddexp(0.0, eta) - y * eta) + 0.5 * np.sum(penalty * w * w))


def _newton(X: np.ndarray, y: np.ndarray, ridge: float, iters: int = 100) -> np.ndarray:
    """Penalized logistic regression by Newton steps with backtracking (never diverges)."""
    w = np.zeros(X.shape[1])
    prior = np.clip(y.mean(), 1e-4, 1 - 1e-4)
    w[0] = np.log(prior / (1 - prior))
    penalty = np.full(X.shape[1], ridge * len(y))
    penalty[0] = 0.0
    loss = _nll(X, y, w, penalty)
    for _ in range(iters):
        p = _sigmoid(X @ w)
        grad = X.T @ (p - y) + penalty * w
        hess = (X * (p * (1 - p))[:, None]).T @ X + np.diag(penalty + 1e-6 * len(y))
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-6:
            trial = w - t * step
            new = _nll(X, y, trial, penalty)
            if new <= loss:
                break
            t *= 0.5
        else:
            break
        w, done = trial, loss - new < 1e-10 * max(1.0, abs(loss))
        loss = new
        if done:
            break
    return w


def _logistic(X: np.ndarray, y: np.ndarray, ridge: float = RIDGE) -> np.ndarray:
    """Logistic fit whose index never falls as the score rises: the log-rank weight must be
    <= 0 and the z weight >= 0; a feature whose weight comes out with the wrong sign (they are
    collinear) is dropped and the rest refitted."""
    want = {1: -1.0, 2: 1.0}
    cols = [0, 1, 2]
    while True:
        w_sub = _newton(X[:, cols], y, ridge)
        w = np.zeros(X.shape[1])
        w[cols] = w_sub
        bad = [c for c in cols if c in want and w[c] * want[c] < 0]
        if not bad:
            return w
        cols.remove(max(bad, key=lambda c: abs(w[c])))


def _pav(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pool-adjacent-violators: the non-decreasing fit of y (weights w), same length."""
    vals, wts, sizes = [], [], []
    for v, wt in zip(y.tolist(), w.tolist(), strict=True):
        vals.append(v)
        wts.append(wt)
        sizes.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            v2, w2, n2 = vals.pop(), wts.pop(), sizes.pop()
            total = wts[-1] + w2
            vals[-1] = (vals[-1] * wts[-1] + v2 * w2) / total
            wts[-1] = total
            sizes[-1] += n2
    return np.repeat(vals, sizes)


def _isotonic_knots(eta: np.ndarray, y: np.ndarray, bins: int = ISO_BINS) -> list[list[float]]:
    """Knots (eta, P) of a monotone map: quantile bins of eta (each >= MIN_BIN pairs), their
    contact frequency, then pool-adjacent-violators so P never falls as eta rises."""
    order = np.argsort(eta, kind="stable")
    eta, y = eta[order], y[order]
    n_bins = int(max(1, min(bins, len(y) // MIN_BIN)))
    groups = np.array_split(np.arange(len(y)), n_bins)
    x = np.array([eta[g].mean() for g in groups])
    freq = np.array([y[g].mean() for g in groups])
    n = np.array([len(g) for g in groups], dtype=np.float64)
    p = _pav(freq, n)
    # inside a run of equal P only its two ends matter to np.interp
    keep = np.ones(len(p), dtype=bool)
    keep[1:-1] = (p[1:-1] != p[:-2]) | (p[1:-1] != p[2:])
    return [[float(a), float(b)] for a, b in zip(x[keep], p[keep], strict=True)]


def fit(
    maps: list[ContactMap],
    truths: list[np.ndarray],
    valid: list[np.ndarray] | None = None,
    model: str = "",
    method: str = "",
    fingerprint: str = "",
) -> Calibration:
    """Fit on maps and their true-contact matrices (bool, or float with NaN / -1 = unknown)."""
    if not maps:
        raise ContactplugError("no maps to fit a calibration on")
    data = _collect(maps, truths, valid)
    coef: dict[str, list[float]] = {}
    knots: dict[str, list[list[float]]] = {}
    counts: dict[str, list[int]] = {}
    for name, (X, y, _) in data.items():
        if len(y) == 0:
            continue
        if y.min() == y.max():
            log.warning("calibration: every %s pair has the same truth; bucket left out", name)
            continue
        w = _logistic(X, y)
        coef[name] = [float(v) for v in w]
        knots[name] = _isotonic_knots(X @ w, y)
        counts[name] = [int(len(y)), int(y.sum())]
    if not coef:
        raise ContactplugError(
            "cannot fit a calibration: no bucket has both contacts and non-contacts"
        )
    info = {"n_proteins": len(maps), "pairs_and_contacts": counts}
    return Calibration(coef, knots, model=model, method=method, fingerprint=fingerprint, info=info)


def reliability(p: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> dict:
    """Expected calibration error over equal-width bins, with the per-bin table."""
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(p) == 0:
        return {"ece": float("nan"), "brier": float("nan"), "n": 0, "bins": []}
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        sel = which == b
        n = int(sel.sum())
        if n == 0:
            continue
        mean_p, freq = float(p[sel].mean()), float(y[sel].mean())
        ece += n / len(p) * abs(mean_p - freq)
        table.append(
            {
                "lo": float(edges[b]),
                "hi": float(edges[b + 1]),
                "n": n,
                "mean_p": mean_p,
                "freq": freq,
            }
        )
    return {
        "ece": float(ece),
        "brier": float(np.mean((p - y) ** 2)),
        "n": int(len(p)),
        "bins": table,
    }


def evaluate(
    calibration: Calibration,
    maps: list[ContactMap],
    truths: list[np.ndarray],
    valid: list[np.ndarray] | None = None,
    min_sep: int = 6,
) -> dict:
    """Reliability on the given (held-out) proteins: all pairs with |i-j| >= min_sep, and the
    top-L of them per protein by score (the pairs an export usually writes)."""
    all_p, all_y, top_p, top_y = [], [], [], []
    for n, cmap in enumerate(maps):
        y, ok = _truth_mask(truths[n], None if valid is None else valid[n], cmap.length, cmap.id)
        P = calibration.probabilities(cmap)
        pairs = cmap.pairs(min_sep=min_sep)
        i = np.array([a for a, _, _ in pairs], dtype=int)
        j = np.array([b for _, b, _ in pairs], dtype=int)
        keep = ok[i, j]
        i, j = i[keep], j[keep]
        all_p.append(P[i, j])
        all_y.append(y[i, j])
        top_p.append(P[i[: cmap.length], j[: cmap.length]])
        top_y.append(y[i[: cmap.length], j[: cmap.length]])
    cat = np.concatenate
    return {
        "min_sep": min_sep,
        "n_proteins": len(maps),
        "all_pairs": reliability(cat(all_p), cat(all_y)),
        "top_L": reliability(cat(top_p), cat(top_y)),
    }


# ---------------------------------------------------------------- where calibrations live
def suffix(method: str) -> str:
    """Calibrations sit beside the head ranking of the same weights (`readout.cache`)."""
    return f".calibration.{method}.json"


def cached_path(fingerprint: str, method: str) -> Path:
    return cache.cached_path(fingerprint, suffix(method))


def find(cmap: ContactMap) -> Calibration | None:
    """The stored calibration for the map's weights (meta 'fingerprint') and method, if any."""
    fp = str(cmap.meta.get("fingerprint", "")) if isinstance(cmap.meta, dict) else ""
    if not fp:
        return None
    path = cache.stored_path(fp, suffix(cmap.method))
    return load(path) if path is not None else None


def check_match(calibration: Calibration, cmap: ContactMap, source: str) -> None:
    """Warn when a calibration was fitted for other weights or another method."""
    fp = str(cmap.meta.get("fingerprint", "")) if isinstance(cmap.meta, dict) else ""
    if calibration.method and calibration.method != cmap.method:
        log.warning(
            "%s was fitted for method %s, but %s is %s: its probabilities may be off",
            source, calibration.method, cmap.id, cmap.method,
        )  # fmt: skip
    k_fit, k_map = (
        calibration.info.get("k"),
        cmap.meta.get("k") if isinstance(cmap.meta, dict) else None,
    )
    if k_fit is not None and k_map is not None and k_fit != k_map:
        log.warning(
            "%s was fitted on the mean of %s heads, %s uses %s: its probabilities may be off",
            source, k_fit, cmap.id, k_map,
        )  # fmt: skip
    if calibration.fingerprint and fp and calibration.fingerprint != fp:
        log.warning(
            "%s was fitted for weights %s, but %s comes from %s: its probabilities may be off",
            source, calibration.fingerprint, cmap.id, fp,
        )  # fmt: skip
