"""Load ESM models into fair-esm's implementation: by name, from a fair-esm .pt, or from an
HF-format folder (`contactplug.hf` maps HF keys onto fair-esm's `ESM2`; one implementation).

Official fair-esm checkpoints pickle an `argparse.Namespace`; torch >= 2.6 loads with
`weights_only=True` and refuses it. We allow exactly that class for the one load
(`torch.serialization.safe_globals`) instead of switching safety off.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import esm
import torch
from esm.model.esm2 import ESM2

from contactplug.errors import ContactplugError

log = logging.getLogger("contactplug")

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
FAIR_ESM_URL = "https://dl.fbaipublicfiles.com/fair-esm"
CONTACT_KEYS = {"contact_head.regression.weight", "contact_head.regression.bias"}
LM_HEAD_PREFIX = "lm_head."


@dataclass
class Model:
    """A loaded fair-esm model and what it can do."""

    esm: torch.nn.Module
    alphabet: esm.data.Alphabet
    name: str
    source: str
    fingerprint: str
    has_lm_head: bool
    has_contact_head: bool
    device: torch.device
    dtype: torch.dtype

    @property
    def num_layers(self) -> int:
        return len(self.esm.layers)

    @property
    def num_heads(self) -> int:
        return self.esm.layers[0].self_attn.num_heads

    @property
    def max_length(self) -> int:
        return 1022

    def methods(self) -> dict[str, str | None]:
        """Method name -> None when it can run, else the reason it cannot."""
        no_lm = "the checkpoint has no MLM head (use --repr for representation-CJ)"
        no_contact = "the checkpoint has no contact regression weights"
        return {
            "attention": None,
            "all-heads": None,
            "esm-head": None if self.has_contact_head else no_contact,
            "jacobian": None if self.has_lm_head else no_lm,
            "jacobian-fast": None if self.has_lm_head else no_lm,
            "repr-jacobian": None,
            "repr-jacobian-fast": None,
        }

    def require(self, method: str) -> None:
        methods = self.methods()
        if method not in methods:
            raise ContactplugError(f"unknown method {method!r}; choose from {', '.join(methods)}")
        if methods[method] is not None:
            raise ContactplugError(f"{self.name}: method {method!r} cannot run: {methods[method]}")

    def tokens(self, sequences: list[str]) -> torch.Tensor:
        """BOS + residues + EOS, right-padded, on the model's device."""
        a = self.alphabet
        width = max(len(s) for s in sequences) + 2
        out = torch.full((len(sequences), width), a.padding_idx, dtype=torch.long)
        for row, seq in enumerate(sequences):
            out[row, 0] = a.cls_idx
            out[row, 1 : len(seq) + 1] = torch.tensor([a.get_idx(c) for c in seq])
            out[row, len(seq) + 1] = a.eos_idx
        return out.to(self.device)

    def describe(self) -> str:
        ok = [m for m, why in self.methods().items() if why is None]
        return (
            f"{self.name} ({self.num_layers} layers x {self.num_heads} heads, {self.device}, "
            f"{str(self.dtype).replace('torch.', '')}); methods: {', '.join(ok)}"
        )


def cache_dir() -> Path:
    """contactplug's own cache (head rankings, fetched test weights)."""
    root = os.environ.get("CONTACTPLUG_CACHE") or Path.home() / ".cache" / "contactplug"
    return Path(root)


def torch_hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ContactplugError("--device cuda was asked for, but torch sees no CUDA device")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ContactplugError(f"unknown device {device!r} (auto, cpu, cuda, cuda:N)") from None


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    table = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if dtype not in table:
        raise ContactplugError(f"unknown dtype {dtype!r}; choose from {', '.join(table)}")
    if table[dtype] is torch.float16 and device.type == "cpu":
        log.warning("float16 is slow and inexact on CPU; using float32 instead")
        return torch.float32
    return table[dtype]


