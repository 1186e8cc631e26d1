"""AMPLIFY's checkpoints as the publishers ship them: an HF folder (`chandar-lab/AMPLIFY_120M`,
`AMPLIFY_350M`) with its own `config.json` and `model.safetensors`, or those names read from
the HF hub cache offline. The folder's remote code (`auto_map`, `amplify.py`) is never run:
the config is read as data and the weights go into `amplify.Amplify`. A config asking for a
variant that code alone would run (another activation or norm, biases, a norm after the
embedding) is refused in one line, as is a checkpoint whose tensors do not have the sizes its
config states."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from contactplug.files.errors import ContactplugError, arg
from contactplug.models import amplify
from contactplug.models.base import (
    check_sizes,
    config_size,
    fingerprint_state,
    hf_hub_cache,
    place,
)
from contactplug.models.hf import find_hf_snapshot, read_config, read_weights

HUB_OWNER = "chandar-lab"
RELEASES = ("AMPLIFY_120M", "AMPLIFY_350M")
# what the released checkpoints' configs say, and what `amplify.Amplify` implements
RELEASED = {
    "hidden_act": "swiglu",
    "rms_norm": True,
    "layer_norm_after_embedding": False,
    "layer_norm_before_last_layer": True,
    "ffn_bias": False,
    "att_bias": False,
}
TOKEN_IDS = {
    "pad_token_id": amplify.PAD, "unk_token_id": amplify.UNK, "mask_token_id": amplify.MASK,
    "bos_token_id": amplify.BOS, "eos_token_id": amplify.EOS, "vocab_size": len(amplify.VOCAB),
}  # fmt: skip


def is_amplify(config: Mapping) -> bool:
    model_type = str(config.get("model_type", "")).lower()
    return model_type == "amplify" or "AMPLIFY" in (config.get("architectures") or [])


def check_variant(config: Mapping, where: str | Path) -> None:
    """Refuse, in one line, a config of a variant only the checkpoint's remote code runs."""
    odd = []
    for key, released in RELEASED.items():
        value = config.get(key, released)
        value = value.lower() if isinstance(value, str) else value
        if value != released:
            odd.append(f"{key}={config.get(key)!r}")
    for key, wanted in TOKEN_IDS.items():
        if key in config and config[key] != wanted:
            odd.append(f"{key}={config[key]!r}")
    if odd:
        raise ContactplugError(
            f"{where}: this AMPLIFY variant ({', '.join(odd)}) runs only on its own remote code, "
            "which contactplug does not run; it reads the released AMPLIFY (SwiGLU, RMSNorm, no "
            "biases, the 27-token vocabulary)"
        )


def build(config: Mapping, state: Mapping[str, torch.Tensor], where) -> amplify.Amplify:
    """The network of `config` with `state`'s tensors, sizes checked against each other."""
    check_variant(config, where)
    d = config_size(config, "hidden_size", where)
    layers = config_size(config, "num_hidden_layers", where)
    heads = config_size(config, "num_attention_heads", where)
    hidden = amplify.swiglu_width(config_size(config, "intermediate_size", where))
    max_tokens = int(config.get("max_length", 2048))
    with torch.device("meta"):
        net = amplify.Amplify(d, heads, layers, hidden, max_tokens=max_tokens,
                              eps=float(config.get("norm_eps", 1e-5)),
                              decoder="decoder.weight" in state)  # fmt: skip
    want = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    check_sizes(state, want, where)  # a decoder with no bias too (it was a traceback)
    net = net.to_empty(device="cpu")
    net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return net.eval().requires_grad_(False)


def amplify_fingerprint(state: Mapping[str, torch.Tensor]) -> str:
    """The embedding, the last block and the decoder, as stored."""
    last = max(int(k.split(".")[1]) for k in state if k.startswith("transformer_encoder."))
    picks = ["encoder.weight"]
    picks += sorted(k for k in state if k.startswith(f"transformer_encoder.{last}."))
    picks += sorted(k for k in state if k.startswith("decoder."))
    return fingerprint_state(state, picks)


def from_state(
    config: Mapping,
    state: Mapping[str, torch.Tensor],
    name: str,
    source: str,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "float32",
) -> amplify.AmplifyModel:
    device, dtype = place(device, dtype)
    net = build(config, state, source)
    fp = amplify_fingerprint(state)
    net.to(device=device, dtype=dtype)
    return amplify.AmplifyModel(net, name, source, fp, device, dtype)


def load_folder(
    folder: Path, config: Mapping, device="auto", dtype="float32", name: str | None = None
) -> amplify.AmplifyModel:
    """An HF AMPLIFY folder: its config.json and model.safetensors (or pytorch_model.bin)."""
    check_variant(config, folder)  # before reading gigabytes of weights
    state = read_weights(folder)
    name = name or str(config.get("_name_or_path", "")).split("/")[-1] or folder.name
    return from_state(config, state, name, str(folder), device, dtype)


def load_release(name: str, device="auto", dtype="float32") -> amplify.AmplifyModel:
    """AMPLIFY_120M / AMPLIFY_350M from the HF hub cache, offline."""
    snapshot = find_hf_snapshot(name, HUB_OWNER)
    if snapshot is None:
        raise ContactplugError(
            f"model {name} is not in the HF cache ({hf_hub_cache()}/models--{HUB_OWNER}--{name});"
            f" download {HUB_OWNER}/{name} or "
            + arg("model", "PATH", phrase="pass {} to its folder")
        )
    return load_folder(snapshot, read_config(snapshot), device, dtype, name)
