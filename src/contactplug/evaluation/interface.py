"""Contacts between chains, judged against a multi-chain structure.

Per chain pair of a complex map, one row `inter A-B`: the precision of its top 5, top 10 and
top L_min/5 inter-chain pairs (ranked within that pair's block, on the block's own scale) and
the interface-residue recall of the top L_min/5, each beside its random baseline, since an
interface's base rate is tiny (~0.2 % of residue pairs) and no inter-chain figure means
anything without it.

Identical chains (a homo-oligomer): a single-sequence model cannot tell a pair within one copy
from the same pair across copies, so a predicted pair (A:p, B:q) counts as correct when p-q is
in contact across the copies (either way round) or within either copy (|p - q| >= 6, as intra
pairs are scored); the baseline is counted the same way, and the strict across-only figures
sit beside them. From a single chain's map scored against a homo-oligomer structure,
`interface_candidates` lists the top pairs far apart within every copy but in contact across
copies.
"""

from __future__ import annotations

import math
import os

import numpy as np

from contactplug.files.contactmap import ContactMap
from contactplug.files.errors import ContactplugError
from contactplug.files.specs import RANGES
from contactplug.inputs.structure import (
    align,
    protein_chains,
    query_coords,
    read_chain,
    read_structure,
)

MIN_SEP = RANGES["short"][0]  # within a copy, pairs closer in sequence are trivially in contact
INTER_TOPS = ("5", "10", "Lmin/5")
INTER_METRICS = [f"inter_P@{t}" for t in INTER_TOPS]
ACROSS_METRICS = [f"across_P@{t}" for t in INTER_TOPS]
INTER_COLUMNS = (
    INTER_METRICS
    + ["inter_base_rate", "interface_recall", "interface_recall_base"]
    + ["interface_residues", "n_valid_inter", "n_true_inter", "identical_chains"]
    + ACROSS_METRICS
    + ["across_base_rate"]
)
HOMO_NOTE = (
    "identical chains: a single-sequence model cannot tell a pair within one copy from the "
    f"same pair across copies; a pair counts when in contact across them (either way round) "
    f"or within either copy (|i-j| >= {MIN_SEP}); across_* count contacts across copies only"
)


def is_inter_row(row: dict) -> bool:
    return str(row.get("chain", "")).startswith("inter ")


