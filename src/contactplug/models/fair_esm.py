"""fair-esm checkpoints: the official `.pt` layouts (ESM-2's `cfg`, ESM-1b/ESM-1v's `args`,
with the `-contact-regression.pt` beside it), the torch-hub cache, the download when the
network is there, and the writer tests use to make checkpoints in those layouts.

A module is built without initialising its weights and takes the checkpoint's tensors as
its own (`without_init`, `assign_state`): fair-esm's own load draws random weights only to
overwrite them, and copies every weight once more (together 0.3-0.9 s of a 35M CLI run)."""

from __future__ import annotations

import argparse
import logging
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import esm
import torch
from esm.model.esm1 import ProteinBertModel
from esm.model.esm2 import ESM2
from torch.overrides import TorchFunctionMode

from contactplug.files.errors import ContactplugError
from contactplug.models.base import CONTACT_KEYS, check_state, safe_torch_load
from contactplug.models.esm1b import Esm1bModel
from contactplug.models.esm2 import Esm2Model
from contactplug.models.fair_esm_model import FairEsmModel
from contactplug.models.unsupported import refuse

log = logging.getLogger("contactplug")
FAIR_ESM_URL = "https://dl.fbaipublicfiles.com/fair-esm"


def torch_hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def wrap_fair_esm(
    module: torch.nn.Module,
    alphabet: esm.data.Alphabet,
    name: str,
    source: str,
    has_lm: bool,
    has_contact: bool,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "float32",
) -> FairEsmModel:
    """The family of a fair-esm module: ESM-2, ESM-1b/ESM-1v; anything else is refused."""
    if isinstance(module, ESM2):
        family = Esm2Model
    elif isinstance(module, ProteinBertModel) and module.model_version == "ESM-1b":
        family = Esm1bModel
    else:
        kind = getattr(module, "model_version", type(module).__name__)
        raise refuse(source, f"a fair-esm {kind} checkpoint")
    return family(module, alphabet, name, source, has_lm, has_contact, device, dtype)


def load_fair_esm_checkpoint(
    path: Path, device="auto", dtype="float32", data: dict | None = None
) -> FairEsmModel:
    """A fair-esm .pt (`data`: its contents when the caller has read them already)."""
    data = safe_torch_load(path) if data is None else data
    if not isinstance(data, dict) or "model" not in data:
        raise refuse(path, "not a fair-esm checkpoint (no 'model' entry)")
    arch = getattr(data.get("args"), "arch", "roberta_large")
    if "cfg" not in data and arch != "roberta_large":
        raise refuse(path, f"a fair-esm {arch} checkpoint (ESM-1, MSA Transformer, ESM-IF)")
    regression = path.with_name(path.stem + "-contact-regression.pt")
    if regression.exists():
        data["model"].update(safe_torch_load(regression)["model"])
    check_architecture(path, data)
    try:
        with without_init():  # fair-esm's own builders, minus the random weights
            if "cfg" in data:
                module, alphabet, state = esm.pretrained._load_model_and_alphabet_core_v2(data)
            else:
                module, alphabet, state = esm.pretrained._load_model_and_alphabet_core_v1(data)
    except (KeyError, AttributeError, ValueError) as exc:
        raise ContactplugError(f"{path}: unrecognised fair-esm checkpoint layout ({exc})") from None
    has_lm, has_contact = check_state(set(module.state_dict()), set(state), str(path))
    assign_state(module, state)
    if not has_contact:
        log.warning("%s: no contact regression weights beside it; esm-head is unavailable", path)
    return wrap_fair_esm(module, alphabet, path.stem, str(path), has_lm, has_contact, device, dtype)


