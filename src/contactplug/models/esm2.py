"""ESM-2: fair-esm's own ESM2 weights run by a fused forward (no head weights unless asked).

fair-esm's rotary attention cannot use PyTorch's fused kernel, and asking it for head weights
makes it keep layers x heads x T x T. Here the same weights run with
`scaled_dot_product_attention` (rotary applied to q and k first, as fair-esm does), so a
plain forward never materialises a T x T matrix. Where a caller wants some heads' attention,
softmax(q k^T) is recomputed for those heads only and handed to a callback one layer at a
time; layers whose every head is wanted compute the weights once and reuse them.

It is the same arithmetic in another order: logits match fair-esm's to ~1e-6 (tests hold it
to 1e-4, attention maps to 1e-5). The forward stops after the last layer anyone needs.
ESM-1b/ESM-1v (`esm1b`) run the same fair-esm TransformerLayer stack without rotary: the
layer loop and the LM head here are theirs too.

Reduced precision (`autocast=torch.bfloat16`): the layers' matmuls run on bf16 copies of the
weights, made once per model and packed for oneDNN on CPU, q, k and v stacked into one
matmul and fc1's GELU fused into its call (`low_linear`), accumulating in fp32; the
residual stream, LayerNorm, softmax and the LM head stay fp32. A subset of wanted heads gets
fp32 scores from the bf16 q and k; with every head of a layer wanted (all-heads, esm-head)
q k^T and P @ v are bf16 matmuls too (keys centred first; see `row_blocks`). A callback
with a `layer_rows` method (the readout's fold) gets the wanted heads' probabilities in blocks of
query rows instead of B x k x T x T at once: one block is softmaxed, folded and (all heads
wanted) multiplied by v before the next; T x T per head is never held. Other callbacks get
the same blocks gathered into B x k x T x T (`row_blocks.wanted_heads`, every family's one
path for its wanted heads). When nothing reads the
last layer's output (a readout), that layer stops at its wanted heads' probabilities.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F

from contactplug.models import low_linear, row_blocks
from contactplug.models.base import HeadCallback, Heads, Output
from contactplug.models.fair_esm_model import FairEsmModel

__all__ = ["Esm2Model", "HeadCallback", "Output", "forward", "logits"]


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


def embed(model: FairEsmModel, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
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
    rotary: tuple[torch.Tensor, torch.Tensor] | None,
    wanted: list[int] | None = None,
    low: torch.dtype | None = None,
    on_rows: Callable[[list[int], torch.Tensor, int], None] | None = None,
    output: bool = True,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """One self-attention block (without residual); probabilities of `wanted` heads if asked:
    returned whole, or streamed to `on_rows` in blocks of query rows (then None is returned).
    low: the matmuls' reduced precision (None: the weights' own). output=False: only the
    probabilities (no values, attention output or output projection; None is returned)."""
    attn = layer.self_attn
    batch, length, dim = x.shape
    heads, head_dim = attn.num_heads, attn.head_dim

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.view(batch, length, heads, head_dim).transpose(1, 2)

    q, k, v = low_linear.qkv(x, attn, low, values=output)
    q, k = split(q * attn.scaling), split(k)
    v = split(v) if output else None
    if rotary is not None:
        cos, sin = rotary
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
    out = probs = None
    if wanted:
        out, probs = row_blocks.wanted_heads(q, k, v, padding, wanted, on_rows, output)
    if out is None and output:
        out = _attention(q, k, v, padding)
    if not output:
        return None, probs
    out = out.transpose(1, 2).reshape(batch, length, dim)
    return low_linear.linear(out, attn.out_proj, low), probs


def _attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, padding: torch.Tensor | None
) -> torch.Tensor:
    """softmax(q k^T) v by the fused kernel. A padded batch runs it per sequence on its own
    tokens (rows are right-padded): on CPU the masked kernel over the padded width cost 30 %
    more than unmasked calls on each sequence's length; padded query rows get zeros."""
    if padding is None:
        return F.scaled_dot_product_attention(q, k, v, scale=1.0)
    out = torch.zeros_like(q)
    for b, n in enumerate((~padding).sum(-1).tolist()):
        out[b : b + 1, :, :n] = F.scaled_dot_product_attention(
            q[b : b + 1, :, :n], k[b : b + 1, :, :n], v[b : b + 1, :, :n], scale=1.0
        )
    return out


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


def rotary_for(model: FairEsmModel, length: int, dtype: torch.dtype) -> list[tuple]:
    """One (cos, sin) per layer; layers with equal inv_freq buffers share one table."""
    groups = _rotary_groups(model.esm)
    tables: dict[int, tuple] = {}
    for g in sorted(set(groups)):
        inv = model.esm.layers[g].self_attn.rot_emb.inv_freq
        tables[g] = _rotary_tables(inv, length, dtype)
    return [tables[g] for g in groups]


