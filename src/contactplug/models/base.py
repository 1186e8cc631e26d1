"""What a loaded model is (`Model`), where it runs, and the rules every loader shares:
safe unpickling, the weights fingerprint, and which optional heads a checkpoint carries.

Official fair-esm checkpoints pickle an `argparse.Namespace`; torch >= 2.6 loads with
`weights_only=True` and refuses it. We allow exactly that class for the one load
(`torch.serialization.safe_globals`) instead of switching safety off.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import esm
import torch

from contactplug.files.errors import ContactplugError
from contactplug.files.methods import METHODS, why_unavailable

log = logging.getLogger("contactplug")

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
        """Method name -> None when it can run, else the reason it cannot (`files.methods`)."""
        return {
            name: why_unavailable(name, self.has_lm_head, self.has_contact_head) for name in METHODS
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


def build_model(
    module: torch.nn.Module,
    alphabet: esm.data.Alphabet,
    name: str,
    source: str,
    has_lm: bool,
    has_contact: bool,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "float32",
) -> Model:
    """Put loaded weights in eval mode on the device and dtype, fingerprinted before the cast."""
    device = resolve_device(device) if isinstance(device, str) else device
    dtype = resolve_dtype(dtype, device) if isinstance(dtype, str) else dtype
    module.eval()
    fp = fingerprint(module)
    module.to(device=device, dtype=dtype)
    return Model(module, alphabet, name, source, fp, has_lm, has_contact, device, dtype)


def check_state(expected: set[str], found: set[str], source: str) -> tuple[bool, bool]:
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
