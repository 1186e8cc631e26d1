"""What the families' parity tests share when they hold a family to its reference's outputs:
the committed reference read whole, every head of every layer run through the model
interface, and the reference attention processed by hand as the readout processes a head
(so that the readout is held to numbers it did not make itself)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch


def read_reference(path: Path) -> dict[str, np.ndarray]:
    """Every array of a reference .npz, read once (the file is closed again)."""
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def every_head(model, tokens: torch.Tensor, **options) -> tuple[object, dict[int, torch.Tensor]]:
    """`model.forward` with every head of every layer wanted: its Output and layer -> the
    probabilities handed over (copied: the forward may free them)."""
    maps: dict[int, torch.Tensor] = {}
    every = {layer: range(model.num_heads) for layer in range(model.num_layers)}
    out = model.forward(tokens, every, lambda n, h, p: maps.update({n: p.clone()}), **options)
    return out, maps


def processed(a: np.ndarray) -> np.ndarray:
    """One head's map as the readout makes it: float64, 0.5 (A + A^T), then APC."""
    a = a.astype(np.float64)
    a = 0.5 * (a + a.T)
    return a - np.outer(a.sum(1), a.sum(0)) / a.sum()


def folded(maps: Iterable[np.ndarray]) -> np.ndarray:
    """The readout's map of some heads (each cropped to the residues): the mean of the
    processed maps, its diagonal zero."""
    done = [processed(a) for a in maps]
    want = sum(done) / len(done)
    np.fill_diagonal(want, 0)
    return want
