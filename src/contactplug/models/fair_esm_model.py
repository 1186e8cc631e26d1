"""What ESM-2 and ESM-1b/ESM-1v share as fair-esm modules: the alphabet (BOS, residues, EOS),
the contact regression, the fingerprint, and `HeadCapture`, the hook path of fair-esm's own
forward that the fused forwards (`esm2`, `esm1b`) are tested against."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import esm
import torch

from contactplug.files.sequences import MAX_LENGTH
from contactplug.models.base import Model, Shape, fingerprint_state, place

MAX_RESIDUES = MAX_LENGTH  # 1024 positions less BOS and EOS (ESM-1b's learned table)


class FairEsmModel(Model):
    """A fair-esm module (`esm`) with its alphabet; each family brings its fused `forward`."""

    def __init__(
        self,
        module: torch.nn.Module,
        alphabet: esm.data.Alphabet,
        name: str,
        source: str,
        has_lm_head: bool,
        has_contact_head: bool,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "float32",
    ) -> None:
        device, dtype = place(device, dtype)
        module.eval()
        fp = fair_esm_fingerprint(module)  # before the cast: one identity whatever the dtype
        module.to(device=device, dtype=dtype)
        attn = module.layers[0].self_attn
        shape = Shape(
            len(module.layers),
            attn.num_heads,
            attn.embed_dim,
            len(alphabet),
            self.residue_limit(module),
            alphabet.mask_idx,
        )
        super().__init__(
            module, shape, name, source, fp, has_lm_head, has_contact_head, device, dtype
        )
        self.esm = module
        self.alphabet = alphabet

    @staticmethod
    def residue_limit(module: torch.nn.Module) -> int:
        """The most residues one forward reads (`Model.max_length`)."""
        return MAX_RESIDUES

    def tokens(self, sequences: Sequence[str]) -> torch.Tensor:
        """BOS + residues + EOS, right-padded, on the model's device."""
        a = self.alphabet
        width = max(len(s) for s in sequences) + 2
        out = torch.full((len(sequences), width), a.padding_idx, dtype=torch.long)
        for row, seq in enumerate(sequences):
            out[row, 0] = a.cls_idx
            out[row, 1 : len(seq) + 1] = torch.tensor([a.get_idx(c) for c in seq])
            out[row, len(seq) + 1] = a.eos_idx
        return out.to(self.device)

    def token_ids(self, letters: Iterable[str]) -> list[int]:
        return [self.alphabet.get_idx(c) for c in letters]

    def contact_regression(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.has_contact_head:
            return super().contact_regression()
        regression = self.esm.contact_head.regression
        return regression.weight[0].float(), regression.bias.float()


def fair_esm_fingerprint(module: torch.nn.Module) -> str:
    """The embedding, the last layer and the contact head, in the state dict's order (the
    shipped rankings are keyed by this: it must not change for ESM-2)."""
    state = module.state_dict()
    picks = [k for k in state if k.startswith("embed_tokens")]
    picks += [k for k in state if k.startswith(f"layers.{len(module.layers) - 1}.")]
    picks += sorted(k for k in state if k.startswith("contact_head"))
    return fingerprint_state(state, picks)


class HeadCapture:
    """Context manager (fair-esm's own forward): keep per-head attention of `heads` only."""

    def __init__(self, model: FairEsmModel, heads: Sequence[tuple[int, int]]):
        self.model = model
        self.heads = list(heads)
        self.by_layer: dict[int, list[int]] = {}
        for layer, head in self.heads:
            self.by_layer.setdefault(layer, []).append(head)
        self.captured: dict[int, torch.Tensor] = {}
        self._handles: list = []

    def __enter__(self) -> HeadCapture:
        for layer, wanted in self.by_layer.items():
            attn = self.model.esm.layers[layer].self_attn
            index = torch.tensor(wanted, device=self.model.device)

            def pre_hook(module, args, kwargs):
                kwargs["need_head_weights"] = True
                return args, kwargs

            def post_hook(module, args, kwargs, output, layer=layer, index=index):
                out, weights = output  # weights: heads x batch x T x T
                self.captured[layer] = weights.index_select(0, index).float()
                return out, None

            self._handles.append(attn.register_forward_pre_hook(pre_hook, with_kwargs=True))
            self._handles.append(attn.register_forward_hook(post_hook, with_kwargs=True))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def stacked(self) -> torch.Tensor:
        """batch x K x T x T, in the order the heads were given."""
        position = {layer: {h: n for n, h in enumerate(hs)} for layer, hs in self.by_layer.items()}
        maps = [self.captured[layer][position[layer][head]] for layer, head in self.heads]
        return torch.stack(maps, dim=1)
