"""ProGen2 (Salesforce) in plain torch behind the model interface: a causal forward that hands
over the attention of chosen heads only, and `Progen2Model` (checkpoints and the tokenizer:
`progen2_weights`).

Written from the architecture of `progen2/models/progen/modeling_progen.py` (github
salesforce/progen), a GPT-J: per block, one LayerNorm feeds attention and the feed-forward in
parallel, x += out_proj(attention(n)) + fc_out(gelu_tanh(fc_in(n))), n = ln_1(x); then ln_f
and the biased `lm_head`. The fused `qkv_proj` is stored as eight model-parallel shards, each
[q | v | k] for its heads: its rows are reordered once at load time into q | k | v in head
order (`progen2_weights`), so the forward splits it as the other families do. The rotary
embedding turns adjacent pairs of the first `rotary_dim` dims of each head (base 10000); the
rest pass through. Attention is causal: position i sees j <= i only. Right padding needs no
mask (no real token sees a later one).

What a row holds. A sequence is read N- to C-terminal as its publishers score it: "1"
residues "2" (`first_residue` 1, two terminals; the reversed `2...1` form is not read, see the
README). The probabilities handed over are the model's own, lower-triangular. The logits are
shifted by one so that row t holds the model's distribution over token t given tokens < t
(the causal counterpart of an MLM's logits at t); row 0, which nothing predicts, is zero. The
representation (final hidden states, after ln_f) is unshifted: row t has read tokens <= t.
Parity with the reference modules on random weights: tests/test_progen2.py.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from contactplug.files.errors import ContactplugError
from contactplug.models import low_linear, row_blocks
from contactplug.models.base import (
    HeadCallback,
    Heads,
    Model,
    Output,
    Shape,
    autocast_context,
    checked_heads,
    column_logits,
    padded_rows,
)
from contactplug.models.plain_torch import holder, pair_rotation, rotate_pairs

SHARDS = 8  # the model-parallel shards qkv_proj is stored in (`mp_num` of the reference)


class Progen2(nn.Module):
    """ProGen2's weights (qkv rows in q | k | v head order); `forward` below runs them."""

    def __init__(
        self, d_model: int, n_heads: int, n_layers: int, inner: int, rotary_dim: int | None,
        vocab: int, lm_vocab: int | None, max_tokens: int, eps: float = 1e-5,
    ) -> None:  # fmt: skip
        super().__init__()
        head_dim = d_model // n_heads if n_heads else 0
        if not head_dim or d_model % n_heads or n_heads % SHARDS:
            raise ContactplugError(
                f"ProGen2: {n_heads} heads do not split a width of {d_model} into the "
                f"{SHARDS} shards its qkv_proj is stored in"
            )
        rotary_dim = rotary_dim or head_dim
        if rotary_dim % 2 or rotary_dim > head_dim:
            raise ContactplugError(f"ProGen2: rotary_dim {rotary_dim} is odd or wider than "
                                   f"a head ({head_dim})")  # fmt: skip
        self.d_model, self.n_heads, self.n_layers = d_model, n_heads, n_layers
        self.rotary_dim, self.max_tokens = rotary_dim, max_tokens
        self.wte = nn.Embedding(vocab, d_model)

        def block() -> nn.Module:
            attn = holder(qkv=nn.Linear(d_model, 3 * d_model, bias=False),
                          out_proj=nn.Linear(d_model, d_model, bias=False))  # fmt: skip
            mlp = holder(fc_in=nn.Linear(d_model, inner), fc_out=nn.Linear(inner, d_model))
            return holder(ln_1=nn.LayerNorm(d_model, eps=eps), attn=attn, mlp=mlp)

        self.h = nn.ModuleList(block() for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model, eps=eps)
        self.lm_head = nn.Linear(d_model, lm_vocab) if lm_vocab else None


def causal_bias(length: int, device) -> torch.Tensor:
    """1 x 1 x T x T fp32: 0 on and below the diagonal, -inf above (keys after the query)."""
    return torch.full((length, length), -math.inf, device=device).triu_(1)[None, None]


