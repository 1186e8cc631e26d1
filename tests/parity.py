"""Tolerances for fp32 parity tests, from the error fp32 accumulation allows, not from what one
CPU happened to give.

Two fp32 kernels computing the same sum of n products (other blocking, other order, FMA or
not, AMX or AVX-512) differ by about sqrt(n) * u relative to the terms (Higham, *Accuracy and
Stability of Numerical Algorithms*, 2nd ed., the probabilistic bound on inner products;
u = 2**-24, fp32's unit roundoff). Through a transformer the error of each layer adds: its
scores are two such sums (a projection over the width, then q . k), and what a layer passes on
is a sum over the width or the length. A softmax turns an absolute score error d into a
relative probability error of at most 2d (dp_i = p_i (ds_i - sum_j p_j ds_j)), so probabilities
get a relative tolerance, not only an absolute one; maps, logits and hidden states are sums of
such terms and take the same relative part. SAFETY covers the bound's constant and terms
larger than the result (cancellation): at ESM-1b's width (1280) over 2 layers the bound is
8.5e-5, against a largest relative difference of 1.8e-5 measured on an AMX Xeon; a wrong head,
order or mask moves values by 1e-2 or more.
"""

from __future__ import annotations

import math

U = 2.0**-24
SAFETY = 8


def fp32(width: int, layers: int, length: int = 0, atol: float = 1e-5) -> dict[str, float]:
    """assert_allclose's atol and rtol for a result of `layers` layers of width `width` over
    `length` tokens, computed twice in fp32 by different kernels."""
    n = max(width, length, 1)
    return {"atol": atol, "rtol": SAFETY * U * math.sqrt(n) * (2 * layers + 1)}


def of(model, length: int = 0, atol: float = 1e-5) -> dict[str, float]:
    """`fp32` for a loaded contactplug Model."""
    return fp32(model.embed_dim, model.num_layers, length, atol)


def bf16_both_ways(model, sequences: list[str]) -> tuple:
    """A family's bf16 final hidden states two ways: under torch.autocast with no precision
    asked of the forward (every linear's weight cast again at each call: the families' path
    before `models.low_linear`), and the forward asked for bf16 (its linears on copies cast,
    and on the CPU packed, once). The same arithmetic, so the same values."""
    import torch

    tokens = model.tokens(sequences)
    with torch.no_grad():
        with torch.autocast(tokens.device.type, dtype=torch.bfloat16):
            per_call = model.forward(tokens, logits=False, representation=True).representation
        once = model.forward(tokens, logits=False, representation=True, autocast=torch.bfloat16)
    return per_call, once.representation