def safe_torch_load(path: Path) -> dict:
    """torch.load with weights_only=True, admitting only argparse.Namespace (fair-esm's cfg)."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ContactplugError(f"{path}: no such checkpoint file") from None
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ContactplugError(
            f"{path}: corrupt or unreadable checkpoint ({first[:160]})"
        ) from None


def fingerprint(module: torch.nn.Module) -> str:
    """Identity of the weights (not the name: a fine-tuned model calls itself esm2_t6_8M too)."""
    h = hashlib.sha256()
    state = module.state_dict()
    picks = [k for k in state if k.startswith("embed_tokens")]
    picks += [k for k in state if k.startswith(f"layers.{len(module.layers) - 1}.")]
    picks += sorted(k for k in state if k.startswith("contact_head"))
    for key in picks:
        tensor = state[key].detach().to("cpu", torch.float32).contiguous()
        h.update(key.encode())
        h.update(tensor.numpy().tobytes())
    return h.hexdigest()[:16]


def _finish(module, alphabet, name, source, has_lm, has_contact, device, dtype) -> Model:
    device = resolve_device(device) if isinstance(device, str) else device
    dtype = resolve_dtype(dtype, device) if isinstance(dtype, str) else dtype
    module.eval()
    fp = fingerprint(module)
    module.to(device=device, dtype=dtype)
    return Model(module, alphabet, name, source, fp, has_lm, has_contact, device, dtype)


def _check_state(expected: set[str], found: set[str], source: str) -> tuple[bool, bool]:
    """Raise on missing encoder weights; report which optional heads are present."""
    missing = {k for k in expected - found if not k.endswith("rot_emb.inv_freq")}
    optional = {k for k in missing if k in CONTACT_KEYS or k.startswith(LM_HEAD_PREFIX)}
    hard = sorted(missing - optional)
    if hard:
        raise ContactplugError(
            f"{source}: checkpoint lacks encoder weights ({', '.join(hard[:3])}"
            f"{', ...' if len(hard) > 3 else ''}); corrupt or not an ESM model"
        )
    has_lm = not any(k.startswith(LM_HEAD_PREFIX) for k in missing)
    has_contact = not (CONTACT_KEYS & missing)
    return has_lm, has_contact


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
    has_lm, has_contact = _check_state(set(module.state_dict()), set(state), str(path))
    module.load_state_dict(state, strict=False)
    if not has_contact:
        log.warning("%s: no contact regression weights beside it; esm-head is unavailable", path)
    return _finish(module, alphabet, path.stem, str(path), has_lm, has_contact, device, dtype)


def _network_reachable(host: str = "dl.fbaipublicfiles.com", timeout: float = 3.0) -> bool:
    if os.environ.get("CONTACTPLUG_OFFLINE") or os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _download(name: str) -> Path:
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


def load_by_name(name: str, device="auto", dtype="float32") -> Model:
    cached = torch_hub_checkpoints() / f"{name}.pt"
    if cached.exists():
        return load_fair_esm_checkpoint(cached, device, dtype)
    from contactplug.hf import find_hf_snapshot, hf_hub_cache, load_hf_folder

    snapshot = find_hf_snapshot(name)
    if snapshot is not None:
        return load_hf_folder(snapshot, device, dtype)
    if not _network_reachable():
        raise ContactplugError(
            f"model {name} is not cached ({cached} or {hf_hub_cache()}/models--facebook--{name}) "
            "and the network is unreachable; pass --model PATH to a fair-esm .pt or an HF folder"
        )
    try:
        return load_fair_esm_checkpoint(_download(name), device, dtype)
    except OSError as exc:
        raise ContactplugError(
            f"download of {name} failed ({exc}); pass --model PATH to local weights"
        ) from None


def load_model(spec: str = DEFAULT_MODEL, device: str = "auto", dtype: str = "float32") -> Model:
    """A registry name, a fair-esm .pt file, or an HF folder (or its hub-cache root)."""
    path = Path(os.path.expanduser(spec))
    if path.is_dir():
        from contactplug.hf import load_hf_folder

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


def make_tiny_model(layers: int = 2, embed_dim: int = 32, heads: int = 4, seed: int = 0) -> ESM2:
    """A randomly initialised fair-esm ESM2 for tests (deterministic for a seed)."""
    torch.manual_seed(seed)
    module = ESM2(layers, embed_dim, heads, alphabet="ESM-1b", token_dropout=True)
    return module.eval()


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
