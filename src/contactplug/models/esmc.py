"""ESM C (EvolutionaryScale) in plain torch: its tokenizer and a forward that hands over the
attention of chosen heads only (its checkpoints: `esmc_weights`).

Written from the architecture, not from EvolutionaryScale's code (their package installs a
module named `esm` and cannot sit beside fair-esm). Per block, pre-LayerNorm throughout and no
biases in the attention or feed-forward matrices:
  q, k, v = chunk(Linear(LayerNorm(x)))  (`attn.layernorm_qkv`, LayerNorm with bias)
  q, k = q_ln(q), k_ln(k)                 (LayerNorm over all d_model, gain only), then rotary
                                          (half-split, base 10000) per 64-dim head
  x += out_proj(attention) / s;  x += SwiGLU feed-forward(LayerNorm(x)) / s
with s = sqrt(layers / 36). The final norm has no bias; `sequence_head` is Linear, GELU,
LayerNorm, Linear (with biases) onto 64 logits. Padding follows the official mask: a token
attends to the tokens of its own kind (real or padding), so real tokens never see padding.
Parity with the official modules is tested on a reduced config (tests/test_esmc.py, fixtures
from scripts/make_esmc_fixtures.py).
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from contactplug.files.errors import ContactplugError
from contactplug.models import low_linear, row_blocks

# The official vocabulary; the embedding and the logits have 64 rows, 33..63 are never used.
VOCAB = ("<cls>", "<pad>", "<eos>", "<unk>") + tuple("LAGVSERTIDPKQNFYMHWCXBUZO.-|") + ("<mask>",)
CLS, PAD, EOS, UNK, MASK = 0, 1, 2, 3, 32
EMBED_ROWS = 64
_IDS = {token: i for i, token in enumerate(VOCAB)} | {"_": MASK}  # '_' is the official mask letter
_TOKEN = re.compile(r"<(?:cls|pad|eos|unk|mask)>|.", re.DOTALL)

# callback(layer, head indices, probabilities B x k x T x T); the tensor is freed afterwards
HeadCallback = Callable[[int, list[int], torch.Tensor], None]


def tokenize(sequence: str) -> list[int]:
    """<cls> residues <eos>, as the official tokenizer: unknown letters (lowercase too) -> <unk>."""
    return [CLS] + [_IDS.get(t, UNK) for t in _TOKEN.findall(sequence)] + [EOS]


def batch_tokens(sequences: Sequence[str]) -> torch.Tensor:
    """B x T int64 tokens, shorter sequences padded with <pad> at the end."""
    rows = [tokenize(s) for s in sequences]
    out = torch.full((len(rows), max(map(len, rows))), PAD, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row)
    return out


def letter_ids(letters: str) -> list[int]:
    """Token ids of single letters, e.g. the 20 amino acids for the Jacobian's substitutions."""
    return [_IDS[c] for c in letters]


def _modules(**children: nn.Module) -> nn.Module:
    holder = nn.Module()
    for name, child in children.items():
        holder.add_module(name, child)
    return holder


def _block(d: int, hidden: int) -> nn.Module:
    """One transformer block under the official names (ffn.2 is the weightless SwiGLU gate)."""
    qkv = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 3 * d, bias=False))
    attn = _modules(
        layernorm_qkv=qkv, out_proj=nn.Linear(d, d, bias=False),
        q_ln=nn.LayerNorm(d, bias=False), k_ln=nn.LayerNorm(d, bias=False),
    )  # fmt: skip
    ffn = nn.Sequential(
        nn.LayerNorm(d), nn.Linear(d, 2 * hidden, bias=False), nn.Identity(),
        nn.Linear(hidden, d, bias=False),
    )  # fmt: skip
    return _modules(attn=attn, ffn=ffn)


