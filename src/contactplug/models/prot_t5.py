"""ProtT5 (Rostlab's ProtT5-XL-U50 and its kin): the encoder of an HF T5 folder, run by a fused
forward over transformers' own `T5EncoderModel` weights.

Residues are read as ProtT5 is fed: spaced single letters, the rare residues U, Z, O, B as X,
the folder's own sentencepiece vocabulary, no BOS and one `</s>` at the end. The per-letter
ids are read once from the folder's tokenizer (transformers'), so a row is made without
running the tokenizer on every sequence; tests hold both to the same ids.

Per layer: RMS norm, q k^T (T5 does not scale it) plus the relative position bias that layer
0 computes and every layer reuses (transformers' `compute_bias`), softmax, o; then the RMS-
normed feed-forward (transformers' own module: ReLU or gated GELU). Like the ESM-2 forward it
runs PyTorch's fused attention and recomputes only the wanted heads' probabilities; the
readout's fold gets them in blocks of query rows, the position bias added to each block
(`row_blocks`), so no layer's heads x T x T is held. The
encoder has no MLM head: representation-CJ runs, the logit CJ does not, and there is no mask
token for the `fast` variants.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from contactplug.files.errors import ContactplugError
from contactplug.files.sequences import MAX_LENGTH
from contactplug.models import low_linear, row_blocks
from contactplug.models.base import (
    HeadCallback,
    Heads,
    Model,
    Output,
    Shape,
    autocast_context,
    checked_heads,
    fingerprint_state,
    padded_rows,
    place,
)

RARE = str.maketrans("UZOB", "XXXX")  # ProtT5's own preprocessing: re.sub(r"[UZOB]", "X", seq)
LETTERS = "ACDEFGHIKLMNPQRSTVWYX"
# Relative position buckets set no hard limit; ESM's 1022 window keeps the per-head T x T bias
# of one forward bounded (longer proteins are read in windows).
MAX_RESIDUES = MAX_LENGTH
BIAS_MODULE = "encoder.block.0.layer.0.SelfAttention"  # the one layer with the position bias


class ProtT5Model(Model):
    family = "ProtT5"
    first_residue = 0  # no BOS
    special_tokens = 1  # the closing </s>

    def __init__(
        self,
        encoder: torch.nn.Module,
        letter_ids: Mapping[str, int],
        eos_id: int,
        pad_id: int,
        name: str,
        source: str,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "float32",
    ) -> None:
        device, dtype = place(device, dtype)
        encoder.eval().requires_grad_(False)
        fp = t5_fingerprint(encoder)
        encoder.to(device=device, dtype=dtype)
        config = encoder.config
        shape = Shape(
            config.num_layers,
            config.num_heads,
            config.d_model,
            config.vocab_size,
            MAX_RESIDUES,
            None,
        )
        super().__init__(encoder, shape, name, source, fp, False, False, device, dtype)
        self.encoder = encoder
        self.config = encoder.config
        self.letter_ids = dict(letter_ids)
        self.eos_id, self.pad_id = eos_id, pad_id
        # the bias and the padding mask: H floats per token pair for each sequence of a batch
        self.pair_floats = self.config.num_heads

    def token_ids(self, letters: Iterable[str]) -> list[int]:
        out = []
        for letter in "".join(letters).translate(RARE):
            if letter not in self.letter_ids:
                raise ContactplugError(f"{self.name}: no token for residue {letter!r}")
            out.append(self.letter_ids[letter])
        return out

    def tokens(self, sequences: Sequence[str]) -> torch.Tensor:
        """residues + </s>, right-padded with <pad>, on the model's device."""
        rows = [[*self.token_ids(seq), self.eos_id] for seq in sequences]
        return padded_rows(rows, self.pad_id).to(self.device)

    def forward(
        self,
        tokens: torch.Tensor,
        heads: Heads | None = None,
        on_heads: HeadCallback | None = None,
        logits: bool = True,
        columns: Sequence[int] | None = None,
        representation: bool = False,
        autocast: torch.dtype | None = None,
    ) -> Output:
        if logits:
            raise ContactplugError(f"{self.name}: the T5 encoder has no MLM head (no logits)")
        return forward(self, tokens, heads, on_heads, representation, autocast)


def t5_fingerprint(encoder: torch.nn.Module) -> str:
    """The embedding, the position bias, the last block and the final norm, as stored."""
    state = encoder.state_dict()
    last = encoder.config.num_layers - 1
    picks = ["shared.weight", f"{BIAS_MODULE}.relative_attention_bias.weight"]
    picks += sorted(k for k in state if k.startswith(f"encoder.block.{last}."))
    picks.append("encoder.final_layer_norm.weight")
    return fingerprint_state(state, picks)


def _attention(
    attn: torch.nn.Module,
    x: torch.Tensor,
    bias: torch.Tensor,
    wanted: list[int] | None,
    heads: int,
    on_rows: Callable[[list[int], torch.Tensor, int], None] | None = None,
    output: bool = True,
    low: torch.dtype | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """T5 self-attention (bias: position bias + padding, 1 or B x H x T x T, no scaling). With
    `on_rows` (the readout's fold) the wanted heads' probabilities go to it in blocks of query
    rows (`row_blocks`) and None is returned for them. output=False: only the probabilities
    (no values or output projection; None is returned for the output). low: the linears'
    reduced precision (`low_linear`)."""
    batch, length, _ = x.shape

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.view(batch, length, heads, -1).transpose(1, 2)

    q, k, v = low_linear.stacked(x, attn, [attn.q, attn.k, attn.v], low, output)
    q, k, v = split(q), split(k), None if v is None else split(v)
    out = probs = None
    if wanted:
        out, probs = row_blocks.wanted_heads(q, k, v, None, wanted, on_rows, output, bias.float())
    if out is None and output:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), scale=1.0)
    if not output:
        return None, probs
    out = out.transpose(1, 2).reshape(batch, length, -1)
    return low_linear.linear(out, attn.o, low), probs


