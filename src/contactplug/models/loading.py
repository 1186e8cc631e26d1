"""`load_model(spec)`: one entry for every way a user names a model, whatever its family.

A spec is a registry name (torch-hub cache, HF hub cache, or a fair-esm download), a file
(a fair-esm `.pt`, an ESM C `.pth`), or a folder (an HF ESM-2, T5, AMPLIFY or ProGen2 folder,
Salesforce's ProGen2 checkpoint folder, an ESM C snapshot with data/weights/*.pth, or the
hub-cache folder `models--owner--name` holding snapshots).
The family is told by what the files hold, not by their names; anything else is refused in
one line that names the families read (`unsupported`).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from contactplug.files.errors import ContactplugError, arg
from contactplug.models import amplify_weights, esmc_model, progen2_weights
from contactplug.models.base import Model, hf_hub_cache, safe_torch_load
from contactplug.models.fair_esm import (
    download,
    load_fair_esm_checkpoint,
    network_reachable,
    torch_hub_checkpoints,
)
from contactplug.models.hf import find_hf_snapshot, load_hf_folder, read_config
from contactplug.models.registry import DEFAULT_MODEL, REGISTRY
from contactplug.models.unsupported import SUPPORTED, known_family, refuse


def load_by_name(name: str, device="auto", dtype="float32") -> Model:
    arch = REGISTRY[name]
    if arch.family == "ESM C":
        return esmc_model.load(name, device, dtype)
    if arch.family == "AMPLIFY":
        return amplify_weights.load_release(name, device, dtype)
    if arch.family == "ProGen2":
        return progen2_weights.load_release(name, device, dtype)
    if arch.family == "ProtT5":
        snapshot = find_hf_snapshot(name, arch.hub)
        if snapshot is None:
            raise ContactplugError(
                f"model {name} is not in the HF cache ({hf_hub_cache()}/models--{arch.hub}--"
                f"{name}); download {arch.hub}/{name} or "
                + arg("model", "PATH", phrase="pass {} to its folder")
            )
        return load_folder(snapshot, device, dtype, name)
    cached = torch_hub_checkpoints() / f"{name}.pt"
    if cached.exists():
        return load_fair_esm_checkpoint(cached, device, dtype)
    snapshot = find_hf_snapshot(name)
    if snapshot is not None:
        return load_hf_folder(snapshot, device, dtype)
    if not network_reachable():
        raise ContactplugError(
            f"model {name} is not cached ({cached} or {hf_hub_cache()}/models--facebook--{name}) "
            "and the network is unreachable; "
            + arg("model", "PATH", phrase="pass {} to a fair-esm .pt or an HF folder")
        )
    try:
        return load_fair_esm_checkpoint(download(name), device, dtype)
    except OSError as exc:
        raise ContactplugError(
            f"download of {name} failed ({exc}); "
            + arg("model", "PATH", phrase="pass {} to local weights")
        ) from None


def load_file(path: Path, device="auto", dtype="float32") -> Model:
    """A checkpoint file, read once: fair-esm's (a `model` entry) or ESM C's (flat tensors)."""
    data = safe_torch_load(path)
    if isinstance(data, dict) and "model" in data:
        return load_fair_esm_checkpoint(path, device, dtype, data)
    if isinstance(data, dict) and "transformer.blocks.0.attn.layernorm_qkv.1.weight" in data:
        if not all(isinstance(v, torch.Tensor) for v in data.values()):
            raise refuse(path, "not an ESM C checkpoint (not a flat dict of tensors)")
        return esmc_model.from_state(data, path.stem, str(path), device, dtype)
    raise refuse(path, "neither a fair-esm checkpoint (no 'model' entry) nor ESM C's")


def _snapshot(folder: Path) -> Path:
    """A hub-cache repository folder (`models--owner--name`) -> its newest usable snapshot."""
    if (folder / "config.json").exists() or not (folder / "snapshots").is_dir():
        return folder
    snaps = [
        p
        for p in (folder / "snapshots").iterdir()
        if (p / "config.json").exists() or any((p / "data" / "weights").glob("*.pth"))
    ]
    return max(snaps, key=lambda p: p.stat().st_mtime) if snaps else folder


def load_folder(folder: Path, device="auto", dtype="float32", name: str | None = None) -> Model:
    """An HF folder by its config's model_type, or an ESM C snapshot by its data/weights."""
    folder = _snapshot(folder)
    if any((folder / "data" / "weights").glob("*.pth")):
        model = esmc_model.load(str(folder), device, dtype)
        model.name = name or model.name
        return model
    if not (folder / "config.json").exists():
        raise refuse(folder, "no config.json (not an HF model folder) and no data/weights/*.pth")
    config = read_config(folder)
    model_type = config.get("model_type")
    other = known_family(config)
    if other:
        raise refuse(folder, f"{other} is not supported")
    if model_type == "esm":
        return load_hf_folder(folder, device, dtype)
    for family, takes, loader in (
        ("AMPLIFY", amplify_weights.is_amplify, amplify_weights.load_folder),
        ("ProGen2", progen2_weights.is_progen2, progen2_weights.load_folder),
    ):
        if takes(config):
            if not any((folder / f).exists() for f in ("model.safetensors", "pytorch_model.bin")):
                raise refuse(folder, f"a {family} config.json without its weights "
                                     "(model.safetensors or pytorch_model.bin)")  # fmt: skip
            return loader(folder, config, device, dtype, name)
    if model_type in ("t5", "mt5"):
        from contactplug.models.prot_t5 import load_prot_t5

        return load_prot_t5(folder, config, device, dtype, name)
    raise refuse(folder, f"model_type {model_type!r} is not supported")


def load_model(spec: str = DEFAULT_MODEL, device: str = "auto", dtype: str = "float32") -> Model:
    """A registry name, a checkpoint file, or a model folder (or its hub-cache root)."""
    path = Path(os.path.expanduser(spec))
    if path.is_dir():
        return load_folder(path, device, dtype)
    if path.suffix in (".pt", ".pth") or path.is_file():
        if not path.exists():
            raise ContactplugError(f"{path}: no such checkpoint file")
        return load_file(path, device, dtype)
    if spec in REGISTRY:
        return load_by_name(spec, device, dtype)
    if os.sep in spec or spec.startswith((".", "~")):  # a path, not a name: say what is missing
        raise ContactplugError(f"{spec}: no such model file or folder")
    raise ContactplugError(
        f"unknown model {spec!r}: give a name ({', '.join(REGISTRY)}), a checkpoint file or a "
        f"model folder ({SUPPORTED})"
    )
