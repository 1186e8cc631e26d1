"""A second forward pass over fair-esm's own ESM2 weights: fused attention, no head weights.

fair-esm's rotary attention cannot use PyTorch's fused kernel, and asking it for head weights
makes it keep layers x heads x T x T. Here the same weights run with
`scaled_dot_product_attention` (rotary applied to q and k first, as fair-esm does), so a
plain forward never materialises a T x T matrix. Where a caller wants some heads' attention,
softmax(q k^T) is recomputed for those heads only and handed to a callback one layer at a
time; layers whose every head is wanted compute the weights once and reuse them.

It is the same arithmetic in another order: logits match fair-esm's to ~1e-6 (tests hold it
to 1e-4, attention maps to 1e-5). The forward stops after the last layer anyone needs.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from contactplug.models.base import Model

# callback(layer, head indices, probabilities B x k x T x T); the tensor is freed afterwards
HeadCallback = Callable[[int, list[int], torch.Tensor], None]


@dataclass
class Output:
    logits: torch.Tensor | None = None  # B x T x V (or the asked-for vocabulary columns)
    representation: torch.Tensor | None = None  # B x T x E after the final layer norm
    layers_run: int = 0
    extra: dict = field(default_factory=dict)


def _layer_norm(x: torch.Tensor, ln: torch.nn.Module) -> torch.Tensor:
    return F.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def _rotary_tables(inv_freq: torch.Tensor, length: int, dtype: torch.dtype):
    """cos, sin of shape T x d, computed as fair-esm's RotaryEmbedding does (float32)."""
    t = torch.arange(length, device=inv_freq.device).type_as(inv_freq)
    freqs = torch.einsum("i,j->ij", t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def embed(model: Model, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """B x T x E embeddings with fair-esm's token-dropout rescaling; the padding mask or None."""
    esm = model.esm
    padding = tokens.eq(esm.padding_idx)
    x = esm.embed_scale * esm.embed_tokens(tokens)
    if esm.token_dropout:
        masked = tokens == esm.mask_idx
        x = x.masked_fill(masked.unsqueeze(-1), 0.0)
        mask_ratio_train = 0.15 * 0.8
        lengths = (~padding).sum(-1)
        observed = masked.sum(-1).to(x.dtype) / lengths
        x = x * (1 - mask_ratio_train) / (1 - observed)[:, None, None]
    if padding.any():
        x = x * (1 - padding.unsqueeze(-1).type_as(x))
        return x, padding
    return x, None


def attention_layer(
    layer: torch.nn.Module,
    x: torch.Tensor,
    padding: torch.Tensor | None,
    rotary: tuple[torch.Tensor, torch.Tensor],
    wanted: list[int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One self-attention block (without residual); probabilities of `wanted` heads if asked."""
    attn = layer.self_attn
    batch, length, dim = x.shape
    heads, head_dim = attn.num_heads, attn.head_dim

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.view(batch, length, heads, head_dim).transpose(1, 2)

    q = split(attn.q_proj(x) * attn.scaling)
    k = split(attn.k_proj(x))
    v = split(attn.v_proj(x))
    cos, sin = rotary
    q = q * cos + _rotate_half(q) * sin
    k = k * cos + _rotate_half(k) * sin
    keep = None if padding is None else ~padding[:, None, None, :]  # True = may attend
    probs = None
    if wanted is not None and len(wanted) == heads:
        # every head is wanted: the weights are needed anyway, so use them for the output too
        probs = _softmax(q @ k.transpose(-1, -2), padding)
        out = probs.to(v.dtype) @ v
    else:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, scale=1.0)
        if wanted:
            index = torch.tensor(wanted, device=x.device)
            qs, ks = q.index_select(1, index), k.index_select(1, index)
            probs = _softmax(qs @ ks.transpose(-1, -2), padding)
    out = out.transpose(1, 2).reshape(batch, length, dim)
    return attn.out_proj(out), probs


def _softmax(scores: torch.Tensor, padding: torch.Tensor | None) -> torch.Tensor:
    if padding is not None:
        scores = scores.masked_fill(padding[:, None, None, :], float("-inf"))
    return torch.softmax(scores.float(), dim=-1)


_GROUPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _rotary_groups(esm: torch.nn.Module) -> list[int]:
    """Per layer, the first layer with an equal inv_freq buffer (computed once per model)."""
    if esm not in _GROUPS:
        bufs = [layer.self_attn.rot_emb.inv_freq for layer in esm.layers]
        groups = []
        for n, buf in enumerate(bufs):
            same = [m for m in range(n) if groups[m] == m and torch.equal(bufs[m], buf)]
            groups.append(same[0] if same else n)
        _GROUPS[esm] = groups
    return _GROUPS[esm]


def rotary_for(model: Model, length: int, dtype: torch.dtype) -> list[tuple]:
    """One (cos, sin) per layer; layers with equal inv_freq buffers share one table."""
    groups = _rotary_groups(model.esm)
    tables: dict[int, tuple] = {}
    for g in sorted(set(groups)):
        inv = model.esm.layers[g].self_attn.rot_emb.inv_freq
        tables[g] = _rotary_tables(inv, length, dtype)
    return [tables[g] for g in groups]


@torch.no_grad()
def forward(
    model: Model,
    tokens: torch.Tensor,
    heads: Mapping[int, Sequence[int]] | None = None,
    on_heads: HeadCallback | None = None,
    logits: bool = True,
    columns: Sequence[int] | None = None,
    representation: bool = False,
    autocast: torch.dtype | None = None,
) -> Output:
    """Run the model on B x T tokens.

    heads: layer -> head indices whose attention probabilities go to `on_heads` (B x k x T x T
    over all T tokens; padded keys get 0, rows of padded queries are left as they are).
    logits / representation: whether the final outputs are needed; when neither is, the
    forward stops after the last wanted layer.
    columns: vocabulary indices of the logits to return (e.g. the 20 amino acids).
    autocast: e.g. torch.bfloat16 to run matrix products in reduced precision.
    """
    esm = model.esm
    heads = {int(k): sorted(int(h) for h in v) for k, v in (heads or {}).items() if v}
    if heads and on_heads is None:
        raise ValueError("heads were asked for without an on_heads callback")
    last = len(esm.layers)
    if not (logits or representation):
        last = max(heads) + 1 if heads else 0
    device_type = tokens.device.type
    ctx = (
        torch.autocast(device_type, dtype=autocast)
        if autocast is not None
        else contextlib.nullcontext()
    )
    out = Output(layers_run=last)
    with ctx:
        x, padding = embed(model, tokens)
        tables = rotary_for(model, tokens.shape[1], x.dtype if autocast is None else autocast)
        for index in range(last):
            layer = esm.layers[index]
            wanted = heads.get(index)
            h, probs = attention_layer(
                layer, _layer_norm(x, layer.self_attn_layer_norm), padding, tables[index], wanted
            )
            if probs is not None:
                on_heads(index, wanted, probs)
                del probs
            x = x + h
            h = F.gelu(layer.fc1(_layer_norm(x, layer.final_layer_norm)))
            x = x + layer.fc2(h)
            del h
        if logits or representation:
            x = _layer_norm(x, esm.emb_layer_norm_after)
            if representation:
                out.representation = x
            if logits:
                head = esm.lm_head
                y = _layer_norm(F.gelu(head.dense(x)), head.layer_norm)
                if columns is None:
                    out.logits = F.linear(y, head.weight) + head.bias
                else:
                    cols = torch.as_tensor(list(columns), device=y.device)
                    out.logits = F.linear(y, head.weight[cols]) + head.bias[cols]
    return out


def logits(model: Model, tokens: torch.Tensor, columns: Sequence[int] | None = None, **kw):
    """B x T x V logits (float32) of the fast forward."""
    return forward(model, tokens, columns=columns, **kw).logits.float()