def _feed_forward(ff: torch.nn.Module, x: torch.Tensor, low: torch.dtype | None) -> torch.Tensor:
    """transformers' T5 feed-forward (`DenseReluDense`: wo(act(wi x)), or T5 v1.1's gated
    form, wo(act(wi_0 x) * wi_1 x)) with its linears in `low` (`low_linear`); dropout is off."""
    if hasattr(ff, "wi_0"):
        gate, value = low_linear.stacked(x, ff, [ff.wi_0, ff.wi_1], low)
        inner = ff.act(gate) * value
    else:
        inner = ff.act(low_linear.linear(x, ff.wi, low))
    if low is None:  # transformers casts to wo's dtype first (fp16 checkpoints keep wo fp32)
        inner = inner.to(ff.wo.weight.dtype)
    return low_linear.linear(inner, ff.wo, low)


@torch.no_grad()
def forward(
    model: ProtT5Model,
    tokens: torch.Tensor,
    heads: Mapping[int, Sequence[int]] | None = None,
    on_heads: HeadCallback | None = None,
    representation: bool = False,
    autocast: torch.dtype | None = None,
) -> Output:
    """Run the encoder on B x T tokens: the wanted heads' probabilities (B x k x T x T, padded
    keys 0) to `on_heads`; the final hidden states (after the final RMS norm) if asked."""
    heads = checked_heads(heads, on_heads, model.num_layers, model.num_heads, "ProtT5")
    stack = model.encoder.encoder
    last = model.num_layers if representation else (max(heads) + 1 if heads else 0)
    out = Output(layers_run=last)
    with autocast_context(tokens, autocast):
        x = stack.embed_tokens(tokens)
        length = tokens.shape[1]
        bias = stack.block[0].layer[0].SelfAttention.compute_bias(length, length, tokens.device)
        padding = tokens.eq(model.pad_id)
        if padding.any():
            bias = bias.masked_fill(padding[:, None, None, :], float("-inf"))
        rows = getattr(on_heads, "layer_rows", None)  # the readout's fold takes row blocks
        for index in range(last):
            block = stack.block[index]
            wanted = heads.get(index)
            attn_layer, ff_layer = block.layer[0], block.layer[-1]
            on_rows = None if rows is None else rows(index)
            final = index == last - 1 and not representation  # nobody reads its output
            h, probs = _attention(
                attn_layer.SelfAttention,
                attn_layer.layer_norm(x),
                bias,
                wanted,
                model.num_heads,
                on_rows,
                not final,
                autocast,
            )
            if probs is not None:
                on_heads(index, wanted, probs)
                del probs
            if final:
                break  # the last layer stops at its heads' probabilities
            x = x + h
            x = x + _feed_forward(ff_layer.DenseReluDense, ff_layer.layer_norm(x), autocast)
        if representation:
            out.representation = stack.final_layer_norm(x)
    return out


def letter_table(tokenizer) -> tuple[dict[str, int], int, int]:
    """Per-letter ids from the folder's tokenizer (one id per spaced letter, none unknown),
    its </s> and its <pad>."""
    ids = tokenizer(" ".join(LETTERS), add_special_tokens=False)["input_ids"]
    unknown = tokenizer.unk_token_id
    if len(ids) != len(LETTERS) or unknown in ids:
        raise ContactplugError(
            "the tokenizer does not give one known token per residue letter: not ProtT5's"
        )
    if tokenizer.eos_token_id is None or tokenizer.pad_token_id is None:
        raise ContactplugError("the tokenizer has no </s> or <pad> token: not ProtT5's")
    return dict(zip(LETTERS, ids, strict=True)), tokenizer.eos_token_id, tokenizer.pad_token_id


def load_prot_t5(
    folder: Path,
    config: dict,
    device: str = "auto",
    dtype: str = "float32",
    name: str | None = None,
) -> ProtT5Model:
    """The encoder of an HF T5 folder (config.json, weights, tokenizer files)."""
    try:
        import transformers
    except ImportError:
        raise ContactplugError(f"{folder}: a T5 folder needs transformers (pip install "
                               "transformers sentencepiece protobuf)") from None  # fmt: skip
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    except Exception as exc:  # missing files, or sentencepiece / protobuf not installed
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise ContactplugError(f"{folder}: cannot read its T5 tokenizer ({first})") from None
    letters, eos, pad = letter_table(tokenizer)
    try:
        encoder = transformers.T5EncoderModel.from_pretrained(str(folder))
    except Exception as exc:  # transformers raises many kinds for a damaged folder
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise ContactplugError(f"{folder}: cannot load its T5 encoder ({first})") from None
    name = name or config.get("_name_or_path", "").split("/")[-1] or folder.name
    return ProtT5Model(encoder, letters, eos, pad, name, str(folder), device, dtype)
