"""Random weights of a model architecture, for tests and `bench` (no download): the one
random-model factory, for every family of the registry. Costs are those of real weights;
contacts are meaningless."""

from __future__ import annotations

import esm
import torch
from esm.model.esm2 import ESM2

from contactplug.models.base import Model
from contactplug.models.esm2 import Esm2Model
from contactplug.models.loading import REGISTRY


def make_tiny_model(layers: int = 2, embed_dim: int = 32, heads: int = 4, seed: int = 0) -> ESM2:
    """A randomly initialised fair-esm ESM2 for tests (deterministic for a seed)."""
    torch.manual_seed(seed)
    module = ESM2(layers, embed_dim, heads, alphabet="ESM-1b", token_dropout=True)
    return module.eval()


def random_model(arch: str, device: str = "cpu", seed: int = 0) -> Model:
    """Random weights of a registry architecture, loaded as a `Model` with both heads."""
    spec = REGISTRY[arch]
    torch.manual_seed(seed)
    source = f"random {arch}"
    if spec.family == "ESM-2":
        alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
        module = ESM2(spec.layers, spec.embed_dim, spec.heads, alphabet=alphabet)
        return Esm2Model(module, alphabet, arch, source, True, True, device, "float32")
    raise ValueError(f"no random weights for family {spec.family}")