def _attention(
    net: Progen2,
    attn: nn.Module,
    x: torch.Tensor,
    rotary: tuple[torch.Tensor, torch.Tensor],
    bias: Callable[[], torch.Tensor],
    wanted: list[int] | None,
    on_rows: Callable[[list[int], torch.Tensor, int], None] | None,
    low: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Causal attention (no residual) and the wanted heads' probabilities (or, with `on_rows`,
    those streamed to the readout's fold in blocks of query rows and None returned). low: the
    linears' reduced precision (`low_linear`)."""
    batch, length, d = x.shape
    heads, r = net.n_heads, net.rotary_dim
    q, k, v = (
        t.view(batch, length, heads, d // heads).transpose(1, 2)
        for t in low_linear.linear(x, attn.qkv, low).chunk(3, -1)
    )
    if r == d // heads:
        q, k = rotate_pairs(q, *rotary), rotate_pairs(k, *rotary)
    else:
        q = torch.cat((rotate_pairs(q[..., :r], *rotary), q[..., r:]), dim=-1)
        k = torch.cat((rotate_pairs(k[..., :r], *rotary), k[..., r:]), dim=-1)
    out = probs = None
    if wanted:
        scaled = q / math.sqrt(d // heads)
        out, probs = row_blocks.wanted_heads(scaled, k, v, None, wanted, on_rows, True, bias())
    if out is None:
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    out = out.transpose(1, 2).reshape(batch, length, d)
    return low_linear.linear(out, attn.out_proj, low), probs


@torch.no_grad()
def forward(
    model: Progen2Model,
    tokens: torch.Tensor,
    heads: Heads | None = None,
    on_heads: HeadCallback | None = None,
    logits: bool = True,
    columns: Sequence[int] | None = None,
    representation: bool = False,
    autocast: torch.dtype | None = None,
) -> Output:
    """Run ProGen2 on B x T tokens: the wanted heads' probabilities (fp32, B x k x T x T,
    zero above the diagonal) to `on_heads`, one layer at a time; the logits (shifted: row t
    predicts token t) and the final hidden states if asked. Stops after the last wanted
    layer when neither is asked for."""
    net = model.net
    heads = checked_heads(heads, on_heads, net.n_layers, net.n_heads, "ProGen2")
    if logits and net.lm_head is None:
        raise ContactplugError("the ProGen2 checkpoint has no lm_head (no logits)")
    last = net.n_layers if (logits or representation) else max(heads, default=-1) + 1
    out = Output(layers_run=last)
    rows = getattr(on_heads, "layer_rows", None)  # the readout's fold takes row blocks
    length = tokens.shape[1]
    bias = functools.cache(lambda: causal_bias(length, tokens.device))  # made if heads are read
    with autocast_context(tokens, autocast):
        x = net.wte(tokens)
        rotary = pair_rotation(length, net.rotary_dim, x.device)
        for index in range(last):
            block = net.h[index]
            on_rows = None if rows is None else rows(index)
            n = block.ln_1(x)
            h, probs = _attention(
                net, block.attn, n, rotary, bias, heads.get(index), on_rows, autocast
            )
            if probs is not None:
                on_heads(index, heads[index], probs)
                del probs
            if index == last - 1 and not (logits or representation):
                break  # nobody reads this layer's output: its feed-forward is skipped
            inner = F.gelu(low_linear.linear(n, block.mlp.fc_in, autocast), approximate="tanh")
            x = x + h + low_linear.linear(inner, block.mlp.fc_out, autocast)
            del inner
            del h, n
        if logits or representation:
            x = net.ln_f(x)
            out.representation = x if representation else None
            if logits:
                out.logits = _shifted_logits(net.lm_head, x, columns)
    return out


def _shifted_logits(
    head: nn.Linear, x: torch.Tensor, columns: Sequence[int] | None
) -> torch.Tensor:
    """Row t: the logits the model gives token t from tokens < t (row 0: zero)."""
    shifted = column_logits(x[:, :-1], head, columns).float()  # fp32, as the reference's
    out = torch.zeros(*x.shape[:2], shifted.shape[-1], device=x.device, dtype=torch.float32)
    out[:, 1:] = shifted
    return out


class Progen2Model(Model):
    family = "ProGen2"
    pair_floats = 1  # the readout's causal bias (T x T fp32, one for the batch)

    def __init__(
        self, net: Progen2, vocab: Mapping[str, int], name: str, source: str, fingerprint: str,
        device, dtype,
    ) -> None:  # fmt: skip
        shape = Shape(net.n_layers, net.n_heads, net.d_model, net.wte.num_embeddings,
                      net.max_tokens - 2, None)  # fmt: skip
        has_lm = net.lm_head is not None
        super().__init__(net, shape, name, source, fingerprint, has_lm, False, device, dtype)
        self.net = net
        self.vocab = dict(vocab)
        self.start, self.end, self.pad = vocab["1"], vocab["2"], vocab["<|pad|>"]

    def token_ids(self, letters: Iterable[str]) -> list[int]:
        out = []
        for letter in "".join(letters):
            if letter not in self.vocab or len(letter) != 1 or not letter.isalpha():
                raise ContactplugError(f"{self.name}: no ProGen2 token for residue {letter!r}")
            out.append(self.vocab[letter])
        return out

    def tokens(self, sequences: Sequence[str]) -> torch.Tensor:
        """'1' residues '2' (N- to C-terminal), right-padded with <|pad|>."""
        rows = [[self.start, *self.token_ids(seq), self.end] for seq in sequences]
        return padded_rows(rows, self.pad).to(self.device)

    forward = forward  # the forward above, the model its first argument
