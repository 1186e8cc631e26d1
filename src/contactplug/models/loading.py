"""`load_model(spec)`: one entry for every way a user names a model: a registry name
(torch-hub cache, HF hub cache, or a download), a fair-esm `.pt`, or an HF folder."""

from __future__ import annotations

import os
from pathlib import Path

from contactplug.files.errors import ContactplugError
from contactplug.models.base import Model
from contactplug.models.fair_esm import (
    download,
    load_fair_esm_checkpoint,
    network_reachable,
    torch_hub_checkpoints,
)
from contactplug.models.hf import find_hf_snapshot, hf_hub_cache, load_hf_folder

# name -> (layers, embed_dim, heads); one registry, as in fair-esm.
REGISTRY: dict[str, tuple[int, int, int]] = {
    "esm2_t6_8M_UR50D": (6, 320, 20),
    "esm2_t12_35M_UR50D": (12, 480, 20),
    "esm2_t30_150M_UR50D": (30, 640, 20),
    "esm2_t33_650M_UR50D": (33, 1280, 20),
    "esm2_t36_3B_UR50D": (36, 2560, 40),
    "esm2_t48_15B_UR50D": (48, 5120, 40),
    "esm1b_t33_650M_UR50S": (33, 1280, 20),
}
DEFAULT_MODEL = "esm2_t6_8M_UR50D"


def load_by_name(name: str, device="auto", dtype="float32") -> Model:
    cached = torch_hub_checkpoints() / f"{name}.pt"
    if cached.exists():
        return load_fair_esm_checkpoint(cached, device, dtype)
    snapshot = find_hf_snapshot(name)
    if snapshot is not None:
        return load_hf_folder(snapshot, device, dtype)
    if not network_reachable():
        raise ContactplugError(
            f"model {name} is not cached ({cached} or {hf_hub_cache()}/models--facebook--{name}) "
            "and the network is unreachable; pass --model PATH to a fair-esm .pt or an HF folder"
        )
    try:
        return load_fair_esm_checkpoint(download(name), device, dtype)
    except OSError as exc:
        raise ContactplugError(
            f"download of {name} failed ({exc}); pass --model PATH to local weights"
        ) from None


def load_model(spec: str = DEFAULT_MODEL, device: str = "auto", dtype: str = "float32") -> Model:
    """A registry name, a fair-esm .pt file, or an HF folder (or its hub-cache root)."""
    path = Path(os.path.expanduser(spec))
    if path.is_dir():
        if not (path / "config.json").exists() and (path / "snapshots").is_dir():
            snaps = [p for p in (path / "snapshots").iterdir() if (p / "config.json").exists()]
            if snaps:
                path = max(snaps, key=lambda p: p.stat().st_mtime)
        return load_hf_folder(path, device, dtype)
    if path.suffix == ".pt" or path.is_file():
        if not path.exists():
            raise ContactplugError(f"{path}: no such checkpoint file")
        return load_fair_esm_checkpoint(path, device, dtype)
    if spec in REGISTRY:
        return load_by_name(spec, device, dtype)
    raise ContactplugError(
        f"unknown model {spec!r}: give a name ({', '.join(REGISTRY)}), a fair-esm .pt file "
        "or a HuggingFace folder"
    )
