"""ESM C behind the model interface: `esmc` (the forward, the tokenizer, the checkpoint) wrapped
as a `Model`. ESM C has an MLM head (`sequence_head`) and a mask token, and no contact head."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch

from contactplug.models import esmc, esmc_weights
from contactplug.models.base import (
    HeadCallback,
    Heads,
    Model,
    Output,
    Shape,
    fingerprint_state,
    place,
)

# ESM C reads 2048 tokens (the length EvolutionaryScale's hosted endpoints accept); less BOS/EOS
MAX_RESIDUES = 2046


class EsmcModel(Model):
    family = "ESM C"

    def __init__(self, net: esmc.ESMC, name: str, source: str, fingerprint: str, device, dtype):
        shape = Shape(
            net.n_layers, net.n_heads, net.d_model, esmc.EMBED_ROWS, MAX_RESIDUES, esmc.MASK
        )
        has_lm_head = net.sequence_head is not None
        super().__init__(net, shape, name, source, fingerprint, has_lm_head, False, device, dtype)
        self.net = net

    def tokens(self, sequences: Sequence[str]) -> torch.Tensor:
        return esmc.batch_tokens(list(sequences)).to(self.device)

    def token_ids(self, letters: Iterable[str]) -> list[int]:
        return esmc.letter_ids("".join(letters))

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
        got = esmc.forward(
            self.net,
            tokens,
            heads=heads,
            on_heads=on_heads,
            logits=logits,
            columns=columns,
            representation=representation,
            autocast=autocast,
        )
        return Output(got.logits, got.representation, got.layers_run)


def esmc_fingerprint(state: Mapping[str, torch.Tensor]) -> str:
    """The embedding, the last block and the sequence head, as stored (before any cast)."""
    last = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("transformer.blocks."))
    picks = ["embed.weight"]
    picks += sorted(k for k in state if k.startswith(f"transformer.blocks.{last - 1}."))
    picks += sorted(k for k in state if k.startswith("sequence_head."))
    return fingerprint_state(state, picks)


def from_state(
    state: Mapping[str, torch.Tensor],
    name: str,
    source: str,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "float32",
    heads: int | None = None,
) -> EsmcModel:
    """An ESM C state dict in the official layout (architecture from its shapes) as a Model."""
    device, dtype = place(device, dtype)
    fp = esmc_fingerprint(state)
    net = esmc_weights.from_state(state, heads=heads, device=device, dtype=dtype, source=source)
    return EsmcModel(net, name, source, fp, device, dtype)


def load(
    spec: str, device: str | torch.device = "auto", dtype: str | torch.dtype = "float32"
) -> EsmcModel:
    """A .pth, an HF snapshot folder (or its hub-cache repository folder), or esmc_300m /
    esmc_600m from the hub cache, offline."""
    path = esmc_weights.resolve(spec)
    name = spec if spec in esmc_weights.RELEASES else path.stem
    return from_state(esmc_weights.read_state(path), name, str(path), device, dtype)
