"""The Categorical Jacobian (Zhang et al. 2024), as its authors compute it.

For each position i and each of the 20 amino acids a (ESM token order, wild type included):
J[i,a,j,b] = out_mut[j,b] - out_wt[j,b], from 20*L + 1 sequences. `out` is the 20
amino-acid logits, or (representation-CJ, for checkpoints without an MLM head) the final
hidden state. The map: symmetrize (J + J.transpose(2,3,0,1))/2, centre along each axis in
turn, Frobenius norm per block, zero the diagonal, APC, zero the diagonal again.

Two variants cannot symmetrize the tensor, because its block is not square: representation-CJ
(20 x D blocks) and the mask-token `fast` variant (position i masked, 1 x 20 blocks, L + 1
passes). For those the map is symmetrized instead, after APC; a singleton axis is not centred.

The forwards run on the model's own forward (`Model.forward`, any family), batch size chosen
from free memory unless given. The logit CJ's map is folded row by row into a compact store
(`jacobian_store`: upper-triangle blocks, at most ~23 % of the float32 tensor) instead of
holding the tensor; `to_map` is the plain reference on a whole tensor. Rows can be computed
in chunks of positions (`rows`) and gathered exactly (`map_from_rows` over the concatenation
gives the unsplit map bit for bit), which is how the pipeline spreads one protein over GPUs.
Proteins longer than the window are read in overlapping windows (`windows`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import numpy as np
import torch

from contactplug.files.contactmap import ContactMap
from contactplug.files.errors import ContactplugError, arg
from contactplug.files.methods import jacobian_method
from contactplug.files.sequences import Record, check_length
from contactplug.jacobian.block_store import SymmetricStore, choose_precision
from contactplug.models import batching, joining
from contactplug.models.base import Model
from contactplug.progress import Progress
from contactplug.readout import windows

AMINO_ACIDS = "LAGVSERTIDPKQNFYMHWC"  # ESM's token order (any order does: one for both axes)


def residue_outputs(
    model: Model, tokens: torch.Tensor, representation: bool, autocast=None, keep=None
) -> torch.Tensor:
    """B x L x C: amino-acid logits, or final hidden states, of the residues only (float32);
    keep: the residues' token positions (a complex's, linker left out), else the model's."""
    length = tokens.shape[1] - model.special_tokens
    if representation:
        out = model.forward(
            tokens, logits=False, representation=True, autocast=autocast
        ).representation
    else:
        aa = model.token_ids(AMINO_ACIDS)
        out = model.forward(tokens, columns=aa, autocast=autocast).logits
    return out[:, model.residues(length) if keep is None else keep].float()


def resolve_batch_size(model: Model, length: int, batch_size: int | None) -> int:
    if batch_size is None:
        return batching.auto_batch_size(model, length)
    if batch_size < 1:
        raise ContactplugError(f"{arg('batch_size')} must be at least 1")
    return batch_size


def _wild_type(model: Model, sequence: str | Record, linker: str | None):
    """The wild type's token row (1 x T) and its residues' token positions: a complex's
    chains joined as the readout joins them (`models.joining`), linker positions never
    mutated nor read."""
    record = sequence if isinstance(sequence, Record) else Record("", sequence)
    lay = joining.layout(model, record, linker)
    keep = torch.tensor([first + k for first, n in lay.spans for k in range(n)])
    return joining.batch(model, [lay]), keep.to(model.device), len(record.sequence)


