"""HuggingFace-format ESM checkpoints mapped onto fair-esm's modules (one implementation per
family): ESM-2 onto `ESM2`, ESM-1b/ESM-1v (absolute positions) onto `ProteinBertModel`;
`config.json` + `model.safetensors` or `pytorch_model.bin`, from a folder or
the HF hub cache layout `models--facebook--esm2_*/snapshots/<rev>/`; and the config and weight
readers the other HF families (`prot_t5`) share."""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path

import esm
from esm.model.esm1 import ProteinBertModel
from esm.model.esm2 import ESM2

from contactplug.files.errors import ContactplugError
from contactplug.models.base import check_state, hf_hub_cache, safe_torch_load
from contactplug.models.esm1b import Esm1bModel
from contactplug.models.esm2 import Esm2Model
from contactplug.models.fair_esm import assign_state, without_init
from contactplug.models.fair_esm_model import FairEsmModel
from contactplug.models.unsupported import known_family, refuse

log = logging.getLogger("contactplug")


def hf_key_to_fair_esm(key: str) -> str | None:
    """Map one HF `EsmModel`/`EsmFor*` key onto fair-esm's ESM2 (None = not used)."""
    key = key.removeprefix("esm.")
    if key.startswith("classifier.") or key.endswith("position_ids"):
        return None
    if key == "embeddings.position_embeddings.weight":  # ESM-1b's learned positions
        return "embed_positions.weight"
    # transformers >= 5 writes LayerNorm weights under their legacy names gamma/beta
    key = re.sub(r"\.gamma$", ".weight", re.sub(r"\.beta$", ".bias", key))
    if key == "embeddings.word_embeddings.weight":
        return "embed_tokens.weight"
    if key.startswith("embeddings.layer_norm."):
        return "emb_layer_norm_before." + key.removeprefix("embeddings.layer_norm.")
    if key.startswith("encoder.emb_layer_norm_after."):
        return key.removeprefix("encoder.")
    if key.startswith("contact_head.regression."):
        return key
    if key.startswith("lm_head."):
        return None if key == "lm_head.decoder.weight" else key  # tied to the embeddings
    if key.startswith("encoder.layer."):
        _, _, idx, rest = key.split(".", 3)
        table = {
            "attention.self.query.": "self_attn.q_proj.",
            "attention.self.key.": "self_attn.k_proj.",
            "attention.self.value.": "self_attn.v_proj.",
            "attention.self.rotary_embeddings.inv_freq": "self_attn.rot_emb.inv_freq",
            "attention.output.dense.": "self_attn.out_proj.",
            "attention.LayerNorm.": "self_attn_layer_norm.",
            "intermediate.dense.": "fc1.",
            "output.dense.": "fc2.",
            "LayerNorm.": "final_layer_norm.",
        }
        for hf, fair in table.items():
            if rest.startswith(hf):
                return f"layers.{idx}.{fair}{rest[len(hf) :]}"
    return None


def read_config(folder: Path) -> dict:
    config_path = folder / "config.json"
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ContactplugError(f"{config_path}: cannot read HF config ({exc})") from None
    if not isinstance(config, dict):
        raise ContactplugError(f"{config_path}: not an HF config (no JSON object)")
    return config


def read_weights(folder: Path) -> dict:
    """The tensors of model.safetensors or pytorch_model.bin (weights_only)."""
    has_bin = folder.joinpath("pytorch_model.bin").exists()
    if folder.joinpath("model.safetensors").exists():
        try:
            # a core dependency, but a PyMOL or conda Python may lack it: then the .bin, if any
            from safetensors.torch import load_file
        except ImportError:
            if not has_bin:
                raise ContactplugError(
                    f"{folder}: model.safetensors needs the safetensors package "
                    "(pip install safetensors)"
                ) from None
            log.warning("%s: safetensors is not installed; reading pytorch_model.bin", folder)
        else:
            try:
                return load_file(str(folder / "model.safetensors"))
            except Exception as exc:  # safetensors raises its own error types
                raise ContactplugError(f"{folder}/model.safetensors: corrupt ({exc})") from None
    if has_bin:
        return safe_torch_load(folder / "pytorch_model.bin")
    raise ContactplugError(f"{folder}: neither model.safetensors nor pytorch_model.bin")