def _tops(l_min: int) -> dict[str, int]:
    return {"5": 5, "10": 10, "Lmin/5": max(1, l_min // 5)}


def ranked_block(scores: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The valid pairs of a block (rows, columns), best score first; ties by position."""
    i, j = np.nonzero(valid)
    order = np.lexsort((j, i, -scores[i, j]))
    return i[order], j[order]


def top_precision(hits: np.ndarray, l_min: int, prefix: str) -> dict:
    """Precision of the top 5, 10, L_min/5 of ranked hits, and the base rate beside them."""
    out = {}
    for label, n in _tops(l_min).items():
        n = min(n, len(hits))
        out[f"{prefix}_P@{label}"] = float(hits[:n].mean()) if n else math.nan
    out[f"{prefix}_base_rate"] = float(hits.mean()) if len(hits) else math.nan
    return out


def covered_by_chance(degree: np.ndarray, n_valid: int, n_top: int) -> np.ndarray:
    """Chance that n_top pairs drawn at random (without replacement) from n_valid touch a
    residue that is in `degree` of them: 1 - C(N - d, n) / C(N, n)."""
    k = np.arange(n_top)[None, :]
    left = (n_valid - degree[:, None] - k) / (n_valid - k)
    return 1.0 - np.prod(np.clip(left, 0.0, None), axis=1)


def interface_recall(
    truth: np.ndarray, valid: np.ndarray, i_top: np.ndarray, j_top: np.ndarray, homo: bool
) -> tuple[float, float, int]:
    """(recall, its random baseline, interface residues): the interface residues (a true
    contact across the block) that the top pairs touch. For identical chains a position is
    one residue of the shared sequence, touched from either side."""
    n_valid, n_top = int(valid.sum()), len(i_top)
    if homo:
        face = truth.any(axis=1) | truth.any(axis=0)
        touched = np.zeros(len(face), bool)
        touched[i_top] = touched[j_top] = True
        degree = valid.sum(axis=1) + valid.sum(axis=0) - np.diag(valid)
        found, degree = touched[face], degree[face]
    else:
        rows, cols = truth.any(axis=1), truth.any(axis=0)
        hit_rows, hit_cols = np.zeros(len(rows), bool), np.zeros(len(cols), bool)
        hit_rows[i_top], hit_cols[j_top] = True, True
        found = np.concatenate([hit_rows[rows], hit_cols[cols]])
        degree = np.concatenate([valid.sum(axis=1)[rows], valid.sum(axis=0)[cols]])
    if not len(found):
        return math.nan, math.nan, 0
    chance = covered_by_chance(degree.astype(np.float64), n_valid, n_top)
    return float(found.mean()), float(chance.mean()), int(len(found))


def homo_truth(contacts: np.ndarray, a: tuple[int, int], b: tuple[int, int]) -> np.ndarray:
    """For identical chains a and b: (p, q) in contact across the copies either way round, or
    within either copy at |p - q| >= MIN_SEP."""
    (a0, a1), (b0, b1) = a, b
    across = contacts[a0:a1, b0:b1]
    n = a1 - a0
    far = np.abs(np.subtract.outer(np.arange(n), np.arange(n))) >= MIN_SEP
    within = (contacts[a0:a1, a0:a1] | contacts[b0:b1, b0:b1]) & far
    return across | across.T | within


def pair_row(
    cmap: ContactMap, contacts: np.ndarray, valid: np.ndarray, a: int, b: int, names: list[str]
) -> dict:
    """The `inter A-B` figures for chains a and b (0-based, in map order) of a complex map."""
    spans = cmap.chain_spans()
    (_, a0, a1), (_, b0, b1) = spans[a], spans[b]
    scores, ok = cmap.contacts[a0:a1, b0:b1], valid[a0:a1, b0:b1]
    across = contacts[a0:a1, b0:b1]
    homo = cmap.sequence[a0:a1] == cmap.sequence[b0:b1]
    truth = homo_truth(contacts, (a0, a1), (b0, b1)) if homo else across
    i, j = ranked_block(scores, ok)
    l_min = min(a1 - a0, b1 - b0)
    n_top = min(_tops(l_min)["Lmin/5"], len(i))
    recall, recall_base, n_face = interface_recall(across, ok, i[:n_top], j[:n_top], homo)
    row = {"L": l_min, "chain": f"inter {names[a]}-{names[b]}"}
    row.update(top_precision(truth[i, j], l_min, "inter"))
    row.update(
        interface_recall=recall,
        interface_recall_base=recall_base,
        interface_residues=n_face,
        n_valid_inter=int(ok.sum()),
        n_true_inter=int((truth & ok).sum()),
        identical_chains="yes" if homo else "no",
    )
    if homo:
        row.update(top_precision(across[i, j], l_min, "across"))
        row["note"] = HOMO_NOTE
    return row


def inter_rows(
    cmap: ContactMap, contacts: np.ndarray, valid: np.ndarray, names: list[str], base: dict
) -> list[dict]:
    """One row per chain pair (A-B, A-C, B-C, ...), `base` holding the map's facts."""
    n = len(cmap.chain_spans())
    rows = []
    for a in range(n):
        for b in range(a + 1, n):
            rows.append({**base, **pair_row(cmap, contacts, valid, a, b, names)})
    return rows


def _distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """|x_p - y_q| for every (p, q); inf where either is missing."""
    d = np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))
    return np.where(np.isfinite(d), d, np.inf)


def _copies(cmap: ContactMap, path: str | os.PathLike, chain: str | None) -> list:
    """(name, coordinates over the map's positions) of the scored chain, then of every other
    protein chain whose sequence matches the map's (identity >= 90 %)."""
    st = read_structure(path)
    first = read_chain(path, chain or cmap.chain, structure=st)
    out = [(first.name, first, align(cmap.sequence, first.sequence))]
    for name in protein_chains(path):
        if name == first.name:
            continue
        other = read_chain(path, name, structure=st)
        try:
            out.append((name, other, align(cmap.sequence, other.sequence)))
        except ContactplugError:
            continue  # another protein: not a copy
    return out


def interface_candidates(
    cmap: ContactMap,
    path: str | os.PathLike,
    chain: str | None = None,
    cutoff: float = 8.0,
    atom: str = "CB",
    top: int | None = None,
) -> dict | None:
    """A single chain's top pairs (|i-j| >= 6; default the top L) that are far apart within
    every copy of the chain in a homo-oligomer structure (not in contact in any copy where
    both are resolved) but in contact across two copies; None when the structure holds no
    other copy. `base_rate`: the fraction of all such far-within pairs in contact across."""
    if cmap.is_complex:
        raise ContactplugError(f"{cmap.id}: interface candidates are for a single chain's map")
    copies = _copies(cmap, path, chain)
    if len(copies) < 2:
        return None
    xyz = [query_coords(c, m, atom) for _, c, m in copies]
    within = np.min([_distances(x, x) for x in xyz], axis=0)
    across = np.full_like(within, np.inf)
    which = np.zeros(within.shape, dtype=np.int64)
    labels = []
    for c, x in enumerate(xyz):
        for d, y in enumerate(xyz):
            if c != d:
                dist = _distances(x, y)
                which = np.where(dist < across, len(labels), which)
                across = np.minimum(across, dist)
                labels.append(f"{copies[c][0]}-{copies[d][0]}")
    far = np.isfinite(within) & (within >= cutoff)
    i, j = np.triu_indices(cmap.length, k=MIN_SEP)
    pool = far[i, j] & np.isfinite(across[i, j])
    found = []
    ranked = cmap.pairs(min_sep=MIN_SEP, top=top or cmap.length)
    for rank, (p, q, score) in enumerate(ranked, start=1):
        if far[p, q] and across[p, q] < cutoff:
            found.append(
                {
                    "i": cmap.label(p),
                    "j": cmap.label(q),
                    "rank": rank,
                    "score": score,
                    "within_min": round(float(within[p, q]), 2),
                    "across": labels[which[p, q]],
                    "across_distance": round(float(across[p, q]), 2),
                }
            )
    return {
        "id": cmap.id,
        "method": cmap.method,
        "chain": copies[0][0],
        "copies": [name for name, *_ in copies],
        "top": len(ranked),
        "far_within": int(sum(far[p, q] for p, q, _ in ranked)),
        "candidates": len(found),
        "base_rate": float((across[i, j][pool] < cutoff).mean()) if pool.any() else math.nan,
        "pairs": found,
    }


def _cell(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def inter_table(rows: list[dict]) -> str:
    """The `inter A-B` rows as a terminal table, each figure beside its random baseline;
    identical chains marked, with what that means."""
    head = ["id", "method", "pair", "L_min", "P@5", "P@10", "P@Lmin/5", "random", "recall",
            "random"]  # fmt: skip
    body = []
    for r in rows:
        star = " *" if r["identical_chains"] == "yes" else ""
        body.append(
            [r["id"], r["method"], r["chain"].removeprefix("inter ") + star, str(r["L"])]
            + [_cell(r[m]) for m in INTER_METRICS]
            + [_cell(r["inter_base_rate"]), _cell(r["interface_recall"])]
            + [_cell(r["interface_recall_base"])]
        )
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    lines = ["  ".join(c.ljust(w) if k < 3 else c.rjust(w) for k, (c, w) in
                       enumerate(zip(cells, widths, strict=True))).rstrip()
             for cells in [head, *body]]  # fmt: skip
    lines.insert(0, "inter-chain (top pairs of each chain pair's block; random = the pair's "
                    "contact fraction, or the recall random pairs would get):")  # fmt: skip
    if any(r["identical_chains"] == "yes" for r in rows):
        lines.append(f"* {HOMO_NOTE}")
    return "\n".join(lines)


def candidates_text(found: dict) -> str:
    """One line for a single chain's candidate interface contacts."""
    pairs = ", ".join(f"{p['i']}-{p['j']} ({p['across']})" for p in found["pairs"][:8])
    more = f", +{len(found['pairs']) - 8} more" if len(found["pairs"]) > 8 else ""
    return (
        f"{found['id']} {found['method']}: of its top {found['top']} pairs, "
        f"{found['far_within']} are far apart within every copy of chain {found['chain']} "
        f"({', '.join(found['copies'])}) and {found['candidates']} of those are in contact "
        f"across copies (candidate interface contacts; random: {_cell(found['base_rate'])})"
        + (f": {pairs}{more}" if pairs else "")
    )


def inter_top_pairs(cmap: ContactMap) -> list[tuple[int, int, float]]:
    """Each chain pair's top max(1, L_min/5) inter-chain pairs (0-based over the map), ranked
    within the pair's own block, as the `inter A-B` rows score them."""
    out = []
    spans = cmap.chain_spans()
    for a, (_, a0, a1) in enumerate(spans):
        for _, b0, b1 in spans[a + 1 :]:
            block = cmap.contacts[a0:a1, b0:b1]
            i, j = ranked_block(block, np.ones(block.shape, bool))
            n = _tops(min(a1 - a0, b1 - b0))["Lmin/5"]
            top = zip(i[:n], j[:n], strict=True)
            out += [(int(p) + a0, int(q) + b0, float(block[p, q])) for p, q in top]
    return out
