"""Which matmul precision the attention readout runs in: `auto`, `fp32` or `bf16`.

`auto` is bf16 where the CPU has a bf16 matmul unit (AMX or AVX512-BF16) and the model's
family, at its width, passed the accuracy gate (benchmarks/reduced_precision_gate.py: on the
40-structure selection set with the real ESM-2 8M weights, bf16 kept >= 95 % of fp32's
top-L/2 long-range pairs and moved mean long-range P@L/2 by < 0.005); fp32 everywhere else,
CUDA included (unmeasured there). bf16 means: the layers' matmuls on bf16 weights with fp32
accumulation; LayerNorm, softmax, APC and the residual stream stay fp32.

The Categorical Jacobian keeps fp32: its signal is small logit differences, and bf16 kept
only 78 % of the logit CJ's top-L/2 pairs (Pearson 0.95) on random 8M weights in that gate,
and moved the repr-CJ's P@L/2 by 0.011 on the real 8M weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from contactplug import hardware
from contactplug.files.errors import ContactplugError, arg
from contactplug.models.base import Model

PRECISIONS = ("auto", "fp32", "bf16")
GATED_FAMILIES = {"ESM-2"}  # families whose bf16 readout passed the accuracy gate
GATED_MIN_DIM = 320  # the smallest width it was measured at (8M); toy models stay fp32


@dataclass(frozen=True)
class Precision:
    name: str  # "fp32" or "bf16"
    autocast: torch.dtype | None  # what the forward is given
    why: str  # how it was chosen, one phrase


def resolve(model: Model, precision: str = "auto") -> Precision:
    """The precision a readout of `model` runs in, from `auto` | `fp32` | `bf16`."""
    if precision not in PRECISIONS:
        raise ContactplugError(
            f"{arg('precision')} wants one of {', '.join(PRECISIONS)}, not {precision!r}"
        )
    if precision == "fp32":
        return Precision("fp32", None, "asked for")
    if precision == "bf16":
        return Precision("bf16", torch.bfloat16, "asked for")
    if model.dtype != torch.float32:
        return Precision("fp32", None, f"auto: the weights are {model.dtype}")
    if model.device.type != "cpu":
        return Precision("fp32", None, f"auto: bf16 is measured on CPU only, not {model.device}")
    if not hardware.has_bf16_matmul(model.device):
        return Precision("fp32", None, "auto: this CPU has no bf16 matmul unit")
    if model.family not in GATED_FAMILIES:
        return Precision("fp32", None, f"auto: bf16 is not gated for {model.family}")
    if model.embed_dim < GATED_MIN_DIM:
        return Precision("fp32", None, f"auto: bf16 is gated from dim {GATED_MIN_DIM} up")
    units = [f for f in ("amx_bf16", "avx512_bf16") if f in hardware.cpu_flags()]
    return Precision("bf16", torch.bfloat16, f"auto: {'/'.join(units)} on this CPU")


def describe(chosen: Precision) -> str:
    """One line for model-info, bench and logs."""
    if chosen.name == "bf16":
        what = "bf16 matmuls, fp32 accumulation, LayerNorm, softmax and APC"
    else:
        what = "fp32"
    return f"{what} ({chosen.why}; --precision fp32 | bf16 to choose)"
