"""fair-esm checkpoints: the official `.pt` layout (with its `-contact-regression.pt`
beside it), the torch-hub cache, the download when the network is there, and the writer
tests use to make checkpoints in that layout."""

from __future__ import annotations

import argparse
import logging
import os
import socket
from pathlib import Path

import esm
import torch
from esm.model.esm2 import ESM2

from contactplug.files.errors import ContactplugError
from contactplug.models.base import (
    CONTACT_KEYS,
    Model,
    build_model,
    check_state,
    safe_torch_load,
)

log = logging.getLogger("contactplug")
FAIR_ESM_URL = "https://dl.fbaipublicfiles.com/fair-esm"


def torch_hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def load_fair_esm_checkpoint(path: Path, device="auto", dtype="float32") -> Model:
    data = safe_torch_load(path)
    if not isinstance(data, dict) or "model" not in data:
        raise ContactplugError(f"{path}: not a fair-esm checkpoint (no 'model' entry)")
    regression = path.with_name(path.stem + "-contact-regression.pt")
    if regression.exists():
        data["model"].update(safe_torch_load(regression)["model"])
    try:
        if "cfg" in data:
            module, alphabet, state = esm.pretrained._load_model_and_alphabet_core_v2(data)
        else:
            module, alphabet, state = esm.pretrained._load_model_and_alphabet_core_v1(data)
    except (KeyError, AttributeError, ValueError) as exc:
        raise ContactplugError(f"{path}: unrecognised fair-esm checkpoint layout ({exc})") from None
    has_lm, has_contact = check_state(set(module.state_dict()), set(state), str(path))
    module.load_state_dict(state, strict=False)
    if not has_contact:
        log.warning("%s: no contact regression weights beside it; esm-head is unavailable", path)
    return build_model(module, alphabet, path.stem, str(path), has_lm, has_contact, device, dtype)


def network_reachable(host: str = "dl.fbaipublicfiles.com", timeout: float = 3.0) -> bool:
    if os.environ.get("CONTACTPLUG_OFFLINE") or os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def download(name: str) -> Path:
    target = torch_hub_checkpoints()
    target.mkdir(parents=True, exist_ok=True)
    files = [(f"{FAIR_ESM_URL}/models/{name}.pt", target / f"{name}.pt")]
    files.append(
        (
            f"{FAIR_ESM_URL}/regression/{name}-contact-regression.pt",
            target / f"{name}-contact-regression.pt",
        )
    )
    for url, path in files:
        if not path.exists():
            log.info("downloading %s", url)
            torch.hub.download_url_to_file(url, str(path), progress=True)
    return target / f"{name}.pt"


def save_fair_esm_checkpoint(module: ESM2, path: str | os.PathLike) -> Path:
    """Write `module` in the official ESM-2 layout (cfg Namespace + prefixed keys), with the
    contact regression in the `-contact-regression.pt` file beside it, as fair-esm ships them."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = argparse.Namespace(
        encoder_layers=module.num_layers,
        encoder_embed_dim=module.embed_dim,
        encoder_attention_heads=module.attention_heads,
        token_dropout=module.token_dropout,
    )
    state = module.state_dict()
    body = {f"encoder.sentence_encoder.{k}": v for k, v in state.items() if k not in CONTACT_KEYS}
    torch.save({"cfg": {"model": cfg}, "model": body}, path)
    head = {k: v for k, v in state.items() if k in CONTACT_KEYS}
    torch.save({"model": head}, path.with_name(path.stem + "-contact-regression.pt"))
    return path
