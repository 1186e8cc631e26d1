"""Random weights of a model architecture, for tests and `bench` (no download): the one
random-model factory, for every family of the registry. Costs are those of real weights;
contacts are meaningless."""

from __future__ import annotations

import argparse

import esm
import torch
from esm.model.esm1 import ProteinBertModel
from esm.model.esm2 import ESM2

from contactplug.models import esmc, esmc_model
from contactplug.models.base import Model
from contactplug.models.esm1b import Esm1bModel
from contactplug.models.esm2 import Esm2Model
from contactplug.models.registry import REGISTRY

# ProtT5's letters get ids 3.. here (after <pad>, </s>, <unk>); real folders bring their own
T5_LETTERS = "ALGVSREDTIPKFQNYMHWCXBOUZ"


def make_tiny_model(layers: int = 2, embed_dim: int = 32, heads: int = 4, seed: int = 0) -> ESM2:
    """A randomly initialised fair-esm ESM2 for tests (deterministic for a seed)."""
    torch.manual_seed(seed)
    module = ESM2(layers, embed_dim, heads, alphabet="ESM-1b", token_dropout=True)
    return module.eval()


def make_esm1b(
    layers: int = 2, embed_dim: int = 32, heads: int = 4, seed: int = 0, max_positions: int = 1024
) -> ProteinBertModel:
    """A randomly initialised ESM-1b/ESM-1v network in fair-esm's own class: learned positions,
    emb_layer_norm_before, token dropout, as the official args build it (any size)."""
    torch.manual_seed(seed)
    args = argparse.Namespace(
        arch="roberta_large",
        layers=layers,
        embed_dim=embed_dim,
        ffn_embed_dim=4 * embed_dim,
        attention_heads=heads,
        max_positions=max_positions,
        emb_layer_norm_before=True,
        token_dropout=True,
        logit_bias=True,
    )
    module = ProteinBertModel(args, esm.data.Alphabet.from_architecture("ESM-1b"))
    with torch.no_grad():  # off the default init, so no layer norm is an identity
        for name, p in module.named_parameters():
            if "layer_norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return module.eval()


def make_hf_esm(
    layers: int = 2, embed_dim: int = 32, heads: int = 4, absolute: bool = False, seed: int = 0
):
    """A randomly initialised transformers EsmForMaskedLM in the layout of the HF hub's
    facebook/esm2_* (rotary) or, with `absolute`, facebook/esm1b_* / esm1v_* (learned
    positions, emb_layer_norm_before) folders; save it with `save_pretrained`."""
    import transformers

    config = transformers.EsmConfig(
        vocab_size=33,
        hidden_size=embed_dim,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * embed_dim,
        max_position_embeddings=1026,
        position_embedding_type="absolute" if absolute else "rotary",
        emb_layer_norm_before=absolute,
        token_dropout=True,
        mask_token_id=32,
        pad_token_id=1,
        layer_norm_eps=1e-5,
    )
    torch.manual_seed(seed)
    return transformers.EsmForMaskedLM(config).eval()


def make_t5_encoder(
    layers: int = 2, d_model: int = 32, heads: int = 4, d_kv: int = 8, d_ff: int = 64, seed: int = 0
):
    """A randomly initialised transformers T5EncoderModel of ProtT5's layout (ReLU FF, 32
    relative buckets, 128-entry vocabulary)."""
    import transformers

    config = transformers.T5Config(
        vocab_size=128,
        d_model=d_model,
        d_kv=d_kv,
        d_ff=d_ff,
        num_layers=layers,
        num_heads=heads,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        feed_forward_proj="relu",
        dropout_rate=0.0,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    torch.manual_seed(seed)
    return transformers.T5EncoderModel(config).eval()


def random_model(arch: str, device: str = "cpu", seed: int = 0) -> Model:
    """Random weights of a registry architecture, loaded as a `Model` with the heads the
    family has (ESM: both; ESM C: the sequence head; ProtT5: none)."""
    spec = REGISTRY[arch]
    torch.manual_seed(seed)
    source = f"random {arch}"
    if spec.family == "ESM-2":
        alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
        module = ESM2(spec.layers, spec.embed_dim, spec.heads, alphabet=alphabet)
        return Esm2Model(module, alphabet, arch, source, True, True, device, "float32")
    if spec.family in ("ESM-1b", "ESM-1v"):
        module = make_esm1b(spec.layers, spec.embed_dim, spec.heads, seed)
        alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
        has_contact = spec.family == "ESM-1b"
        return Esm1bModel(module, alphabet, arch, source, True, has_contact, device, "float32")
    if spec.family == "ESM C":
        net = esmc.ESMC(spec.embed_dim, spec.heads, spec.layers).eval()
        return esmc_model.from_state(net.state_dict(), arch, source, device, "float32")
    if spec.family == "ProtT5":
        from contactplug.models.prot_t5 import ProtT5Model

        # ProtT5-XL: heads of 128 (32 x 128 = 4096 wide attention on a 1024 stream), d_ff 16384
        encoder = make_t5_encoder(spec.layers, spec.embed_dim, spec.heads, 128, 16384, seed)
        letters = {c: 3 + n for n, c in enumerate(T5_LETTERS)}
        return ProtT5Model(encoder, letters, 1, 0, arch, source, device, "float32")
    if spec.family == "AMPLIFY":
        from contactplug.models import amplify, amplify_weights

        hidden = amplify.swiglu_width(4 * spec.embed_dim)  # the releases' intermediate_size
        net = amplify.Amplify(spec.embed_dim, spec.heads, spec.layers, hidden)
        config = {
            "hidden_size": spec.embed_dim,
            "num_hidden_layers": spec.layers,
            "num_attention_heads": spec.heads,
            "intermediate_size": 4 * spec.embed_dim,
        }
        return amplify_weights.from_state(config, net.state_dict(), arch, source, device)
    if spec.family == "ProGen2":
        return random_progen2(arch, source, device)
    raise ValueError(f"no random weights for family {spec.family}")


def random_progen2(arch: str, source: str, device: str = "cpu") -> Model:
    """Random ProGen2 weights in Salesforce's layout (rotary over 32 dims of each head; 2048
    positions, so bench reaches L = 1000; costs are those of the release)."""
    from contactplug.models import progen2_weights

    spec = REGISTRY[arch]
    config = {"n_embd": spec.embed_dim, "n_layer": spec.layers, "n_head": spec.heads,
              "rotary_dim": 32, "n_positions": 2048, "vocab_size": 32}  # fmt: skip
    net = progen2_weights.network(config, True, source).to_empty(device="cpu")
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.02) if p.ndim > 1 else torch.nn.init.ones_(p)
    state = {f"transformer.{k}": v for k, v in net.state_dict().items()}
    state["lm_head.weight"] = state.pop("transformer.lm_head.weight")
    state["lm_head.bias"] = state.pop("transformer.lm_head.bias")
    for key in [k for k in state if k.endswith(".attn.qkv.weight")]:
        state[key.replace(".attn.qkv.", ".attn.qkv_proj.")] = state.pop(key)
    vocab = progen2_weights.PUBLISHED_VOCAB
    return progen2_weights.from_state(config, state, vocab, arch, source, device, "float32")
