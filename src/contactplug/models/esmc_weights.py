"""ESM C's checkpoints: the bare `.pth` state dict (architecture read from the tensor shapes),
the HF hub snapshot folder of EvolutionaryScale/esmc-300m-2024-12 / esmc-600m-2024-12 (its
`data/weights/*.pth`), and the names esmc_300m / esmc_600m looked up offline in the hub
cache. Everything foreign or damaged is refused in one line."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch

from contactplug.files.errors import ContactplugError
from contactplug.models.base import hf_hub_cache
from contactplug.models.esmc import ESMC, ffn_width

HEAD_DIM = 64  # every ESM C release: 300M 960/15, 600M 1152/18, 6B 2560/40
# name -> (HF hub repository, weights file under data/weights/)
RELEASES = {
    "esmc_300m": ("EvolutionaryScale/esmc-300m-2024-12", "esmc_300m_2024_12_v0.pth"),
    "esmc_600m": ("EvolutionaryScale/esmc-600m-2024-12", "esmc_600m_2024_12_v0.pth"),
}


def _fail(path: Path | str, why: str) -> ContactplugError:
    return ContactplugError(f"{path}: {why}")


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors, loaded safely (weights_only); refused when not ESM C."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged or foreign file
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        if "Weights only load failed" in reason:  # pickled objects, e.g. a fair-esm .pt
            reason = "it pickles Python objects; ESM C's is a plain state dict"
        raise _fail(path, f"cannot read as a PyTorch checkpoint ({reason})") from None
    if isinstance(state, Mapping) and "model" in state and ("args" in state or "cfg" in state):
        raise _fail(path, "is a fair-esm checkpoint, not ESM C")
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise _fail(path, "not an ESM C checkpoint (not a flat dict of tensors)")
    if "transformer.blocks.0.attn.layernorm_qkv.1.weight" not in state:
        raise _fail(path, "not an ESM C checkpoint (no transformer.blocks.0.attn.layernorm_qkv)")
    return dict(state)


def from_state(
    state: Mapping[str, torch.Tensor],
    heads: int | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    source: str = "",
) -> ESMC:
    """An ESM C with its architecture read from the tensor shapes (heads: d_model / 64 unless
    given; a reduced test config passes it). Every tensor must be there, in its shape, finite."""
    where = source or "ESM C state"
    embed = state.get("embed.weight")
    if embed is None or embed.ndim != 2:
        raise _fail(where, "not an ESM C checkpoint (no 2-D embed.weight)")
    d_model = embed.shape[1]
    if heads is None:
        if d_model % HEAD_DIM:
            raise _fail(where, f"d_model {d_model} is not a multiple of {HEAD_DIM}; give heads")
        heads = d_model // HEAD_DIM
    numbers = [re.match(r"transformer\.blocks\.(\d+)\.", k) for k in state]
    layers = 1 + max((int(m[1]) for m in numbers if m), default=-1)
    if not layers:
        raise _fail(where, "not an ESM C checkpoint (no transformer.blocks)")
    hidden_key = "transformer.blocks.0.ffn.3.weight"
    hidden = state[hidden_key].shape[-1] if hidden_key in state else ffn_width(d_model)
    with torch.device("meta"):
        model = ESMC(
            d_model, heads, layers, hidden, sequence_head="sequence_head.3.weight" in state
        )
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        more = len(missing) + len(extra) - 1
        raise _fail(where, f"not an ESM C checkpoint ({what}{f' and {more} more' if more else ''})")
    for key, shape in expected.items():
        tensor = state[key]
        if tuple(tensor.shape) != shape:
            raise _fail(where, f"{key} has shape {tuple(tensor.shape)}, ESM C needs {shape}")
        if not tensor.is_floating_point() or not bool(torch.isfinite(tensor).all()):
            raise _fail(where, f"{key} is not finite floating point (damaged checkpoint?)")
    model.load_state_dict({k: state[k].to(device, dtype) for k in expected}, assign=True)
    model.requires_grad_(False).eval()
    model.source = source
    return model


def _from_repo_cache(repo_dir: Path, filename: str | None) -> Path | None:
    """The weights in a hub-cache repository folder: the snapshot refs/main names, else the
    newest snapshot that has them."""
    snapshots = repo_dir / "snapshots"
    ref = repo_dir / "refs" / "main"
    order = [snapshots / ref.read_text().strip()] if ref.is_file() else []
    order += sorted(snapshots.glob("*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for snap in order:
        found = _weights_in(snap, filename)
        if found is not None:
            return found
    return None


def _weights_in(folder: Path, filename: str | None) -> Path | None:
    weights = folder / "data" / "weights"
    candidates = [weights / filename] if filename else sorted(weights.glob("*.pth"))
    candidates = [p for p in candidates if p.is_file()]
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise _fail(folder, f"several checkpoints in data/weights ({names}); give the file")
    return candidates[0] if candidates else None


def resolve(spec: str | Path) -> Path:
    """The .pth file a spec names: a file, an HF snapshot folder (or its hub-cache repository
    folder), or esmc_300m / esmc_600m looked up offline in the hub cache."""
    if str(spec) in RELEASES:
        repo, filename = RELEASES[str(spec)]
        repo_dir = hf_hub_cache() / ("models--" + repo.replace("/", "--"))
        found = _from_repo_cache(repo_dir, filename)
        if found is None:
            raise _fail(spec, f"not in the HuggingFace cache {hf_hub_cache()} (download {repo})")
        return found
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        found = (
            _from_repo_cache(path, None)
            if (path / "snapshots").is_dir()
            else _weights_in(path, None)
        )
        if found is None:
            raise _fail(path, "no data/weights/*.pth here (not an ESM C snapshot folder)")
        return found
    names = ", ".join(RELEASES)
    raise _fail(spec, f"no such file or folder, and not a known ESM C name ({names})")


def load(
    spec: str | Path,
    heads: int | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> ESMC:
    """ESM C from a .pth, a snapshot folder or a release name (see `resolve`)."""
    path = resolve(spec)
    model = from_state(read_state(path), heads=heads, device=device, dtype=dtype, source=str(path))
    if str(spec) in RELEASES:
        model.name = str(spec)
    return model
