"""Contacts from attention heads in one forward pass.

Per head: drop BOS/EOS, symmetrize 0.5(A+A^T), APC, zero the diagonal. The `attention`
method averages the top-K heads of the model's ranking (see `heads`); `all-heads` averages
every head; `esm-head` is ESM's own logistic-regression contact head.

The readout runs the model's forward (`Model.forward`, any family): the K wanted heads'
weights are recomputed from q and k in their layers and folded into one L x L sum per
sequence at once, so layers x heads x T x T is never held, and the forward stops after the
last wanted layer. The ESM head is folded the same way, one layer at a time (its regression
is linear in the per-head APC'd maps). Many sequences run in length-sorted padded batches
(`batching`); proteins longer than the window are read in overlapping windows and stitched
(`windows`). Where the residues sit in a token row (after a BOS or not) is the model's say.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from contactplug.files.errors import ContactplugError
from contactplug.files.methods import READOUT_METHODS
from contactplug.models import batching
from contactplug.models.base import Model

# fair-esm's hook path, the reference bench compares with; it lives with the fair-esm families
# now (bench should import it from there: then this line goes)
from contactplug.models.fair_esm_model import HeadCapture  # noqa: F401
from contactplug.readout import windows

log = logging.getLogger("contactplug")
Head = tuple[int, int]  # (layer, head), 0-based
METHODS = READOUT_METHODS  # the readout rows of the method table


def process_heads(
    attn: torch.Tensor, length: int, apc: bool = True, first: int = 1
) -> torch.Tensor:
    """K x T x T raw attention of one sequence -> K x L x L symmetrized, APC'd, zero diagonal
    (first: the row index of residue 0, `Model.first_residue`)."""
    a = attn[..., first : first + length, first : first + length].float()
    a = a + a.transpose(-1, -2)
    a.mul_(0.5)
    if apc:
        row = a.sum(-1, keepdim=True)
        col = a.sum(-2, keepdim=True)
        total = a.sum((-1, -2), keepdim=True).clamp_min(torch.finfo(a.dtype).tiny)
        a.sub_(row * col / total)
    a.diagonal(dim1=-2, dim2=-1).zero_()
    return a


def _apc_fair_esm(x: torch.Tensor) -> torch.Tensor:
    """fair-esm's apc(symmetrize(x)) of its contact head, in place on the symmetrized copy."""
    x = x + x.transpose(-1, -2)
    row = x.sum(-1, keepdim=True)
    col = x.sum(-2, keepdim=True)
    total = x.sum((-1, -2), keepdim=True)
    return x.sub_(row * col / total)


def by_layer(heads: Sequence[Head]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for layer, head in heads:
        out.setdefault(layer, [])
        if head not in out[layer]:
            out[layer].append(head)
    return out


def all_heads(model: Model) -> list[Head]:
    return [(layer, head) for layer in range(model.num_layers) for head in range(model.num_heads)]


@torch.no_grad()
def batch_maps(
    model: Model, sequences: Sequence[str], method: str, heads: Sequence[Head] | None = None
) -> list[np.ndarray]:
    """One L x L map per sequence from one padded batch forward (float32 numpy)."""
    if method == "all-heads":
        heads = all_heads(model)
    elif method == "esm-head":
        heads = all_heads(model)
        weight, bias = model.contact_regression()
    elif method != "attention":
        raise ContactplugError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if not heads:
        raise ContactplugError("the attention method needs a head ranking (see select-heads)")
    lengths = [len(s) for s in sequences]
    acc = [torch.zeros(n, n, device=model.device) for n in lengths]
    n_heads, first = model.num_heads, model.first_residue

    def fold(layer: int, wanted: list[int], probs: torch.Tensor) -> None:
        for b, length in enumerate(lengths):
            if method == "esm-head":
                crop = probs[b, :, first : first + length, first : first + length]
                w = weight[layer * n_heads : (layer + 1) * n_heads][wanted]
                acc[b] += torch.tensordot(w, _apc_fair_esm(crop), dims=1)
            else:
                acc[b] += process_heads(probs[b], length, first=first).sum(0)

    model.forward(model.tokens(list(sequences)), by_layer(heads), fold, logits=False)
    out = []
    for b, a in enumerate(acc):
        if method == "esm-head":
            a = torch.sigmoid(a + bias)
            a = 0.5 * (a + a.T)
            a.fill_diagonal_(0)
        else:
            a /= len(heads)
        out.append(a.cpu().numpy())
        acc[b] = None
    return out


@torch.no_grad()
def head_maps(model: Model, sequence: str, heads: Sequence[Head]) -> torch.Tensor:
    """K x L x L processed maps of the given heads from one forward pass (float32)."""
    length = len(sequence)
    kept: dict[Head, torch.Tensor] = {}

    def keep(layer: int, wanted: list[int], probs: torch.Tensor) -> None:
        maps = process_heads(probs[0], length, first=model.first_residue)
        for n, head in enumerate(wanted):
            kept[(layer, head)] = maps[n]

    model.forward(model.tokens([sequence]), by_layer(heads), keep, logits=False)
    return torch.stack([kept[tuple(h)] for h in heads]).cpu()


def esm_head_map(model: Model, sequence: str) -> np.ndarray:
    return batch_maps(model, [sequence], "esm-head")[0]


def windowed_map(
    model: Model,
    sequence: str,
    method: str,
    heads: Sequence[Head] | None,
    window: int,
    overlap: int | None = None,
    batch_size: int | None = None,
) -> tuple[np.ndarray, dict]:
    """A long protein's map from overlapping windows (see `windows`); and the meta it earns."""
    if window > model.max_length:
        raise ContactplugError(f"--window {window} exceeds the model's {model.max_length}")
    overlap = windows.default_overlap(window) if overlap is None else overlap
    spans = windows.spans(len(sequence), window, overlap)
    stitcher = windows.Stitcher(len(sequence))
    per_layer = (
        model.num_heads if method != "attention" else max(map(len, by_layer(heads).values()))
    )
    sizes = [e - s for s, e in spans]
    for group in batching.plan(sizes, model, batch_size, per_layer):
        chunk = [sequence[spans[n][0] : spans[n][1]] for n in group]
        for n, block in zip(group, batch_maps(model, chunk, method, heads), strict=True):
            stitcher.add(spans[n], block)
    scores, uncovered = stitcher.result(0.0 if method == "esm-head" else "min")
    meta = windows.describe(len(sequence), window, overlap)
    meta["uncovered_pairs"] = uncovered
    return scores, meta


def contact_map(
    model: Model,
    sequence: str,
    method: str = "attention",
    heads: Sequence[Head] | None = None,
    window: int | None = None,
    overlap: int | None = None,
) -> np.ndarray:
    """One L x L map. `heads` is required for `attention` (the ranked top-K). With `window`,
    a protein longer than it is read in overlapping windows."""
    if window and len(sequence) > window:
        return windowed_map(model, sequence, method, heads, window, overlap)[0]
    return batch_maps(model, [sequence], method, heads)[0]