def ffn_width(d_model: int) -> int:
    """The official SwiGLU width: 8/3 d_model rounded up to a multiple of 256."""
    return int((8 / 3 * d_model + 255) // 256 * 256)


class ESMC(nn.Module):
    """ESM C weights under the official state-dict names; `forward` below runs them."""

    def __init__(
        self, d_model: int, n_heads: int, n_layers: int, hidden: int | None = None,
        sequence_head: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        if d_model % n_heads or (d_model // n_heads) % 2:
            raise ContactplugError(f"ESM C: d_model {d_model} does not split into {n_heads} heads")
        self.d_model, self.n_heads, self.n_layers = d_model, n_heads, n_layers
        self.embed = nn.Embedding(EMBED_ROWS, d_model)
        hidden = hidden or ffn_width(d_model)
        self.transformer = _modules(
            blocks=nn.ModuleList(_block(d_model, hidden) for _ in range(n_layers)),
            norm=nn.LayerNorm(d_model, bias=False),
        )
        self.sequence_head = None
        if sequence_head:
            self.sequence_head = nn.Sequential(
                nn.Linear(d_model, d_model), nn.GELU(), nn.LayerNorm(d_model),
                nn.Linear(d_model, EMBED_ROWS),
            )  # fmt: skip
        self.residue_scale = math.sqrt(n_layers / 36)  # divides every residual branch
        self.name = f"esmc_{d_model}x{n_layers}"
        self.source = ""

    def forward(self, tokens: torch.Tensor, **kw) -> Output:
        return forward(self, tokens, **kw)


@dataclass
class Output:
    logits: torch.Tensor | None = None  # B x T x 64 (or the asked-for vocabulary columns)
    representation: torch.Tensor | None = None  # B x T x D after the final norm ("embeddings")
    hidden: dict[int, torch.Tensor] = field(default_factory=dict)  # layer -> before final norm
    layers_run: int = 0


def _rotary(length: int, head_dim: int, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    # positions and frequencies in float32 whatever the model's dtype, then cast (as upstream)
    inv_freq = 1.0 / 10000.0 ** (
        torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim
    )
    angles = torch.outer(torch.arange(length, device=device, dtype=torch.float32), inv_freq)
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-second, first), dim=-1) * sin


def _ln(x: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


def _attention(
    model: ESMC,
    attn: nn.Module,
    x: torch.Tensor,
    keep: torch.Tensor | None,
    rotary: tuple[torch.Tensor, torch.Tensor],
    wanted: list[int] | None,
    on_rows: Callable[[list[int], torch.Tensor, int], None] | None = None,
    mask_bias: torch.Tensor | None = None,
    low: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One attention block (no residual): its output and the wanted heads' probabilities, or,
    with `on_rows` (the readout's fold), those streamed in blocks of query rows as ESM-2's
    are and None returned (`row_blocks.wanted_heads`; mask_bias: `keep` as 0 / -inf). low:
    the linears' reduced precision (`low_linear`)."""
    batch, length, d = x.shape
    heads = model.n_heads
    normed = _ln(x, attn.layernorm_qkv[0])
    q, k, v = low_linear.linear(normed, attn.layernorm_qkv[1], low).chunk(3, -1)
    q, k = _ln(q, attn.q_ln), _ln(k, attn.k_ln)  # over the whole d_model, before the head split
    q, k, v = (t.view(batch, length, heads, d // heads).transpose(1, 2) for t in (q, k, v))
    q, k = _rotate(q, *rotary), _rotate(k, *rotary)
    out = probs = None
    if wanted:
        scaled = q / math.sqrt(d // heads)
        out, probs = row_blocks.wanted_heads(scaled, k, v, None, wanted, on_rows, True, mask_bias)
    if out is None:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    out = out.transpose(1, 2).reshape(batch, length, d)
    return low_linear.linear(out, attn.out_proj, low), probs


@torch.no_grad()
def forward(
    model: ESMC,
    tokens: torch.Tensor,
    heads: Mapping[int, Sequence[int]] | None = None,
    on_heads: HeadCallback | None = None,
    logits: bool = True,
    columns: Sequence[int] | None = None,
    representation: bool = False,
    hidden_layers: Sequence[int] = (),
    autocast: torch.dtype | None = None,
) -> Output:
    """Run ESM C on B x T tokens (from `batch_tokens`).

    heads: layer -> head indices (0-based) whose attention probabilities (float32, B x k x T x
    T over all tokens, padded keys 0 for real queries) go to `on_heads`, one layer at a time.
    logits / representation: whether the final outputs are needed; hidden_layers: layers whose
    output (before the final norm, the official `hidden_states`) to keep. The forward stops
    after the last layer anyone needs. columns: vocabulary ids of the logits to return.
    autocast: e.g. torch.bfloat16 to run the matrix products in reduced precision.
    """
    heads = {int(k): sorted(int(h) for h in v) for k, v in (heads or {}).items() if v}
    if heads and on_heads is None:
        raise ValueError("heads were asked for without an on_heads callback")
    for layer, wanted in heads.items():
        if not 0 <= layer < model.n_layers or not 0 <= wanted[0] <= wanted[-1] < model.n_heads:
            raise ContactplugError(f"ESM C has no head {wanted} in layer {layer}")
    if logits and model.sequence_head is None:
        raise ContactplugError(f"{model.name}: the checkpoint has no sequence_head (no logits)")
    keep_hidden = {int(i) for i in hidden_layers}
    last = model.n_layers
    if not (logits or representation):
        last = max(set(heads) | keep_hidden, default=-1) + 1
    ctx = (
        torch.autocast(tokens.device.type, dtype=autocast) if autocast else contextlib.nullcontext()
    )
    out = Output(layers_run=last)
    blocks, s = model.transformer.blocks, model.residue_scale
    with ctx:
        x = model.embed(tokens)
        real = tokens.ne(PAD)
        # the official mask: attend within one's kind; None (the fused path) when nothing pads
        keep = None if bool(real.all()) else (real[:, None, :, None] == real[:, None, None, :])
        dtype = autocast or x.dtype
        rotary = _rotary(tokens.shape[1], model.d_model // model.n_heads, x.device, dtype)
        rows = getattr(on_heads, "layer_rows", None)  # the readout's fold takes row blocks
        # the official mask as a bias for the wanted heads' row blocks: a real query sees real
        # keys, a padded one padded keys (B x 1 x T x T, shared by the heads)
        mask_bias = None
        if keep is not None:
            mask_bias = torch.zeros(keep.shape, device=x.device).masked_fill_(~keep, -math.inf)
        for index in range(last):
            block = blocks[index]
            on_rows = None if rows is None else rows(index)
            h, probs = _attention(
                model, block.attn, x, keep, rotary, heads.get(index), on_rows, mask_bias, autocast
            )
            if probs is not None:
                on_heads(index, heads[index], probs)
                del probs
            if index == last - 1 and not (logits or representation or index in keep_hidden):
                break  # nobody reads this layer's output: its feed-forward is skipped
            x = x + h / s
            normed = _ln(x, block.ffn[0])
            gate, value = low_linear.linear(normed, block.ffn[1], autocast).chunk(2, dim=-1)
            x = x + low_linear.linear(F.silu(gate) * value, block.ffn[3], autocast) / s
            del h, gate, value
            if index in keep_hidden:
                out.hidden[index] = x
        if logits or representation:
            x = _ln(x, model.transformer.norm)
            out.representation = x if representation else None
            if logits:
                head = model.sequence_head
                y = _ln(F.gelu(head[0](x)), head[2])
                weight, bias = head[3].weight, head[3].bias
                if columns is not None:
                    cols = torch.as_tensor(list(columns), device=y.device)
                    weight, bias = weight[cols], bias[cols]
                out.logits = F.linear(y, weight, bias)
    return out
