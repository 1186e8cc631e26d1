"""Random weights of a model architecture, for tests and `bench` (no download): the one
random-model factory. Costs are those of real weights; contacts are meaningless."""

from __future__ import annotations

import esm
import torch
from esm.model.esm2 import ESM2

from contactplug.models.base import Model, build_model
from contactplug.models.loading import REGISTRY


def make_tiny_model(layers: int = 2, embed_dim: int = 32, heads: int = 4, seed: int = 0) -> ESM2:
    """A randomly initialised fair-esm ESM2 for tests (deterministic for a seed)."""
    torch.manual_seed(seed)
    module = ESM2(layers, embed_dim, heads, alphabet="ESM-1b", token_dropout=True)
    return module.eval()


def random_model(arch: str, device: str = "cpu", seed: int = 0) -> Model:
    """Random weights of a registry architecture, loaded as a `Model` with both heads."""
    layers, dim, heads = REGISTRY[arch]
    torch.manual_seed(seed)
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    module = ESM2(layers, dim, heads, alphabet=alphabet)
    return build_model(module, alphabet, arch, f"random {arch}", True, True, device, "float32")