class _SkipInit(TorchFunctionMode):
    """Within it, torch.nn.init's initialisers and the random in-place fills leave tensors
    as they are (uninitialised memory), so a module costs its allocation only."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__module__", None) == "torch.nn.init" or func in _RANDOM_FILLS:
            return args[0] if args else kwargs["tensor"]
        return func(*args, **(kwargs or {}))


_RANDOM_FILLS = (torch.Tensor.uniform_, torch.Tensor.normal_)


@contextmanager
def without_init() -> Iterator[None]:
    """Build modules without initialising their weights: the random draws (~0.3 s of a 35M
    ESM-2, as much again for 150M) would only be overwritten by the checkpoint. The weights
    hold garbage until `assign_state`. Not the meta device: its first use imports torch's
    Python decompositions (~2 s). Computed buffers (ESM-2's rotary inv_freq) are made as
    usual. A torch-function mode is per thread, so other threads are untouched."""
    with _SkipInit():
        yield


def assign_state(module: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Load `state` into a module built `without_init`, as load_state_dict(strict=False)
    into an initialised one would leave it, without copying: the checkpoint's tensors become
    the module's (cast to the module's dtype where they differ, as copy_ would). Shape errors
    raise load_state_dict's RuntimeError.

    - Tied weights (the LM head's weight is the embedding's Parameter): a copying load ends
      with the value of the name loaded last; the tie is restored with that one.
    - Weights absent from the checkpoint (an optional LM or contact head, which the loaders
      report as unavailable) become zeros: nothing runs them, and the fingerprint, which
      reads the contact head, no longer depends on the random state as it did."""
    targets = module.state_dict(keep_vars=True)
    ready = {}
    for key, value in state.items():
        target = targets.get(key)
        if target is not None and value.is_floating_point() and value.dtype != target.dtype:
            value = value.to(target.dtype)
        ready[key] = value.contiguous() if target is not None else value
    ties: dict[int, list[str]] = {}
    for name, param in module.named_parameters(remove_duplicate=False):
        ties.setdefault(id(param), []).append(name)
    module.load_state_dict(ready, strict=False, assign=True)
    for names in ties.values():
        loaded = [n for n in names if n in ready]
        if not loaded:  # uninitialised memory: zeros instead
            with torch.no_grad():
                module.get_parameter(names[0]).zero_()
        elif len(names) > 1:
            shared = module.get_parameter(loaded[-1])  # load order is this order: last wins
            for name in names:
                owner, _, leaf = name.rpartition(".")
                setattr(module.get_submodule(owner), leaf, shared)


def check_architecture(path: Path, data: dict) -> None:
    """Refuse an impossible architecture in one line before fair-esm builds it (negative sizes
    fail deep inside torch, a width not divisible by the heads in an assertion)."""
    names = ("encoder_layers", "encoder_embed_dim", "encoder_attention_heads")
    if "cfg" in data:
        cfg = getattr(data["cfg"], "get", lambda key, default=None: default)("model")
    else:  # ESM-1b/1v's args: `encoder_layers` ..., or `layers` ... in older files
        cfg = data.get("args")
    values = [getattr(cfg, name, getattr(cfg, name[8:], None)) for name in names]
    if cfg is None or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ContactplugError(f"{path}: the checkpoint's config lacks {', '.join(names)}")
    layers, dim, heads = values
    if layers < 1 or dim < 1 or heads < 1:
        raise ContactplugError(
            f"{path}: impossible architecture ({layers} layers, width {dim}, {heads} heads)"
        )
    if dim % heads:
        raise ContactplugError(f"{path}: width {dim} is not divisible by its {heads} heads")


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


def save_fair_esm_checkpoint(module: torch.nn.Module, path: str | os.PathLike) -> Path:
    """Write `module` in its official layout, with the contact regression in the
    `-contact-regression.pt` file beside it, as fair-esm ships them: ESM-2 as a cfg Namespace
    and `encoder.sentence_encoder.` keys; ESM-1b/ESM-1v as fairseq's `args` Namespace
    (arch roberta_large, `encoder_*` names) and its keys (the LM head under `encoder.`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = module.state_dict()
    if isinstance(module, ESM2):
        cfg = argparse.Namespace(
            encoder_layers=module.num_layers,
            encoder_embed_dim=module.embed_dim,
            encoder_attention_heads=module.attention_heads,
            token_dropout=module.token_dropout,
        )
        header = {"cfg": {"model": cfg}}
    else:
        a = module.args
        args = argparse.Namespace(
            arch="roberta_large",
            encoder_layers=a.layers,
            encoder_embed_dim=a.embed_dim,
            encoder_ffn_embed_dim=a.ffn_embed_dim,
            encoder_attention_heads=a.attention_heads,
            max_positions=a.max_positions,
            token_dropout=getattr(a, "token_dropout", False),
            logit_bias=True,
        )
        header = {"args": args}

    def official(key: str) -> str:
        if isinstance(module, ProteinBertModel) and key.startswith(LM_HEAD):
            return f"encoder.{key}"
        return f"encoder.sentence_encoder.{key}"

    body = {official(k): v for k, v in state.items() if k not in CONTACT_KEYS}
    torch.save({**header, "model": body}, path)
    head = {k: v for k, v in state.items() if k in CONTACT_KEYS}
    torch.save({"model": head}, path.with_name(path.stem + "-contact-regression.pt"))
    return path


LM_HEAD = "lm_head."
