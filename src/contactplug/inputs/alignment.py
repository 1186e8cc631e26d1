"""Sequence-to-structure alignment: affine-gap global alignment with free end gaps (BLOSUM62,
BLAST's 11/1 gap costs), and the identity rule that refuses a structure of another protein."""

from __future__ import annotations

import logging

import numpy as np

from contactplug.files.errors import ContactplugError

log = logging.getLogger("contactplug")
MIN_IDENTITY = 0.9

# BLOSUM62 over the 20 standard amino acids; any other letter scores -1.
_AA = "ARNDCQEGHILKMFPSTWYV"
_BLOSUM62 = """
 4 -1 -2 -2  0 -1 -1  0 -2 -1 -1 -1 -1 -2 -1  1  0 -3 -2  0
-1  5  0 -2 -3  1  0 -2  0 -3 -2  2 -1 -3 -2 -1 -1 -3 -2 -3
-2  0  6  1 -3  0  0  0  1 -3 -3  0 -2 -3 -2  1  0 -4 -2 -3
-2 -2  1  6 -3  0  2 -1 -1 -3 -4 -1 -3 -3 -1  0 -1 -4 -3 -3
 0 -3 -3 -3  9 -3 -4 -3 -3 -1 -1 -3 -1 -2 -3 -1 -1 -2 -2 -1
-1  1  0  0 -3  5  2 -2  0 -3 -2  1  0 -3 -1  0 -1 -2 -1 -2
-1  0  0  2 -4  2  5 -2  0 -3 -3  1 -2 -3 -1  0 -1 -3 -2 -2
 0 -2  0 -1 -3 -2 -2  6 -2 -4 -4 -2 -3 -3 -2  0 -2 -2 -3 -3
-2  0  1 -1 -3  0  0 -2  8 -3 -3 -1 -2 -1 -2 -1 -2 -2  2 -3
-1 -3 -3 -3 -1 -3 -3 -4 -3  4  2 -3  1  0 -3 -2 -1 -3 -1  3
-1 -2 -3 -4 -1 -2 -3 -4 -3  2  4 -2  2  0 -3 -2 -1 -2 -1  1
-1  2  0 -1 -3  1  1 -2 -1 -3 -2  5 -1 -3 -1  0 -1 -3 -2 -2
-1 -1 -2 -3 -1  0 -2 -3 -2  1  2 -1  5  0 -2 -1 -1 -1 -1  1
-2 -3 -3 -3 -2 -3 -3 -3 -1  0  0 -3  0  6 -4 -2 -2  1  3 -1
-1 -2 -2 -1 -3 -1 -1 -2 -2 -3 -3 -1 -2 -4  7 -1 -1 -4 -3 -2
 1 -1  1  0 -1  0  0  0 -1 -2 -2  0 -1 -2 -1  4  1 -3 -2 -2
 0 -1  0 -1 -1 -1 -1 -2 -2 -1 -1 -1 -1 -2 -1  1  5 -2 -2  0
-3 -3 -4 -4 -2 -2 -3 -2 -2 -3 -2 -3 -1  1 -4 -3 -2 11  2 -3
-2 -2 -2 -3 -2 -1 -2 -3  2 -1 -1 -2 -1  3 -3 -2 -2  2  7 -1
 0 -3 -3 -3 -1 -2 -2 -3 -3  3  1 -2  1 -1 -2 -2  0 -3 -1  4
"""
BLOSUM62 = np.full((21, 21), -1, dtype=np.int64)
BLOSUM62[:20, :20] = np.array(_BLOSUM62.split(), dtype=np.int64).reshape(20, 20)
GAP_OPEN = -12  # a gap of length k costs GAP_OPEN + (k - 1) * GAP_EXTEND (BLAST's 11/1)
GAP_EXTEND = -1
_NEG = -(10**9)


def _codes(seq: str) -> np.ndarray:
    lookup = {a: k for k, a in enumerate(_AA)}
    return np.array([lookup.get(c, 20) for c in seq.upper()], dtype=np.int64)


