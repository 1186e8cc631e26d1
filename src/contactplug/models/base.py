"""The one model interface (`Model`), where a model runs, and the rules every loader shares:
safe unpickling, the weights fingerprint, which optional heads a checkpoint carries, and a
checkpoint's sizes against its config. What every family's `tokens()` and `forward` do alike
is here too: rows padded, the wanted heads checked, autocast, the logits' vocabulary columns.

Everything above `models/` (readout, ranking, windows, batching, Jacobian, calibration, the
plugin, the pipeline, bench) talks to a `Model` and knows no family by name. A family is one
module that subclasses it: ESM-2 (`esm2`), ESM-1b/ESM-1v (`esm1b`), ESM C (`esmc_model`),
ProtT5 (`prot_t5`).

A token row is [BOS] residues [EOS] padding: `first_residue` is the row index of residue 0
(1 after a BOS, 0 without one) and `special_tokens` counts BOS and EOS, so a caller crops a
row with `model.residues(length)` and never needs to know which family put what where.

Official fair-esm checkpoints pickle an `argparse.Namespace`; torch >= 2.6 loads with
`weights_only=True` and refuses it. We allow exactly that class for the one load
(`torch.serialization.safe_globals`) instead of switching safety off.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from contactplug.files.errors import ContactplugError, arg
from contactplug.files.methods import METHODS, why_unavailable

log = logging.getLogger("contactplug")

CONTACT_KEYS = {"contact_head.regression.weight", "contact_head.regression.bias"}
LM_HEAD_PREFIX = "lm_head."

# callback(layer, head indices, probabilities B x k x T x T float32); freed afterwards
HeadCallback = Callable[[int, list[int], torch.Tensor], None]
Heads = Mapping[int, Sequence[int]]  # layer -> head indices, 0-based


@dataclass(frozen=True)
class Shape:
    """What a network is, as each family reads it from its config or weights."""

    num_layers: int
    num_heads: int
    embed_dim: int
    vocab_size: int
    max_length: int  # the most residues one forward reads
    mask_id: int | None  # None: the family has no mask token


@dataclass
class Output:
    logits: torch.Tensor | None = None  # B x T x V (or the asked-for vocabulary columns)
    representation: torch.Tensor | None = None  # B x T x E, final hidden states (final norm)
    layers_run: int = 0
    extra: dict = field(default_factory=dict)


class Model(ABC):
    """A loaded protein language model: the one interface of every family.

    forward(tokens, heads, on_heads, ...) runs B x T tokens from `tokens()`; the attention
    probabilities of the wanted (layer, head) pairs only go to `on_heads` one layer at a time
    (B x k x T x T over all T tokens; padded keys get 0), and the forward stops after the last
    wanted layer when neither logits nor the final hidden states are asked for.
    """

    family: str = "?"  # set by each family: "ESM-2", "ESM-1b", "ESM-1v", "ESM C", "ProtT5"
    first_residue: int = 1  # row index of residue 0 (1 after a BOS token)
    special_tokens: int = 2  # tokens a row holds beyond its residues (BOS, EOS)
    pair_floats: int = 0  # float32s per token pair one sequence's bare forward holds itself
    default_linker: str = "special"  # how a complex's chains are joined (`models.joining`)

    def __init__(
        self,
        module: torch.nn.Module,
        shape: Shape,
        name: str,
        source: str,
        fingerprint: str,
        has_lm_head: bool,
        has_contact_head: bool,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        self.module = module
        self.shape = shape
        self.name = name
        self.source = source
        self.fingerprint = fingerprint
        self.has_lm_head = has_lm_head
        self.has_contact_head = has_contact_head
        self.device = device
        self.dtype = dtype

    # -- the network's shape (`Shape`, read once by the family) ---------------------------
    @property
    def num_layers(self) -> int:
        return self.shape.num_layers

    @property
    def num_heads(self) -> int:
        return self.shape.num_heads

    @property
    def embed_dim(self) -> int:
        return self.shape.embed_dim

    @property
    def vocab_size(self) -> int:
        return self.shape.vocab_size

    @property
    def max_length(self) -> int:
        """The most residues one forward reads (longer proteins are read in windows)."""
        return self.shape.max_length

    @property
    def mask_id(self) -> int | None:
        """The mask token (the Jacobian's `fast` variants), None when the family has none."""
        return self.shape.mask_id

    # -- tokens ----------------------------------------------------------------------------
    @abstractmethod
    def tokens(self, sequences: Sequence[str]) -> torch.Tensor:
        """B x T token ids ([BOS] residues [EOS], right-padded) on the model's device."""

    @abstractmethod
    def token_ids(self, letters: Iterable[str]) -> list[int]:
        """The token id of each residue letter (substitutions, logit columns)."""

    def residues(self, length: int) -> slice:
        """Where a sequence of `length` residues sits in its token row."""
        return slice(self.first_residue, self.first_residue + length)

    # -- the forward -----------------------------------------------------------------------
    @abstractmethod
    def forward(
        self,
        tokens: torch.Tensor,
        heads: Heads | None = None,
        on_heads: HeadCallback | None = None,
        logits: bool = True,
        columns: Sequence[int] | None = None,
        representation: bool = False,
        autocast: torch.dtype | None = None,
    ) -> Output:
        """Run B x T tokens. columns: vocabulary ids of the logits to return; autocast: e.g.
        torch.bfloat16 for reduced-precision matrix products. Asking for logits of a model
        without an MLM head is an error (`require` says so first)."""

    def contact_regression(self) -> tuple[torch.Tensor, torch.Tensor]:
        """ESM's contact head: (weight over layers x heads features, bias), float32."""
        raise ContactplugError(f"{self.name}: the checkpoint has no contact regression weights")

    # -- what it can do --------------------------------------------------------------------
    def methods(self) -> dict[str, str | None]:
        """Method name -> None when it can run, else the reason it cannot (`files.methods`)."""
        return {
            name: why_unavailable(
                name, self.has_lm_head, self.has_contact_head, self.mask_id is not None
            )
            for name in METHODS
        }

    def require(self, method: str) -> None:
        methods = self.methods()
        if method not in methods:
            raise ContactplugError(f"unknown method {method!r}; choose from {', '.join(methods)}")
        if methods[method] is not None:
            raise ContactplugError(f"{self.name}: method {method!r} cannot run: {methods[method]}")

    def describe(self) -> str:
        ok = [m for m, why in self.methods().items() if why is None]
        return (
            f"{self.name} ({self.family}, {self.num_layers} layers x {self.num_heads} heads, "
            f"max {self.max_length} residues, {self.device}, "
            f"{str(self.dtype).replace('torch.', '')}); methods: {', '.join(ok)}"
        )


def padded_rows(rows: Sequence[Sequence[int]], pad: int) -> torch.Tensor:
    """B x T int64 (CPU) of token rows right-padded with `pad` to the longest: every family's
    `tokens()` once it has made each row."""
    out = torch.full((len(rows), max(map(len, rows))), pad, dtype=torch.long)
    for index, row in enumerate(rows):
        out[index, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def checked_heads(
    heads: Heads | None, on_heads: HeadCallback | None, layers: int, per_layer: int, family: str
) -> dict[int, list[int]]:
    """`forward`'s heads as layer -> sorted head indices (empty layers dropped), each head one
    the network has (else one line); heads without a callback are the caller's bug."""
    heads = {int(k): sorted(int(h) for h in v) for k, v in (heads or {}).items() if v}
    if heads and on_heads is None:
        raise ValueError("heads were asked for without an on_heads callback")
    for layer, wanted in heads.items():
        if not 0 <= layer < layers or not 0 <= wanted[0] <= wanted[-1] < per_layer:
            raise ContactplugError(f"{family} has no head {wanted} in layer {layer}")
    return heads


def autocast_context(
    tokens: torch.Tensor, autocast: torch.dtype | None
) -> contextlib.AbstractContextManager:
    """`forward`'s autocast: reduced-precision matrix products on the tokens' device, or none."""
    if autocast is None:
        return contextlib.nullcontext()
    return torch.autocast(tokens.device.type, dtype=autocast)


def column_logits(
    x: torch.Tensor, head: torch.nn.Linear, columns: Sequence[int] | None
) -> torch.Tensor:
    """A biased output projection restricted to `forward`'s asked-for vocabulary columns."""
    weight, bias = head.weight, head.bias
    if columns is not None:
        cols = torch.as_tensor(list(columns), device=x.device)
        weight, bias = weight[cols], bias[cols]
    return F.linear(x, weight, bias)


def hf_hub_cache() -> Path:
    """The HuggingFace hub cache, found the way huggingface_hub finds it (HF_HUB_CACHE, else
    HF_HOME/hub, else $XDG_CACHE_HOME or ~/.cache, then huggingface/hub): every family's
    names (esm2_*, esmc_*, prot_t5_*) are looked up there offline."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "huggingface" / "hub"


def resolve_device(device: str = "auto") -> torch.device:
    """auto, cpu, cuda or cuda:N. Other torch devices (mps, meta, xpu, ...) are refused: the
    forwards are written and tested for the CPU and CUDA, and `meta` would give no numbers."""
    text = str(device).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text != "cpu" and not re.fullmatch(r"cuda(:\d+)?", text):
        raise ContactplugError(f"unknown device {device!r}; choose auto, cpu, cuda or cuda:N")
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ContactplugError(f"{arg('device', value=device)}: torch sees no CUDA device")
        index = int(text.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ContactplugError(
                f"{arg('device', value=device)}: torch sees {torch.cuda.device_count()} "
                "CUDA device(s)"
            )
    return torch.device(text)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    table = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if dtype not in table:
        raise ContactplugError(f"unknown dtype {dtype!r}; choose from {', '.join(table)}")
    if table[dtype] is torch.float16 and device.type == "cpu":
        log.warning("float16 is slow and inexact on CPU; using float32 instead")
        return torch.float32
    return table[dtype]


def place(device: str | torch.device, dtype: str | torch.dtype) -> tuple[torch.device, torch.dtype]:
    """Resolve a device and dtype given as strings (CLI) or as torch objects (library)."""
    device = resolve_device(device) if isinstance(device, str) else device
    dtype = resolve_dtype(dtype, device) if isinstance(dtype, str) else dtype
    return device, dtype


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


def fingerprint_state(state: Mapping[str, torch.Tensor], picks: Iterable[str]) -> str:
    """Identity of the weights (not the name: a fine-tuned model calls itself esm2_t6_8M too):
    sha256 over the named tensors (each family picks its embedding, last layer, heads)."""
    h = hashlib.sha256()
    for key in picks:
        tensor = state[key].detach().to("cpu", torch.float32).contiguous()
        h.update(key.encode())
        h.update(tensor.numpy().tobytes())
    return h.hexdigest()[:16]


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


def config_size(
    config: Mapping, keys: str | Sequence[str], where: object, default: int | None = None
) -> int:
    """A positive whole number the config states under the first of `keys` it has (a family
    read in two layouts' names), else `default`; else one line."""
    keys = (keys,) if isinstance(keys, str) else tuple(keys)
    value = next((config[k] for k in keys if config.get(k) is not None), default)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ContactplugError(f"{where}: config.json has no valid {keys[0]} ({value!r})")
    return value


def check_sizes(
    state: Mapping[str, torch.Tensor], want: Mapping[str, tuple[int, ...]], where: object
) -> None:
    """A checkpoint read by its config (`want`: each tensor name the config's network has, and
    its shape) holds every tensor, at that size, and no other; else one line."""
    missing = sorted(set(want) - set(state))
    if missing:
        raise ContactplugError(
            f"{where}: the checkpoint lacks {', '.join(missing[:3])}"
            f"{', ...' if len(missing) > 3 else ''}; corrupt, or not the size its config states"
        )
    for key, shape in want.items():
        if tuple(state[key].shape) != tuple(shape):
            raise ContactplugError(
                f"{where}: {key} is {tuple(state[key].shape)}, its config implies {shape}: "
                "the checkpoint is not the size its config states"
            )
    extra = sorted(set(state) - set(want))
    if extra:
        raise ContactplugError(
            f"{where}: the checkpoint has tensors its config does not account for "
            f"({', '.join(extra[:3])}): not the size its config states"
        )
