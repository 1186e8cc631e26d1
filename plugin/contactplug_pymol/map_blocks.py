"""The parts of a contact map drawn as PyMOL groups: each chain's intra-chain pairs and, for a
complex, each chain pair's inter-chain pairs. An inter-chain block is scored on its own scale
(the core's per-block APC), so its pairs are ranked and cut to `top` on their own; `top` words
count from the shorter chain (L_min, as `contactplug evaluate` does)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .contact_files import ContactMap, parse_top, ranked_pairs
from .draw import CONTACT_CUTOFF, Drawn, color_key, draw_pairs
from .loaded_chains import Chain
from .messages import feedback
from .placing import Placed

HOMOMER_MIN_SEP = 6  # a pair within one copy counts from this separation, as intra pairs do
HOMOMER_NOTE = (
    "; identical chains: a single-sequence model cannot tell a pair within one copy from the "
    "same pair across copies"
)


@dataclass
class Block:
    """Pairs to draw: i indexes first.chain.residues, j second's (or first's, intra-chain)."""

    first: Placed
    second: Placed | None
    pairs: list[tuple[int, int, float]]
    absent: int  # best pairs passed over: the loaded chain lacks the file's residue

    @property
    def partner(self) -> Chain | None:
        return None if self.second is None else self.second.chain


def intra_candidates(length: int, lo: int, hi: int | None) -> int:
    """Pairs i < j of a chain with lo <= j - i <= hi."""
    top = length - 1 if hi is None else min(hi, length - 1)
    return sum(length - d for d in range(lo, top + 1))


def planned_count(sizes: list[list[int]], top, lo: int, hi: int | None) -> int:
    """Distance objects a prediction would draw, before any model work: `sizes` holds each
    map's chain lengths (one for a single chain)."""

    def capped(candidates: int, length: int) -> int:
        n = parse_top(top, length)  # None: all; 0 (L/5 of a 4-residue chain) draws none
        return candidates if n is None else min(candidates, n)

    count = 0
    for lengths in sizes:
        count += sum(capped(intra_candidates(n, lo, hi), n) for n in lengths)
        count += sum(capped(a * b, min(a, b)) for a, b in itertools.combinations(lengths, 2))
    return count


def _arrays(pairs: list[tuple[int, int, float]]):
    if not pairs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    i, j, s = zip(*pairs, strict=True)
    return np.array(i), np.array(j), np.array(s)


def _pick(i, j, s, map_i: np.ndarray, map_j: np.ndarray, n: int | None):
    """The best n pairs whose residues are both loaded, and how many were passed over."""
    mi, mj = map_i[i], map_j[j]
    ok = (mi >= 0) & (mj >= 0)
    where = np.flatnonzero(ok)
    if n is not None and len(where) >= n:
        where = where[:n]
        absent = int((~ok[: where[-1] + 1]).sum()) if n else 0
    else:
        absent = int((~ok).sum())
    return [(int(mi[k]), int(mj[k]), float(s[k])) for k in where], absent


def plan(cmap: ContactMap, placed: list[Placed], top, lo: int, hi: int | None) -> list[Block]:
    """Blocks in drawing order: each chain's own, then each chain pair's (A-B, A-C, B-C...)."""
    index, starts = cmap.chain_index(), [first for _, first, _ in cmap.chain_spans()]
    blocks = []
    i, j, s = _arrays(ranked_pairs(cmap, lo, hi, "intra"))
    for k, p in enumerate(placed):
        keep = index[i] == k
        n = parse_top(top, len(p.chain.residues))
        pairs, absent = _pick(
            i[keep] - starts[k], j[keep] - starts[k], s[keep], p.mapping, p.mapping, n
        )
        blocks.append(Block(p, None, pairs, absent))
    if not cmap.is_complex:
        return blocks
    i, j, s = _arrays(ranked_pairs(cmap, kind="inter"))
    for a, b in itertools.combinations(range(len(placed)), 2):
        keep = (index[i] == a) & (index[j] == b)  # i < j: chain a comes first in the map
        pa, pb = placed[a], placed[b]
        n = parse_top(top, min(len(pa.chain.residues), len(pb.chain.residues)))
        pairs, absent = _pick(
            i[keep] - starts[a], j[keep] - starts[b], s[keep], pa.mapping, pb.mapping, n
        )
        blocks.append(Block(pa, pb, pairs, absent))
    return blocks


def _cb_xyz(chain: Chain) -> np.ndarray:
    """Each residue's C-beta (virtual for Gly), NaN where it cannot be had."""
    xyz = [r.cb(chain.ca_only) for r in chain.residues]
    return np.array([np.full(3, np.nan) if x is None else x for x in xyz]).reshape(-1, 3)