def _nw(q: str, t: str) -> tuple[np.ndarray, int]:
    """Affine-gap global alignment with free end gaps; returns (q index -> t index or -1, score).

    Rows run over q, the inner loop over t is vectorized: a gap in q (a run along the row)
    is a running maximum, exact because opening costs at least as much as extending.
    """
    n, m = len(q), len(t)
    sub = BLOSUM62[_codes(q)][:, _codes(t)]
    cols = np.arange(m + 1)
    H = np.zeros((n + 1, m + 1), dtype=np.int64)  # best score ending at (i, j), any state
    V = np.full(m + 1, _NEG, dtype=np.int64)  # gap in t (q residue unaligned), current row
    state = np.zeros((n + 1, m + 1), dtype=np.int8)  # 0 diagonal, 1 vertical, 2 horizontal
    v_open = np.zeros((n + 1, m + 1), dtype=bool)  # vertical gap opened here (vs extended)
    h_from = np.zeros((n + 1, m + 1), dtype=np.int32)  # column the horizontal gap opened from
    hm_state = np.zeros((n + 1, m + 1), dtype=np.int8)  # state of the max(diag, vertical)
    for i in range(1, n + 1):
        prev = H[i - 1]
        opened = prev + GAP_OPEN
        extended = V + GAP_EXTEND
        v_open[i] = opened >= extended
        V = np.maximum(opened, extended)
        V[0] = _NEG
        D = np.full(m + 1, _NEG, dtype=np.int64)
        D[1:] = prev[:-1] + sub[i - 1]
        HM = np.maximum(D, V)
        HM[0] = 0  # leading gap in t is free
        hm_state[i] = np.where(D >= V, 0, 1)
        A = HM - GAP_EXTEND * cols
        run = np.maximum.accumulate(A)
        arg = np.maximum.accumulate(np.where(A == run, cols, 0))
        Hz = np.full(m + 1, _NEG, dtype=np.int64)
        Hz[1:] = run[:-1] + GAP_OPEN + GAP_EXTEND * (cols[1:] - 1)
        h_from[i, 1:] = arg[:-1]
        H[i] = np.maximum(HM, Hz)
        H[i, 0] = 0
        state[i] = np.where(HM >= Hz, hm_state[i], 2)
    # trailing gaps are free: end anywhere on the last row or column
    i_end = int(np.argmax(H[:, m]))
    j_end = int(np.argmax(H[n, :]))
    if H[i_end, m] >= H[n, j_end]:
        i, j, score = i_end, m, int(H[i_end, m])
    else:
        i, j, score = n, j_end, int(H[n, j_end])
    mapping = np.full(n, -1, dtype=np.int64)
    s = int(state[i, j]) if i > 0 and j > 0 else 0
    while i > 0 and j > 0:
        if s == 0:
            mapping[i - 1] = j - 1
            i, j = i - 1, j - 1
            s = int(state[i, j])
        elif s == 1:
            was_open = v_open[i, j]
            i -= 1
            s = int(state[i, j]) if was_open else 1
        else:
            j = int(h_from[i, j])
            s = int(hm_state[i, j])
    return mapping, score


def align(query: str, chain_seq: str) -> np.ndarray:
    """Query index -> chain index (or -1). Refuses a structure whose sequence does not match."""
    if not query or not chain_seq:
        raise ContactplugError("sequence does not match structure (empty sequence)")
    mapping, _ = _nw(query, chain_seq)
    hit = mapping >= 0
    n_aligned = int(hit.sum())
    same = sum(query[k] == chain_seq[mapping[k]] for k in np.flatnonzero(hit))
    identity = same / n_aligned if n_aligned else 0.0
    shorter = min(len(query), len(chain_seq))
    if n_aligned < 0.5 * shorter or identity < MIN_IDENTITY:
        raise ContactplugError(
            f"sequence does not match structure ({n_aligned} of {len(query)} query residues "
            f"aligned to {len(chain_seq)} structure residues, identity {identity:.0%}; "
            f"need >= {MIN_IDENTITY:.0%} over at least half)"
        )
    if n_aligned < 0.5 * len(query):
        log.warning(
            "only %d of %d query residues are in the structure; the rest are not scored",
            n_aligned,
            len(query),
        )
    return mapping
