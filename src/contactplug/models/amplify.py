"""AMPLIFY (chandar-lab) in plain torch behind the model interface: its vocabulary, a forward
that hands over the attention of chosen heads only, and `AmplifyModel` (checkpoints:
`amplify_weights`).

Written from the architecture of the published model (`src/amplify/model/amplify.py` of
github chandar-lab/AMPLIFY), not from its code, which imports xformers and its training
package. The released variants (120M, 350M): a bidirectional pre-norm encoder, per block
  x += wo(attention(rotary(q(n)), rotary(k(n)), v(n))),  n = RMSNorm(x)   (no biases)
  x += w3(silu(n w1^T) * (n w2^T)),                      n = RMSNorm(x)   (xformers' SwiGLU:
                                                                  `w12` is w1 stacked on w2)
then RMSNorm (`layer_norm_2`) and the `decoder` Linear onto 27 logits. The rotary embedding
rotates adjacent pairs (q's dims 2i, 2i+1 as one complex number, base 10000, over the whole
head). Padding is an additive mask on the keys only, as the reference's `pad_mask`. Parity
with the reference modules on random weights: tests/test_amplify.py.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence

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

# The published vocabulary (conf/tokenizer/amplify_vocab.txt): ids 0-26, X U Z O are <unk>
VOCAB = ("<pad>", "<unk>", "<mask>", "<bos>", "<eos>", "|") + tuple("LAGVSERTIDPKQNFYMHWCB")
PAD, UNK, MASK, BOS, EOS = 0, 1, 2, 3, 4
_IDS = {token: i for i, token in enumerate(VOCAB)}


def letter_ids(letters: str) -> list[int]:
    """One id per letter, as the published tokenizer gives it (unknown letters: <unk>)."""
    return [_IDS.get(c, UNK) for c in letters]


def batch_tokens(sequences: Sequence[str]) -> torch.Tensor:
    """B x T int64: <bos> residues <eos>, right-padded with <pad>."""
    return padded_rows([[BOS, *letter_ids(seq), EOS] for seq in sequences], PAD)


def swiglu_width(intermediate_size: int) -> int:
    """The reference's SwiGLU width: 2/3 of the config's, rounded up to a multiple of 8."""
    return 8 * ((int(2 * intermediate_size / 3) + 7) // 8)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # in fp32 whatever x is, then cast back (the reference does so since its issue #19)
        y = x.float()
        y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + self.eps)
        return y.type_as(x) * self.weight


def _block(d: int, hidden: int, eps: float) -> nn.Module:
    """One encoder block under the published state-dict names."""
    linear = functools.partial(nn.Linear, bias=False)
    return holder(
        q=linear(d, d), k=linear(d, d), v=linear(d, d), wo=linear(d, d),
        ffn=holder(w12=linear(d, 2 * hidden), w3=linear(hidden, d)),
        attention_norm=RMSNorm(d, eps), ffn_norm=RMSNorm(d, eps),
    )  # fmt: skip


class Amplify(nn.Module):
    """AMPLIFY's weights under the published names; `forward` below runs them."""

    def __init__(
        self, d_model: int, n_heads: int, n_layers: int, hidden: int, vocab: int = len(VOCAB),
        eps: float = 1e-5, max_tokens: int = 2048, decoder: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        if d_model % n_heads or (d_model // n_heads) % 2:
            raise ContactplugError(f"AMPLIFY: hidden size {d_model} does not split into "
                                   f"{n_heads} heads of an even width")  # fmt: skip
        self.d_model, self.n_heads, self.n_layers = d_model, n_heads, n_layers
        self.max_tokens = max_tokens
        self.encoder = nn.Embedding(vocab, d_model)
        self.transformer_encoder = nn.ModuleList(
            _block(d_model, hidden, eps) for _ in range(n_layers)
        )
        self.layer_norm_2 = RMSNorm(d_model, eps)
        self.decoder = nn.Linear(d_model, vocab) if decoder else None


def _attention(
    net: Amplify,
    block: nn.Module,
    x: torch.Tensor,
    padding: torch.Tensor | None,
    rotary: tuple[torch.Tensor, torch.Tensor],
    wanted: list[int] | None,
    on_rows: Callable[[list[int], torch.Tensor, int], None] | None,
    low: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One attention block (no residual) and the wanted heads' probabilities (or, with
    `on_rows`, those streamed to the readout's fold and None returned). low: the linears'
    reduced precision (`low_linear`)."""
    batch, length, d = x.shape
    heads = net.n_heads

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.view(batch, length, heads, d // heads).transpose(1, 2)

    q, k, v = map(split, low_linear.stacked(x, block, [block.q, block.k, block.v], low))
    q, k = rotate_pairs(q, *rotary), rotate_pairs(k, *rotary)
    out = probs = None
    if wanted:
        scaled = q / math.sqrt(d // heads)
        out, probs = row_blocks.wanted_heads(scaled, k, v, padding, wanted, on_rows)
    if out is None:
        mask = None if padding is None else padding[:, None, None, :].logical_not()
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return low_linear.linear(out.transpose(1, 2).reshape(batch, length, d), block.wo, low), probs


@torch.no_grad()
def forward(
    model: AmplifyModel,
    tokens: torch.Tensor,
    heads: Heads | None = None,
    on_heads: HeadCallback | None = None,
    logits: bool = True,
    columns: Sequence[int] | None = None,
    representation: bool = False,
    autocast: torch.dtype | None = None,
) -> Output:
    """Run AMPLIFY on B x T tokens (`batch_tokens`): the wanted heads' probabilities (fp32,
    B x k x T x T, padded keys 0) to `on_heads` one layer at a time; logits (the asked-for
    columns) and the final hidden states (after `layer_norm_2`) if asked. The forward stops
    after the last wanted layer when neither is asked for."""
    net = model.net
    heads = checked_heads(heads, on_heads, net.n_layers, net.n_heads, "AMPLIFY")
    if logits and net.decoder is None:
        raise ContactplugError("the AMPLIFY checkpoint has no decoder (no logits)")
    last = net.n_layers if (logits or representation) else max(heads, default=-1) + 1
    out = Output(layers_run=last)
    rows = getattr(on_heads, "layer_rows", None)  # the readout's fold takes row blocks
    with autocast_context(tokens, autocast):
        x = net.encoder(tokens)
        padding = tokens.eq(PAD)
        padding = padding if bool(padding.any()) else None
        rotary = pair_rotation(tokens.shape[1], net.d_model // net.n_heads, x.device)
        for index in range(last):
            block = net.transformer_encoder[index]
            on_rows = None if rows is None else rows(index)
            normed = block.attention_norm(x)
            h, probs = _attention(
                net, block, normed, padding, rotary, heads.get(index), on_rows, autocast
            )
            if probs is not None:
                on_heads(index, heads[index], probs)
                del probs
            if index == last - 1 and not (logits or representation):
                break  # nobody reads this layer's output: its feed-forward is skipped
            x = x + h
            ffn = block.ffn
            gate, value = low_linear.linear(block.ffn_norm(x), ffn.w12, autocast).chunk(2, -1)
            x = x + low_linear.linear(F.silu(gate) * value, ffn.w3, autocast)
            del h, gate, value
        if logits or representation:
            x = net.layer_norm_2(x)
            out.representation = x if representation else None
            if logits:
                out.logits = column_logits(x, net.decoder, columns)
    return out


class AmplifyModel(Model):
    family = "AMPLIFY"

    def __init__(
        self, net: Amplify, name: str, source: str, fingerprint: str, device, dtype
    ) -> None:
        shape = Shape(
            net.n_layers, net.n_heads, net.d_model, net.encoder.num_embeddings,
            net.max_tokens - 2, MASK,
        )  # fmt: skip
        has_lm = net.decoder is not None
        super().__init__(net, shape, name, source, fingerprint, has_lm, False, device, dtype)
        self.net = net

    def tokens(self, sequences: Sequence[str]) -> torch.Tensor:
        return batch_tokens(list(sequences)).to(self.device)

    def token_ids(self, letters: Iterable[str]) -> list[int]:
        return letter_ids("".join(letters))

    forward = forward  # the forward above, the model its first argument
