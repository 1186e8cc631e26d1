"""The logit Jacobian's map without holding the L x 20 x L x 20 tensor.

The map needs, per pair (i, j), the Frobenius norm of the block C_ij of the symmetrized
S = (J + J^T)/2 centred along all four axes. Three facts make that compact:

1. Centring along the two amino-acid axes is a projection inside each block. With Q an
   orthonormal 20 x 19 basis orthogonal to the ones vector (Helmert), B_ij = Q^T J_ij Q holds
   exactly the centred block, and ||Q^T X Q||_F = ||P X P||_F: 361 numbers per block, not 400.
2. S is symmetric blockwise (S_ji = S_ij^T), so only blocks with i < j are stored; diagonal
   blocks are never scored (the map's diagonal is zeroed before APC) and enter only the means.
3. Centring along the two position axes subtracts block means over i and over j; those are
   sums of rows, accumulated in float64 as rows arrive (`colsum`, `rowsum`).

Rows are folded in as they arrive: row i adds 0.5 B_ij to pair (i, j) and 0.5 B_ij^T to pair
(j, i). Blocks are kept in float32, or, where that would take more than a quarter of the
float32 tensor (and more than 64 MiB), as 16-bit integers with one float32 scale per block
(block floating point: 726 bytes a pair, 22.7 % of the float32 tensor at L = 1000). float16
was tried first and rejected: its 11-bit significand put errors of 4e-4 of the map's range
into the tiny test model's map (APC removes ~97 % of a random model's block norms); the
per-block scale gives 16 bits against the block's largest value, about 8x finer there.
"""

from __future__ import annotations

import numpy as np

SMALL_STORE = 64 * 2**20  # below this, float32 blocks whatever the share
CHUNK = 128  # blocks per step of `add`
STEPS = 32766  # int16 levels on each side (one short of the limit: scale rounding)


def helmert(n: int) -> np.ndarray:
    """n x (n-1) orthonormal columns, each orthogonal to the ones vector."""
    q = np.zeros((n, n - 1))
    for k in range(1, n):
        q[:k, k - 1] = 1.0
        q[k, k - 1] = -k
        q[:, k - 1] /= np.sqrt(k * (k + 1))
    return q


def choose_precision(length: int, width: int = 20) -> str:
    """'float32' where its store takes at most max(25 % of the float32 tensor, 64 MiB)."""
    tensor = 4 * (length * width) ** 2
    store = 4 * (length * (length - 1) // 2) * (width - 1) ** 2
    return "float32" if store <= max(tensor // 4, SMALL_STORE) else "int16"


class SymmetricStore:
    """Accumulates whole rows J[i] (A x L x A, any order, each once) into the map's statistics.
    precision: 'float32', 'int16' (block floating point) or 'auto' (`choose_precision`)."""

    def __init__(self, length: int, width: int = 20, precision: str = "auto"):
        if precision == "auto":
            precision = choose_precision(length, width)
        if precision not in ("float32", "int16"):
            raise ValueError(f"unknown store precision {precision!r}")
        self.length = length
        self.precision = precision
        self.q = helmert(width)
        d = width - 1
        count = length * (length - 1) // 2
        dtype = np.float32 if precision == "float32" else np.int16
        self.pairs = np.zeros((count, d, d), dtype=dtype)
        self.scale = np.ones(count, dtype=np.float32) if precision == "int16" else None
        self.colsum = np.zeros((length, d, d))
        self.rowsum = np.zeros((length, d, d))
        self.seen = np.zeros(length, dtype=bool)

    def offset(self, i: np.ndarray | int) -> np.ndarray | int:
        """Index of pair (i, i+1) in the flat upper-triangle store."""
        return i * self.length - i * (i + 1) // 2

    @property
    def nbytes(self) -> int:
        extra = 0 if self.scale is None else self.scale.nbytes
        return self.pairs.nbytes + extra + self.colsum.nbytes + self.rowsum.nbytes

    def read(self, index) -> np.ndarray:
        """Blocks at `index` (a slice or an index array) as float64."""
        blocks = self.pairs[index].astype(np.float64)
        if self.scale is not None:
            blocks *= self.scale[index][:, None, None]
        return blocks

    def write(self, index, blocks: np.ndarray) -> None:
        if self.scale is None:
            self.pairs[index] = blocks
            return
        scale = (np.abs(blocks).max(axis=(1, 2)) / STEPS).astype(np.float32)
        scale[scale == 0] = 1
        levels = np.rint(blocks / scale[:, None, None])
        self.pairs[index] = np.clip(levels, -STEPS - 1, STEPS + 1).astype(np.int16)
        self.scale[index] = scale

    def add(self, i: int, row: np.ndarray) -> None:
        if self.seen[i]:
            raise ValueError(f"row {i} was added twice")
        self.seen[i] = True
        width, length, _ = row.shape
        first = self.offset(i)
        total = np.zeros_like(self.rowsum[i])
        for lo in range(0, length, CHUNK):  # chunks of j keep the temporaries small
            hi = min(lo + CHUNK, length)
            # B_ij = Q^T J_ij Q: (d x A)(A x n*A), then (.. x A)(A x d)
            left = self.q.T @ row[:, lo:hi].reshape(width, -1).astype(np.float64)
            blocks = (left.reshape(-1, hi - lo, width) @ self.q).transpose(1, 0, 2)
            self.colsum[lo:hi] += blocks
            total += blocks.sum(0)
            blocks *= 0.5
            a = max(lo, i + 1)  # pairs (i, j) with j > i: a contiguous run of the store
            if a < hi:
                upper = slice(first + a - i - 1, first + hi - i - 1)
                self.write(upper, self.read(upper) + blocks[a - lo :])
            b = min(hi, i)  # pairs (j, i) with j < i take the transposed block
            if lo < b:
                j = np.arange(lo, b)
                lower = self.offset(j) + (i - j - 1)
                self.write(lower, self.read(lower) + blocks[: b - lo].transpose(0, 2, 1))
        self.rowsum[i] = total

    def scores(self) -> np.ndarray:
        """L x L Frobenius norms of the centred blocks (float64, zero diagonal)."""
        if not self.seen.all():
            missing = int((~self.seen).sum())
            raise ValueError(f"{missing} rows of the Jacobian were never added")
        length = self.length
        mean_col = 0.5 * (self.colsum + self.rowsum.transpose(0, 2, 1)) / length  # over i
        mean_all = mean_col.mean(0)
        out = np.zeros((length, length))
        for i in range(length - 1):
            first = self.offset(i)
            block = self.read(slice(first, first + length - i - 1))
            block -= mean_col[i + 1 :]
            block -= mean_col[i].T  # the mean over j of row i is the transposed column mean
            block += mean_all
            out[i, i + 1 :] = np.sqrt(np.einsum("jab,jab->j", block, block))
            out[i + 1 :, i] = out[i, i + 1 :]
        return out
