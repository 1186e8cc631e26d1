"""The readout's softmax and fold in one pass over each block of scores: a small C kernel
(`data/kernels/softmax_fold.c`), built with the machine's C compiler on first use and kept in
contactplug's cache, one build per source, compiler and CPU.

Why C: torch's softmax and the fold's sums are each a pass through memory over every head's
scores; where bf16 matmuls are cheap (AMX) those passes, not the matmuls, bound the all-heads
and esm-head readouts (`bench` prints the shares). The kernel reads each query row once and
does the softmax, the probabilities P @ v needs, and the fold's sums while the row is in L1.

The source has two bodies for a row: AVX-512 intrinsics where the CPU has AVX-512 (F, BW,
VL), and plain C that gcc vectorizes elsewhere (or with CONTACTPLUG_FUSED=plain, which builds
it here too: tests hold the two against each other and against torch).

Fallback, stated: with no compiler, a failed build, a non-CPU tensor, or CONTACTPLUG_FUSED=0,
the readout runs torch's passes (`models.row_blocks`), for the same maps within fp32 rounding
(tests/test_fold_kernel.py holds the two paths equal). The build's failure is logged once.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

import torch

from contactplug.hardware import cpu_flags
from contactplug.readout.cache import cache_dir

log = logging.getLogger("contactplug")
SWITCH = "CONTACTPLUG_FUSED"  # 0: torch's passes; plain: the plain-C body; else the best here
VARIANTS = {"native": [], "plain": ["-DSOFTMAX_FOLD_PLAIN_C"]}  # the build's extra flags
# no -ffast-math: its finite-math promise would break the -inf of masked keys; 512-bit vectors
# were 13 % faster than gcc's default 256 on the AMX Xeon (no effect where there are none)
FLAGS = [
    "-O3", "-march=native", "-mprefer-vector-width=512", "-fopenmp", "-fno-math-errno",
    "-fno-trapping-math", "-fPIC",
]  # fmt: skip
ARGTYPES = [
    ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
    ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
    ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
]  # fmt: skip


def _source() -> str:
    return (resources.files("contactplug") / "data" / "kernels" / "softmax_fold.c").read_text()


def _compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")


def _build(source: str, compiler: str, extra: list[str]) -> Path:
    """The shared library for this source, compiler, flags and CPU, built once (atomically:
    several processes may build it at the same time, and the last rename wins)."""
    version = subprocess.run(
        [compiler, "--version"], capture_output=True, text=True, check=True
    ).stdout
    flags = " ".join(FLAGS + extra)
    cpu = " ".join(sorted(cpu_flags()))
    key = "\n".join([source, compiler, version, flags, platform.machine(), cpu])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    folder = cache_dir() / "kernels"
    path = folder / f"softmax_fold-{digest}.so"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as work:
        src = Path(work) / "softmax_fold.c"
        src.write_text(source)
        built = Path(work) / path.name
        done = subprocess.run(
            [compiler, *FLAGS, *extra, "-shared", str(src), "-o", str(built)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise OSError(done.stderr.strip().splitlines()[-1] if done.stderr else "no output")
        os.replace(built, path)
    return path


def _variant() -> str | None:
    """The switch, read now: None (off), "plain" or "native"."""
    value = os.environ.get(SWITCH, "1")
    return None if value == "0" else "plain" if value == "plain" else "native"


@functools.cache
def kernel(variant: str) -> ctypes.CDLL | None:
    """The built kernel (`VARIANTS`): its `softmax_fold` and `softmax_fold_body`; or None
    (the stated fallback; its cause logged once)."""
    compiler = _compiler()
    if compiler is None:
        log.info("no C compiler found: the readout's softmax and fold run as torch's passes")
        return None
    try:
        library = ctypes.CDLL(str(_build(_source(), compiler, VARIANTS[variant])))
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("the readout's fused kernel was not built (%s): torch's passes instead", exc)
        return None
    library.softmax_fold.argtypes, library.softmax_fold.restype = ARGTYPES, ctypes.c_int
    library.softmax_fold_body.argtypes, library.softmax_fold_body.restype = [], ctypes.c_int
    return library


def _library() -> ctypes.CDLL | None:
    """The kernel the switch asks for now (built once), or None."""
    variant = _variant()
    return None if variant is None else kernel(variant)


def enabled() -> bool:
    """Whether the fused kernel runs here (the switch read now, the build made once)."""
    return _library() is not None


def body() -> str | None:
    """Which body of the kernel runs here ("AVX-512 intrinsics" or "plain C"), or None."""
    library = _library()
    if library is None:
        return None
    return "AVX-512 intrinsics" if library.softmax_fold_body() == 512 else "plain C"


def takes(scores: torch.Tensor) -> bool:
    """Whether the kernel runs on this block of scores (contiguous bf16 or fp32 on the CPU)."""
    return (
        scores.device.type == "cpu"
        and scores.dtype in (torch.bfloat16, torch.float32)
        and scores.is_contiguous()
        and enabled()
    )


def _pointer(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def softmax_fold(
    scores: torch.Tensor,
    start: int,
    padding: torch.Tensor | None,
    bias: torch.Tensor | None,
    bias_heads: torch.Tensor | None,
    coeff: torch.Tensor,
    sums: torch.Tensor,
    col_sums: torch.Tensor,
    row_sums: torch.Tensor,
    spans: torch.Tensor,
    write: bool = True,
) -> bool:
    """The kernel on one block (shapes in softmax_fold.c; every tensor contiguous on the CPU,
    fp32 but scores, which may be bf16, and padding, uint8; spans and bias_heads int32).
    write=False: the probabilities are only folded, the scores left as they were (nothing
    multiplies them by v). False, with nothing changed, where it cannot run (then torch's
    passes run)."""
    if not takes(scores):
        return False
    batch, heads, rows, tokens = scores.shape
    strides = (0, 0, 0)
    if bias is not None:
        if bias.dtype != torch.float32 or bias.dim() != 4 or bias.stride(-1) != 1:
            return False
        strides = tuple(bias.stride(n) if bias.shape[n] > 1 else 0 for n in range(3))
    # a failed allocation changes nothing: torch's passes then
    failed = _library().softmax_fold(
        scores.data_ptr(), int(scores.dtype == torch.bfloat16), batch, heads, rows, tokens,
        start, _pointer(padding), _pointer(bias), *strides, _pointer(bias_heads),
        coeff.data_ptr(), sums.data_ptr(), col_sums.data_ptr(), row_sums.data_ptr(),
        spans.data_ptr(), spans.shape[1], torch.get_num_threads(), int(write),
    )  # fmt: skip
    return not failed