@torch.no_grad()
def row_stream(
    model: Model,
    sequence: str | Record,
    start: int = 0,
    end: int | None = None,
    representation: bool = False,
    fast: bool = False,
    batch_size: int | None = 20,
    progress: bool = True,
    autocast: torch.dtype | None = None,
    linker: str | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """(i, J[i] as A x L x C float32) for i in start..end-1, in order, as batches finish. A
    complex Record's positions run over its chains in order (20 x sum L + 1 forwards)."""
    if not representation and not model.has_lm_head:
        model.require("jacobian")
    wt_tokens, keep, length = _wild_type(model, sequence, linker)
    end = length if end is None else end
    if not 0 <= start < end <= length:
        raise ContactplugError(f"positions {start + 1}-{end} are outside 1-{length}")
    batch_size = resolve_batch_size(model, wt_tokens.shape[1] - model.special_tokens, batch_size)
    base = residue_outputs(model, wt_tokens, representation, autocast, keep)[0]
    width = 1 if fast else len(AMINO_ACIDS)
    if fast:
        model.require(jacobian_method(representation, fast))  # it needs a mask token
    subs = [model.mask_id] if fast else model.token_ids(AMINO_ACIDS)
    mutants = [(i, k) for i in range(start, end) for k in range(width)]
    row = np.empty((width, length, base.shape[-1]), dtype=np.float32)
    # a bar on a terminal, else a line every tenth (see contactplug.progress)
    bar = Progress(len(mutants), f"jacobian {start + 1}-{end}/{length}", "forwards", progress)
    for first in range(0, len(mutants), batch_size):
        chunk = mutants[first : first + batch_size]
        tokens = wt_tokens.repeat(len(chunk), 1)
        for n, (i, k) in enumerate(chunk):
            tokens[n, keep[i]] = subs[k]
        delta = residue_outputs(model, tokens, representation, autocast, keep) - base
        delta = delta.cpu().numpy()
        for n, (i, k) in enumerate(chunk):
            row[k] = delta[n]
            if k == width - 1:
                yield i, row
        bar.update(len(chunk))
    bar.close()


def rows(
    model: Model,
    sequence: str | Record,
    start: int = 0,
    end: int | None = None,
    representation: bool = False,
    fast: bool = False,
    batch_size: int | None = 20,
    progress: bool = True,
    autocast: torch.dtype | None = None,
    linker: str | None = None,
) -> tuple[np.ndarray, int]:
    """J[start:end] as float32 (n x A x L x C) and the forward passes it took (mutants + 1)."""
    text = sequence.sequence if isinstance(sequence, Record) else sequence
    end = len(text) if end is None else end
    out = None
    stream = row_stream(
        model, sequence, start, end, representation, fast, batch_size, progress, autocast, linker
    )
    for i, row in stream:
        if out is None:
            out = np.empty((end - start, *row.shape), dtype=np.float32)
        out[i - start] = row
    return out, (end - start) * out.shape[1] + 1


def to_map(jac: np.ndarray, chain_lengths=None) -> np.ndarray:
    """L x A x L x C Jacobian -> L x L contact scores (float32). The plain reference."""
    length, width, _, channels = jac.shape
    square = width == channels == len(AMINO_ACIDS)
    j = jac.astype(np.float32, copy=True)
    if square:
        j += j.transpose(2, 3, 0, 1)
        j *= 0.5
    for axis in range(4):
        if j.shape[axis] > 1:
            j -= j.mean(axis=axis, keepdims=True, dtype=np.float64).astype(np.float32)
    scores = np.sqrt(np.einsum("iajb,iajb->ij", j, j, dtype=np.float64))
    return finish_map(scores, square, chain_lengths)


def finish_map(scores: np.ndarray, square: bool, chain_lengths=None) -> np.ndarray:
    """Block norms to a contact map: zero diagonal, APC, symmetric (once more), float32. A
    complex (chain_lengths) takes APC per block, as the readout does: each chain's block, and
    each inter-chain block on its own (its norms are far smaller than the intra-chain ones)."""
    np.fill_diagonal(scores, 0)
    if chain_lengths is not None and len(chain_lengths) > 1:
        ends = np.cumsum([0, *chain_lengths])
        for c in range(len(chain_lengths)):
            for d in range(len(chain_lengths)):
                apc_inplace(scores[ends[c] : ends[c + 1], ends[d] : ends[d + 1]])  # a view
    else:
        scores = apc_inplace(scores)
    if not square:
        scores = 0.5 * (scores + scores.T)
    np.fill_diagonal(scores, 0)
    return scores.astype(np.float32)


def apc_inplace(x: np.ndarray, chunk: int = 256) -> np.ndarray:
    """APC of a map or of one block of it (x - r c^T / t; r, c: row and column sums, t: the
    total, 1 when 0), by row chunks in place (no second L x L array): the one numpy APC, for
    every Jacobian map and each block of a complex's. The readout's APC is torch, on its own
    terms: `readout.attention.process_heads` (per head maps, the reference) and its `HeadFold`,
    which never builds a head's map and takes APC as rank-K corrections of the folded sums."""
    row, col, total = x.sum(-1), x.sum(-2), x.sum()
    total = total if total != 0 else 1
    for lo in range(0, len(x), chunk):
        x[lo : lo + chunk] -= np.outer(row[lo : lo + chunk], col) / total
    return x


def map_from_rows(
    stream: Iterable[tuple[int, np.ndarray]],
    length: int,
    precision: str = "auto",
    chain_lengths=None,
) -> np.ndarray:
    """The map from whole rows (i, J[i]) of one protein. Square (logit) rows are folded into
    a SymmetricStore (precision: auto | float32 | int16); other variants are stacked and
    given to `to_map`. chain_lengths: a complex's, for its per-block APC."""
    store = jac = None
    for i, row in stream:
        width, _, channels = row.shape
        if store is None and jac is None:
            if width == channels == len(AMINO_ACIDS):
                store = SymmetricStore(length, width, precision)
            else:
                jac = np.empty((length, *row.shape), dtype=np.float32)
        if store is not None:
            store.add(i, row)
        else:
            jac[i] = row
    if store is not None:
        return finish_map(store.scores(), True, chain_lengths)
    return to_map(jac, chain_lengths)


def contact_map(
    model: Model,
    record: Record,
    representation: bool = False,
    fast: bool = False,
    batch_size: int | None = 20,
    progress: bool = True,
    window: int | None = windows.DEFAULT_WINDOW,
    overlap: int | None = None,
    precision: str = "auto",
    autocast: torch.dtype | None = None,
    linker: str | None = None,
) -> ContactMap:
    """The whole Jacobian of one sequence, turned into a ContactMap. A protein longer than
    `window` gets one Jacobian per overlapping window, stitched (None or 0: refuse it). A
    complex is one Jacobian over its joined chains (20 x sum L + 1 forwards), never windowed:
    one over the model's limit is refused."""
    if record.is_complex:
        return _complex_map(model, record, representation, fast, batch_size, progress,
                            precision, autocast, linker)  # fmt: skip
    length = len(record.sequence)
    if not window:
        check_length(record, model.max_length)
    elif window > model.max_length:
        raise ContactplugError(
            f"{arg('window', value=window)} exceeds the model's {model.max_length}"
        )
    begin = time.perf_counter()
    spans = windows.spans(length, window, overlap) if window else [(0, length)]
    pieces, n_forward = [], 0
    for start, end in spans:
        piece = record.sequence[start:end]
        size = resolve_batch_size(model, len(piece), batch_size)
        stream = row_stream(model, piece, 0, None, representation, fast, size, progress, autocast)
        pieces.append(((start, end), map_from_rows(stream, len(piece), precision)))
        n_forward += len(piece) * (1 if fast else len(AMINO_ACIDS)) + 1
    # the last window's batch size and store, as the windows' loop had written them
    meta = _meta(model, autocast, size, len(piece), precision, not (representation or fast))
    if len(spans) > 1:
        scores, uncovered = windows.stitch(length, pieces, "min")
        shared = windows.default_overlap(window) if overlap is None else overlap
        meta.update(windows.describe(length, window, shared))
        meta["uncovered_pairs"] = uncovered
    else:
        scores = pieces[0][1]
    return ContactMap(
        contacts=scores,
        sequence=record.sequence,
        id=record.id,
        method=jacobian_method(representation, fast),
        model=model.name,
        n_forward=n_forward,
        seconds=time.perf_counter() - begin,
        meta=meta,
    )


def _meta(
    model: Model, autocast, batch_size: int, length: int, precision: str, exact: bool
) -> dict:
    """What a Jacobian map's meta says of its run: device, dtype, weights, batch size, the
    autocast dtype when one ran, and for the logit CJ (`exact`) its store's precision."""
    meta = {
        "device": str(model.device),
        "dtype": str(model.dtype).replace("torch.", ""),
        "model_source": model.source,
        "fingerprint": model.fingerprint,
        "batch_size": batch_size,
    }
    if autocast is not None:
        meta["autocast"] = str(autocast).replace("torch.", "")
    if exact:
        meta["store"] = choose_precision(length) if precision == "auto" else precision
    return meta


def _complex_map(
    model, record, representation, fast, batch_size, progress, precision, autocast, linker
) -> ContactMap:
    begin = time.perf_counter()
    lay = joining.check_fits(model, record, linker)
    size = resolve_batch_size(model, lay.positions - model.special_tokens, batch_size)
    stream = row_stream(
        model, record, 0, None, representation, fast, size, progress, autocast, linker
    )
    scores = map_from_rows(stream, len(record.sequence), precision, record.chain_lengths)
    linker = joining.check_linker(linker or model.default_linker)
    exact = not (representation or fast)
    meta = _meta(model, autocast, size, len(record.sequence), precision, exact)
    return ContactMap(
        contacts=scores,
        sequence=record.sequence,
        id=record.id,
        method=jacobian_method(representation, fast),
        model=model.name,
        n_forward=len(record.sequence) * (1 if fast else len(AMINO_ACIDS)) + 1,
        seconds=time.perf_counter() - begin,
        meta=meta,
        chain_ids=list(record.chain_ids),
        chain_lengths=list(record.chain_lengths),
        linker=linker,
    )
