"""The Categorical Jacobian (Zhang et al. 2024), as its authors compute it.

For each position i and each of the 20 amino acids a (ESM token order, wild type included):
J[i,a,j,b] = out_mut[j,b] - out_wt[j,b], from 20*L + 1 sequences. `out` is the 20
amino-acid logits, or (representation-CJ, for checkpoints without an MLM head) the final
hidden state. The map: symmetrize (J + J.transpose(2,3,0,1))/2, centre along each axis in
turn, Frobenius norm per block, zero the diagonal, APC, zero the diagonal again.

Two variants cannot symmetrize the tensor, because its block is not square: representation-CJ
(20 x D blocks) and the mask-token `fast` variant (position i masked, 1 x 20 blocks, L + 1
passes). For those the map is symmetrized instead, after APC; a singleton axis is not centred.

Rows can be computed in chunks of positions (`rows`) and gathered exactly (`to_map` of the
concatenation), which is how the pipeline spreads one protein over many GPUs.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from tqdm import tqdm

from contactplug.contactmap import ContactMap, apc
from contactplug.errors import ContactplugError
from contactplug.models import Model
from contactplug.sequences import Record, check_length

AMINO_ACIDS = "LAGVSERTIDPKQNFYMHWC"  # ESM's token order


def method_name(representation: bool, fast: bool) -> str:
    return ("repr-" if representation else "") + "jacobian" + ("-fast" if fast else "")


def _outputs(model: Model, tokens: torch.Tensor, representation: bool) -> torch.Tensor:
    """B x L x C: amino-acid logits, or final hidden states, without BOS/EOS."""
    length = tokens.shape[1] - 2
    if representation:
        layer = model.num_layers
        out = model.esm(tokens, repr_layers=[layer])["representations"][layer]
    else:
        aa = [model.alphabet.get_idx(a) for a in AMINO_ACIDS]
        out = model.esm(tokens)["logits"][..., aa]
    return out[:, 1 : length + 1].float()


@torch.no_grad()
def rows(
    model: Model,
    sequence: str,
    start: int = 0,
    end: int | None = None,
    representation: bool = False,
    fast: bool = False,
    batch_size: int = 20,
    progress: bool = True,
) -> tuple[np.ndarray, int]:
    """J[start:end] as float32 (n x A x L x C) and the forward passes it took (mutants + 1)."""
    if not representation and not model.has_lm_head:
        model.require("jacobian")
    length = len(sequence)
    end = length if end is None else end
    if not 0 <= start < end <= length:
        raise ContactplugError(f"positions {start + 1}-{end} are outside 1-{length}")
    if batch_size < 1:
        raise ContactplugError("--batch-size must be at least 1")
    wt_tokens = model.tokens([sequence])
    base = _outputs(model, wt_tokens, representation)[0]
    width = 1 if fast else len(AMINO_ACIDS)
    subs = [model.alphabet.mask_idx] if fast else [model.alphabet.get_idx(a) for a in AMINO_ACIDS]
    mutants = [(i, k) for i in range(start, end) for k in range(width)]
    out = np.empty((end - start, width, length, base.shape[-1]), dtype=np.float32)
    bar = tqdm(
        total=len(mutants),
        desc=f"jacobian {start + 1}-{end}/{length}",
        unit="seq",
        disable=not progress,
        leave=False,
    )
    for first in range(0, len(mutants), batch_size):
        chunk = mutants[first : first + batch_size]
        tokens = wt_tokens.repeat(len(chunk), 1)
        for row, (i, k) in enumerate(chunk):
            tokens[row, i + 1] = subs[k]
        delta = (_outputs(model, tokens, representation) - base).cpu().numpy()
        for row, (i, k) in enumerate(chunk):
            out[i - start, k] = delta[row]
        bar.update(len(chunk))
    bar.close()
    return out, len(mutants) + 1


def to_map(jac: np.ndarray) -> np.ndarray:
    """L x A x L x C Jacobian -> L x L contact scores (float32)."""
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
    np.fill_diagonal(scores, 0)
    scores = apc(scores)
    if not square:
        scores = 0.5 * (scores + scores.T)
    np.fill_diagonal(scores, 0)
    return scores.astype(np.float32)


def contact_map(
    model: Model,
    record: Record,
    representation: bool = False,
    fast: bool = False,
    batch_size: int = 20,
    progress: bool = True,
) -> ContactMap:
    """The whole Jacobian of one sequence, turned into a ContactMap."""
    check_length(record, model.max_length)
    begin = time.perf_counter()
    jac, n_forward = rows(
        model,
        record.sequence,
        representation=representation,
        fast=fast,
        batch_size=batch_size,
        progress=progress,
    )
    scores = to_map(jac)
    return ContactMap(
        contacts=scores,
        sequence=record.sequence,
        id=record.id,
        method=method_name(representation, fast),
        model=model.name,
        n_forward=n_forward,
        seconds=time.perf_counter() - begin,
        meta={
            "batch_size": batch_size,
            "device": str(model.device),
            "dtype": str(model.dtype).replace("torch.", ""),
            "model_source": model.source,
            "fingerprint": model.fingerprint,
        },
    )
