"""ESM-1b and ESM-1v: fair-esm's `ProteinBertModel` (arch roberta_large) run by the fused forward.

Their layers are fair-esm's TransformerLayer as in ESM-2, without rotary; what differs is the
embedding: learned absolute positions (1024, hence 1022 residues; padding keeps its own
position, so right-padding shifts nothing), then `emb_layer_norm_before` when the checkpoint
has it (ESM-1b and ESM-1v do), and token-dropout rescaling only when the checkpoint's args ask
for it. ESM-1v is the same network trained on UniRef90, shipped without contact regression.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from contactplug.models.base import HeadCallback, Output
from contactplug.models.esm2 import (
    _layer_norm,
    autocast_context,
    final_outputs,
    run_layers,
    wanted_heads,
)
from contactplug.models.fair_esm_model import FairEsmModel


def embed(model: FairEsmModel, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """B x T embeddings as ProteinBertModel makes them (ESM-1b branch); the padding mask."""
    esm = model.esm
    padding = tokens.eq(esm.padding_idx)
    x = esm.embed_scale * esm.embed_tokens(tokens)
    if getattr(esm.args, "token_dropout", False):
        masked = tokens == esm.mask_idx
        x = x.masked_fill(masked.unsqueeze(-1), 0.0)
        mask_ratio_train = 0.15 * 0.8
        observed = masked.sum(-1).to(x.dtype) / (~padding).sum(-1)
        x = x * (1 - mask_ratio_train) / (1 - observed)[:, None, None]
    x = x + esm.embed_positions(tokens)
    if esm.emb_layer_norm_before is not None:
        x = _layer_norm(x, esm.emb_layer_norm_before)
    if padding.any():
        return x * (1 - padding.unsqueeze(-1).type_as(x)), padding
    return x, None


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
    """Run ESM-1b/ESM-1v on B x T tokens; the arguments are those of `Model.forward`."""
    esm = model.esm
    heads = wanted_heads(heads, on_heads)
    last = len(esm.layers)
    if not (logits or representation):
        last = max(heads) + 1 if heads else 0
    out = Output(layers_run=last)
    with autocast_context(tokens, autocast):
        x, padding = embed(model, tokens)
        # nobody reads the last layer's output when only heads are asked for: it stops there
        x = run_layers(
            esm, x, padding, None, heads, on_heads, last, hidden=logits or representation
        )
        return final_outputs(esm, x, out, logits, columns, representation)


class Esm1bModel(FairEsmModel):
    """ESM-1b (or ESM-1v, by its name: the same architecture)."""

    family = "ESM-1b"

    def __init__(self, module: torch.nn.Module, *args, **kwargs) -> None:
        super().__init__(module, *args, **kwargs)
        if "esm1v" in self.name.lower():
            self.family = "ESM-1v"

    @staticmethod
    def residue_limit(module: torch.nn.Module) -> int:
        return module.embed_positions.max_positions - 2  # BOS and EOS take two positions

    forward = forward  # the fused forward above, the model its first argument
