"""ProGen2's checkpoints in the publishers' layouts, and its vocabulary.

- Salesforce's folders (`progen2-small.tar.gz` ... unpacked): `config.json` (n_embd,
  vocab_size, n_positions) and `pytorch_model.bin`.
- The HF ports (`hugohrban/progen2-small` ...): `config.json` (embed_dim, vocab_size_emb,
  vocab_size_lm_head) and `model.safetensors`; a registry name (`progen2-small`) is read
  from the HF hub cache offline.
Either way the tensors are named `transformer.*` and `lm_head.*`, and the folder must hold
the tokenizer, `tokenizer.json` (Salesforce ships it beside their code, `progen2/
tokenizer.json`, not in the checkpoint archive: copy it in). Its vocabulary gives the ids of
the letters, the terminals "1" and "2" and <|pad|>. No remote code is run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch

from contactplug.files.errors import ContactplugError, arg
from contactplug.models import progen2
from contactplug.models.base import (
    check_sizes,
    config_size,
    fingerprint_state,
    hf_hub_cache,
    place,
)
from contactplug.models.hf import find_hf_snapshot, read_config, read_weights

HUB_OWNER = "hugohrban"
RELEASES = ("progen2-small", "progen2-medium", "progen2-base", "progen2-large", "progen2-xlarge")
NEEDED = ("1", "2", "<|pad|>") + tuple("ACDEFGHIKLMNPQRSTVWY")
IGNORED = (".attn.bias", ".attn.masked_bias")  # the reference's causal-mask buffers
# the published tokenizer.json's vocabulary, for random weights (`random_weights`) only
PUBLISHED_VOCAB = {"<|pad|>": 0, "<|bos|>": 1, "<|eos|>": 2, "1": 3, "2": 4} | {
    c: 5 + n for n, c in enumerate("ABCDEFGHIKLMNOPQRSTUVWXYZ")
}


def is_progen2(config: Mapping) -> bool:
    model_type = str(config.get("model_type", "")).lower()
    return model_type == "progen" or "ProGenForCausalLM" in (config.get("architectures") or [])


def read_vocab(folder: Path) -> dict[str, int]:
    """token -> id from the folder's tokenizer.json (its BPE vocabulary, merges none)."""
    path = folder / "tokenizer.json"
    if not path.exists():
        raise ContactplugError(
            f"{folder}: no tokenizer.json, ProGen2's vocabulary; copy progen2/tokenizer.json "
            "of the salesforce/progen repository into the folder"
        )
    try:
        vocab = json.loads(path.read_text())["model"]["vocab"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ContactplugError(f"{path}: not a tokenizers file ({exc})") from None
    if not isinstance(vocab, dict):
        raise ContactplugError(f"{path}: its model has no vocabulary")
    absent = [t for t in NEEDED if not isinstance(vocab.get(t), int)]
    if absent:
        raise ContactplugError(f"{path}: no token for {', '.join(absent[:5])}: not ProGen2's")
    return {str(k): int(v) for k, v in vocab.items()}


def network(config: Mapping, has_lm_head: bool, where) -> progen2.Progen2:
    """The (empty, meta) network a config describes, in either layout's names."""
    d = config_size(config, ("n_embd", "embed_dim"), where)
    vocab = config_size(config, ("vocab_size_emb", "vocab_size"), where)
    lm_vocab = config_size(config, ("vocab_size_lm_head", "vocab_size"), where)
    act = str(config.get("activation_function", "gelu_new"))
    if act != "gelu_new":
        raise ContactplugError(f"{where}: activation_function {act!r}: ProGen2 uses gelu_new")
    with torch.device("meta"):
        return progen2.Progen2(
            d, config_size(config, "n_head", where), config_size(config, "n_layer", where),
            config_size(config, "n_inner", where, 4 * d), config.get("rotary_dim"), vocab,
            lm_vocab if has_lm_head else None,
            config_size(config, ("n_positions", "n_ctx"), where),
            float(config.get("layer_norm_epsilon", 1e-5)),
        )  # fmt: skip


def _ours(key: str) -> str:
    key = key.removeprefix("transformer.")
    return key.replace(".attn.qkv_proj.", ".attn.qkv.")


def qkv_rows(weight: torch.Tensor) -> torch.Tensor:
    """qkv_proj (3D x D, eight shards of [q | v | k]) -> q | k | v, heads in order."""
    d = weight.shape[1]
    shards = weight.reshape(progen2.SHARDS, 3, d // progen2.SHARDS, d)
    q, v, k = (shards[:, i].reshape(d, d) for i in range(3))
    return torch.cat((q, k, v))


def convert(state: Mapping[str, torch.Tensor], net: progen2.Progen2, where) -> dict:
    """The published tensors under our names, sizes checked against the config's network."""
    want = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    ours = {_ours(k): v for k, v in state.items() if not k.endswith(IGNORED)}
    check_sizes(ours, want, where)
    out = {k: v.float() for k, v in ours.items()}
    for key in [k for k in out if k.endswith(".attn.qkv.weight")]:
        out[key] = qkv_rows(out[key])
    return out


def progen2_fingerprint(state: Mapping[str, torch.Tensor]) -> str:
    """The embedding, the last block and the LM head, as stored."""
    last = max(int(k.split(".")[2]) for k in state if k.startswith("transformer.h."))
    picks = ["transformer.wte.weight"]
    picks += sorted(
        k for k in state if k.startswith(f"transformer.h.{last}.") and not k.endswith(IGNORED)
    )
    picks += sorted(k for k in state if k.startswith("lm_head."))
    return fingerprint_state(state, picks)


def from_state(
    config: Mapping,
    state: Mapping[str, torch.Tensor],
    vocab: Mapping[str, int],
    name: str,
    source: str,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "float32",
) -> progen2.Progen2Model:
    device, dtype = place(device, dtype)
    if not any(k.startswith("transformer.h.") for k in state):
        raise ContactplugError(f"{source}: no transformer.h.* tensors: not a ProGen2 checkpoint")
    net = network(config, "lm_head.weight" in state, source)
    tensors = convert(state, net, source)
    fp = progen2_fingerprint(state)
    net = net.to_empty(device="cpu")
    net.load_state_dict(tensors, strict=True)
    net.eval().requires_grad_(False).to(device=device, dtype=dtype)
    return progen2.Progen2Model(net, vocab, name, source, fp, device, dtype)


def load_folder(
    folder: Path, config: Mapping, device="auto", dtype="float32", name: str | None = None
) -> progen2.Progen2Model:
    """A Salesforce or HF-port ProGen2 folder (config.json, weights, tokenizer.json)."""
    vocab = read_vocab(folder)  # before reading gigabytes of weights
    state = read_weights(folder)
    name = name or str(config.get("_name_or_path", "")).split("/")[-1] or folder.name
    return from_state(config, state, vocab, name, str(folder), device, dtype)


def load_release(name: str, device="auto", dtype="float32") -> progen2.Progen2Model:
    """progen2-small ... progen2-xlarge from the HF hub cache (the hugohrban ports), offline."""
    snapshot = find_hf_snapshot(name, HUB_OWNER)
    if snapshot is None:
        raise ContactplugError(
            f"model {name} is not in the HF cache ({hf_hub_cache()}/models--{HUB_OWNER}--{name});"
            f" download {HUB_OWNER}/{name}, or "
            + arg("model", "PATH", phrase="pass {} to Salesforce's unpacked checkpoint folder")
            + " with its tokenizer.json"
        )
    return load_folder(snapshot, read_config(snapshot), device, dtype, name)