def _esm1b_module(config: dict, alphabet: esm.data.Alphabet) -> ProteinBertModel:
    """fair-esm's ESM-1b network for an HF config with absolute positions (HF's table holds
    max_position_embeddings rows, fair-esm's max_positions + padding_idx + 1: the same rows)."""
    args = argparse.Namespace(
        arch="roberta_large",
        layers=config["num_hidden_layers"],
        embed_dim=config["hidden_size"],
        ffn_embed_dim=config["intermediate_size"],
        attention_heads=config["num_attention_heads"],
        max_positions=config["max_position_embeddings"] - alphabet.padding_idx - 1,
        emb_layer_norm_before=bool(config.get("emb_layer_norm_before")),
        token_dropout=bool(config.get("token_dropout", False)),
    )
    return ProteinBertModel(args, alphabet)


def load_hf_folder(folder: Path, device="auto", dtype="float32") -> FairEsmModel:
    """An HF ESM folder (model_type esm): rotary ones as fair-esm's ESM2 (ESM-2), absolute
    positions as fair-esm's ProteinBertModel (ESM-1b, ESM-1v)."""
    config = read_config(folder)
    other = known_family(config)
    if other or config.get("model_type") != "esm":
        raise refuse(folder, f"{other or 'model_type ' + repr(config.get('model_type'))}")
    positions = config.get("position_embedding_type", "rotary")
    if positions not in ("rotary", "absolute"):
        raise refuse(folder, f"ESM with position_embedding_type {positions!r}")
    if config.get("layer_norm_eps", 1e-5) != 1e-5:
        log.warning(
            "%s: layer_norm_eps=%s, but fair-esm's layers use 1e-5: outputs will differ slightly",
            folder,
            config["layer_norm_eps"],
        )
    if positions == "rotary" and config.get("emb_layer_norm_before"):
        raise ContactplugError(f"{folder}: emb_layer_norm_before=True is not an ESM-2 layout")
    raw = read_weights(folder)
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    if config.get("vocab_size", len(alphabet)) != len(alphabet):
        raise ContactplugError(f"{folder}: vocab_size {config['vocab_size']} is not ESM's 33")
    with without_init():  # no random weights: the folder's tensors become the module's
        if positions == "absolute":
            module = _esm1b_module(config, alphabet)
        else:
            module = ESM2(
                num_layers=config["num_hidden_layers"],
                embed_dim=config["hidden_size"],
                attention_heads=config["num_attention_heads"],
                alphabet=alphabet,
                token_dropout=config.get("token_dropout", True),
            )
    state = {}
    for key, value in raw.items():
        mapped = hf_key_to_fair_esm(key)
        if mapped is None or (mapped == "embed_positions.weight" and positions == "rotary"):
            continue  # (ESM-2 conversions may carry an unused absolute table)
        if mapped.startswith("layers.*."):  # transformers >= 5 stores one shared buffer
            for n in range(len(module.layers)):
                state[mapped.replace("*", str(n), 1)] = value
        else:
            state[mapped] = value
    if "embed_tokens.weight" in state:
        state["lm_head.weight"] = state["embed_tokens.weight"]
    expected = set(module.state_dict())
    unexpected = sorted(set(state) - expected)
    if unexpected:
        raise ContactplugError(f"{folder}: unexpected weights {', '.join(unexpected[:3])}")
    has_lm, has_contact = check_state(expected, set(state), str(folder))
    try:
        assign_state(module, state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[1].strip() if "\n" in str(exc) else str(exc)
        raise ContactplugError(f"{folder}: weights do not fit config.json ({first})") from None
    name = config.get("_name_or_path", "").split("/")[-1] or folder.name
    if not has_lm:
        log.info("%s: no MLM head in this checkpoint; logit CJ unavailable, repr-CJ works", folder)
    family = Esm1bModel if positions == "absolute" else Esm2Model
    return family(module, alphabet, name, str(folder), has_lm, has_contact, device, dtype)


def find_hf_snapshot(name: str, owner: str = "facebook") -> Path | None:
    snapshots = hf_hub_cache() / f"models--{owner}--{name}" / "snapshots"
    if not snapshots.is_dir():
        return None
    for snap in sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True):
        if (snap / "config.json").exists():
            return snap
    return None