def wanted_heads(heads: Heads | None, on_heads: HeadCallback | None) -> dict[int, list[int]]:
    """layer -> sorted head indices, empty layers dropped; heads without a callback refused."""
    heads = {int(k): sorted(int(h) for h in v) for k, v in (heads or {}).items() if v}
    if heads and on_heads is None:
        raise ValueError("heads were asked for without an on_heads callback")
    return heads


def autocast_context(tokens: torch.Tensor, autocast: torch.dtype | None):
    if autocast is None:
        return contextlib.nullcontext()
    return torch.autocast(tokens.device.type, dtype=autocast)


def run_layers(
    esm: torch.nn.Module,
    x: torch.Tensor,
    padding: torch.Tensor | None,
    tables: list[tuple] | None,
    heads: dict[int, list[int]],
    on_heads: HeadCallback | None,
    last: int,
    low: torch.dtype | None = None,
    hidden: bool = True,
) -> torch.Tensor:
    """fair-esm TransformerLayers 0..last-1 (pre-LN attention and GELU feed-forward); the
    wanted heads' probabilities go to `on_heads` (in row blocks to its `layer_rows(layer)(wanted,
    block, start)` where it has one). tables: rotary (cos, sin) per layer or None. low: bf16
    matmuls on cached weight copies; the residual stream and LayerNorm stay fp32.
    hidden=False: nobody reads the last layer's output, so that layer stops at its wanted
    heads' probabilities (no values, P @ v, output projection or feed-forward: 1/layers of the
    forward) and the returned states are its input."""
    rows = getattr(on_heads, "layer_rows", None)
    for index in range(last):
        layer = esm.layers[index]
        wanted = heads.get(index)
        rotary = None if tables is None else tables[index]
        on_rows = None if rows is None else rows(index)
        final = not hidden and index == last - 1
        normed = _layer_norm(x, layer.self_attn_layer_norm)
        h, probs = attention_layer(layer, normed, padding, rotary, wanted, low, on_rows, not final)
        if probs is not None:
            on_heads(index, wanted, probs)
            del probs
        if final:
            break
        x = x + h
        h = low_linear.linear(_layer_norm(x, layer.final_layer_norm), layer.fc1, low, gelu=True)
        x = x + low_linear.linear(h, layer.fc2, low)
        del h
    return x


def final_outputs(
    esm: torch.nn.Module,
    x: torch.Tensor,
    out: Output,
    logits: bool,
    columns: Sequence[int] | None,
    representation: bool,
) -> Output:
    """The last layer norm (the final hidden states) and the RoBERTa LM head's logits."""
    if not (logits or representation):
        return out
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


@torch.no_grad()
def forward(
    model: FairEsmModel,
    tokens: torch.Tensor,
    heads: Mapping[int, Sequence[int]] | None = None,
    on_heads: HeadCallback | None = None,
    logits: bool = True,
    columns: Sequence[int] | None = None,
    representation: bool = False,
    autocast: torch.dtype | None = None,
) -> Output:
    """Run ESM-2 on B x T tokens.

    heads: layer -> head indices whose attention probabilities go to `on_heads` (B x k x T x T
    over all T tokens; padded keys get 0, rows of padded queries are left as they are).
    logits / representation: whether the final outputs are needed; when neither is, the
    forward stops after the last wanted layer.
    columns: vocabulary indices of the logits to return (e.g. the 20 amino acids).
    autocast: e.g. torch.bfloat16 to run the layers' matrix products in reduced precision
    (fp32 accumulation; LayerNorm, softmax, the residual stream and the LM head stay fp32).
    """
    esm = model.esm
    heads = wanted_heads(heads, on_heads)
    last = len(esm.layers)
    if not (logits or representation):
        last = max(heads) + 1 if heads else 0
    out = Output(layers_run=last)
    x, padding = embed(model, tokens)
    tables = rotary_for(model, tokens.shape[1], x.dtype if autocast is None else autocast)
    x = run_layers(
        esm, x, padding, tables, heads, on_heads, last, autocast, hidden=logits or representation
    )
    return final_outputs(esm, x, out, logits, columns, representation)


def logits(model: FairEsmModel, tokens: torch.Tensor, columns: Sequence[int] | None = None, **kw):
    """B x T x V logits (float32) of the fast forward."""
    return forward(model, tokens, columns=columns, **kw).logits.float()


class Esm2Model(FairEsmModel):
    """ESM-2 (rotary positions, no embedding norm before the layers)."""

    family = "ESM-2"

    forward = forward  # the fused forward above, the model its first argument