def _near(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = np.linalg.norm(x[:, None, :] - y[None, :, :], axis=-1)
    return np.nan_to_num(d, nan=np.inf) < CONTACT_CUTOFF, np.isfinite(d)


def block_truth(a: Chain, b: Chain, copy_blind: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(in contact, measured) for every residue pair of chains a and b, C-beta under 8 A.
    copy_blind (identical chains, as `contactplug evaluate` counts them): (p, q) is in contact
    across the copies either way round, or within either copy at |p - q| >= 6."""
    xa, xb = _cb_xyz(a), _cb_xyz(b)
    across, measured = _near(xa, xb)
    if not copy_blind:
        return across, measured
    n = len(xa)
    far = np.abs(np.subtract.outer(np.arange(n), np.arange(n))) >= HOMOMER_MIN_SEP
    within = (_near(xa, xa)[0] | _near(xb, xb)[0]) & far
    return across | across.T | within, measured


def _figures(truth: np.ndarray, measured: np.ndarray, pairs) -> tuple[str, dict]:
    """'precision p (k/n) against this structure (random baseline r: h/m residue pairs in
    contact)' for the drawn pairs, and its numbers."""
    known = [bool(truth[i, j]) for i, j, _ in pairs if measured[i, j]]
    hits, total = int((truth & measured).sum()), int(measured.sum())
    p = sum(known) / len(known) if known else None
    rate = hits / total if total else None
    prec = "n/a" if p is None else f"{p:.2f} ({sum(known)}/{len(known)})"
    base = "n/a" if rate is None else f"{rate:.4f}: {hits}/{total} residue pairs in contact"
    text = f"precision {prec} against this structure (random baseline {base})"
    return text, {"precision": p, "baseline": rate, "interface_pairs": (hits, total)}


def _inter(block: Block, drawn: Drawn, what: str) -> tuple[str, str, dict]:
    """The chain pair's line, what it adds at the end, and the result's record."""
    chain, partner = block.first.chain, block.partner
    strict, numbers = _figures(*block_truth(chain, partner), drawn.pairs)
    line = (
        f"{chain.obj} chains {chain.chain}-{partner.chain}: {what}, {len(drawn.names)} "
        f"inter-chain pairs drawn as {drawn.group}, inter-chain {strict}"
    )
    record = {"chains": [chain.chain, partner.chain], "copy_blind": None, **numbers}
    record.pop("precision")
    extra = ""
    if chain.sequence == partner.sequence:
        blind, record["copy_blind"] = _figures(
            *block_truth(chain, partner, copy_blind=True), drawn.pairs
        )
        extra = f"{HOMOMER_NOTE}; counted as evaluate does (within either copy or across): {blind}"
    return line, extra, record


def summarise(
    block: Block, drawn: Drawn, what: str, seconds: float, command: str, extra: str = ""
) -> dict:
    """One line in PyMOL's output per group (and the colour key of color_by=score); the
    result's record. An inter-chain precision always comes with its random baseline."""
    chain, partner = block.first.chain, block.partner
    p = drawn.precision
    known = sum(1 for t in drawn.in_contact if t is not None)
    prec = "n/a" if p is None else f"{p:.2f} ({drawn.n_true}/{known})"
    if drawn.skipped:
        extra += f"; {drawn.skipped} pairs skipped (atoms absent)"
    if chain.ca_only or (partner is not None and partner.ca_only):
        extra += "; C-alpha trace: drawn and measured CA-CA"
    record = {"chains": [chain.chain], "baseline": None, "interface_pairs": None}
    if partner is None:
        line = (
            f"{chain.title}: {what}, {len(drawn.names)} drawn as {drawn.group}, precision {prec} "
            "against this structure"
        )
    else:
        line, more, record = _inter(block, drawn, what)
        extra += more
    feedback(f"{line}, {seconds:.1f} s{extra}", command)
    if drawn.score_range is not None:
        feedback(f"{drawn.group} colours: {color_key(*drawn.score_range)}", command)
    return {
        "group": drawn.group,
        "names": drawn.names,
        "pairs": drawn.pairs,
        "in_contact": drawn.in_contact,
        "skipped": drawn.skipped,
        "precision": p,
        "score_range": drawn.score_range,
        **record,
    }


def draw_block(block: Block, group: str, color_by: str, _self) -> Drawn:
    drawn = draw_pairs(block.first.chain, block.pairs, group, color_by, _self, block.partner)
    drawn.skipped += block.absent
    return drawn
