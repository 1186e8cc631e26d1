"""nn.Linear layers in reduced precision (bf16): the weights cast once per model, not per call
as torch.autocast would (that cast alone cost 46 ms a forward on 35M and more than a second
on 150M), accumulating in fp32.

On a CPU where oneDNN runs them, the copies are also packed once into oneDNN's own layout
(`torch.ops.mkldnn._reorder_linear_weight`, what torch.compile's CPU backend does to frozen
weights): F.linear repacks a plain weight at every call. Measured on the AMX Xeon (bf16,
M = 102 rows, 640 -> 2560, one thread): 557 us plain, 336 us packed, the same values to the
bit; and a GELU after it runs inside the same call (oneDNN's erf GELU on the fp32 accumulator,
then rounded once), 369 us against 670 us for F.linear then F.gelu. Elsewhere (CUDA, a CPU
where packing fails) the plain bf16 copy and F.linear, as before.

The query, key and value projections of a layer run as one matmul (`qkv`, `stacked`): one
cast of the input instead of three and one call instead of three (a 102-row call costs tens of
us).

Every family's bf16 forward runs its linears here (ESM-2 with nothing else in reduced
precision; the others inside their torch.autocast, which still casts their attention and
element-wise work): the same values as those linears under torch.autocast, to the bit (each
family's tests hold it), without autocast's per-call weight cast (14-15 % of a bf16 forward
of AMPLIFY 120M and ESM C 300M at L = 100, one thread, on the AVX512-BF16 EPYC).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import torch
import torch.nn.functional as F

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _onednn(weight: torch.Tensor, bias: torch.Tensor | None):
    """weight packed for oneDNN, or None where it cannot run here (then F.linear)."""
    if weight.device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return None
    try:
        packed = torch.ops.mkldnn._reorder_linear_weight(weight)
        probe = torch.zeros(1, weight.shape[1], dtype=weight.dtype)
        torch.ops.mkldnn._linear_pointwise(probe, packed, bias, "none", [], "")
    except (RuntimeError, AttributeError, NotImplementedError):
        return None
    return packed


def _copies(owner: torch.nn.Module, linears: Sequence[torch.nn.Linear], low: torch.dtype):
    """(weight, bias, packed or None) of the linears stacked on their outputs, in `low`; made
    once per owner and kept until any of the weights changes."""
    key = (low, *[(n.weight.data_ptr(), n.weight._version) for n in linears])
    cached = _CACHE.get(owner)
    if cached is None or cached[0] != key:
        weight = torch.cat([n.weight.detach() for n in linears]).to(low)
        biases = [n.bias for n in linears]
        bias = None if any(b is None for b in biases) else torch.cat(biases).detach().to(low)
        cached = (key, weight, bias, _onednn(weight, bias))
        _CACHE[owner] = cached
    return cached[1:]


def _run(x: torch.Tensor, weight, bias, packed, gelu: bool) -> torch.Tensor:
    if packed is not None:
        post, algorithm = ("gelu", "none") if gelu else ("none", "")  # "none": erf, not tanh
        return torch.ops.mkldnn._linear_pointwise(x, packed, bias, post, [], algorithm)
    out = F.linear(x, weight, bias)
    return F.gelu(out) if gelu else out


def linear(
    x: torch.Tensor, layer: torch.nn.Linear, low: torch.dtype | None, gelu: bool = False
) -> torch.Tensor:
    """layer(x), then GELU if asked; with `low`, a matmul on the cast (and packed) copy."""
    if low is None:
        out = layer(x)
        return F.gelu(out) if gelu else out
    return _run(x.to(low), *_copies(layer, [layer], low), gelu)


def stacked(
    x: torch.Tensor,
    owner: torch.nn.Module,
    layers: Sequence[torch.nn.Linear],
    low: torch.dtype | None,
    last: bool = True,
) -> list[torch.Tensor | None]:
    """Each layer(x) of linears that read the same input (owner: the module that holds them,
    the copy's key); with `low`, one matmul of them stacked (views of its output). last=False:
    the last one is not needed (fp32 leaves it out; the stacked matmul makes it anyway)."""
    if low is None:
        return [n(x) for n in layers[:-1]] + [layers[-1](x) if last else None]
    out = _run(x.to(low), *_copies(owner, layers, low), False)
    return list(out.split([n.out_features for n in layers], dim=-1))


def qkv(
    x: torch.Tensor, attn: torch.nn.Module, low: torch.dtype | None, values: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """q, k, v of fair-esm's MultiheadAttention (q_proj, k_proj, v_proj), each B x T x dim
    (`stacked`). values=False: v is not needed."""
    return tuple(stacked(x, attn, [attn.q_proj, attn.k_proj, attn.v_proj], low, values))
