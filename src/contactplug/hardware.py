"""What the machine is: the CPU and its matmul features, measured matmul peaks, the kernels
that ran, and the FLOPs of one forward (the yardstick `bench` divides by).

Peaks are measured, not read from a spec sheet: the best of several square matmuls per
precision, the two precisions taking turns so load from elsewhere falls on both. Which
kernels ran is read from oneDNN's own verbose log of one small forward (PyTorch runs bf16
matmuls on CPU through oneDNN; fp32 ones go to MKL and leave no oneDNN line).
"""

from __future__ import annotations

import ctypes
import os
import platform
import re
import tempfile
import time
from collections.abc import Callable

import torch

# the /proc/cpuinfo flags that decide which matmul units exist
MATMUL_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)


def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            return handle.read()
    except OSError:
        return ""


def cpu_name() -> str:
    found = re.search(r"^model name\s*:\s*(.+)$", _cpuinfo(), re.MULTILINE)
    return found.group(1).strip() if found else (platform.processor() or "unknown CPU")


def cpu_flags() -> set[str]:
    found = re.search(r"^flags\s*:\s*(.+)$", _cpuinfo(), re.MULTILINE)
    return set(found.group(1).split()) if found else set()


def matmul_features(flags: set[str] | None = None) -> list[str]:
    """The matmul-relevant flags this CPU has, in MATMUL_FLAGS order."""
    flags = cpu_flags() if flags is None else flags
    return [f for f in MATMUL_FLAGS if f in flags]


def has_bf16_matmul(device: torch.device, flags: set[str] | None = None) -> bool:
    """Whether bf16 matmuls run on a native unit here (AMX or AVX512-BF16 on CPU)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    flags = cpu_flags() if flags is None else flags
    return bool({"amx_bf16", "avx512_bf16"} & flags)


def seconds_of(fn: Callable[[], object], device: torch.device, clock: Callable[[], float]) -> float:
    """One call of fn timed by `clock` (CUDA synchronised before and after)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = clock()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return clock() - start


def matmul_peaks(
    device: torch.device,
    size: int = 1024,
    rounds: int = 8,
    dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.bfloat16),
    clock: Callable[[], float] = time.perf_counter,
) -> dict[torch.dtype, float]:
    """GFLOP/s of a size x size matmul per dtype: the best of `rounds`, dtypes interleaved.
    clock: the one the paths it is compared with are timed by (bench --clock), so a loaded
    machine does not make a path look faster than the peak."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    pairs = {}
    for dtype in dtypes:
        a = torch.randn(size, size, generator=gen).to(device=device, dtype=dtype)
        b = torch.randn(size, size, generator=gen).to(device=device, dtype=dtype)
        a @ b  # warm-up: kernel selection and packing buffers
        pairs[dtype] = (a, b)
    best = {dtype: float("inf") for dtype in dtypes}
    for _ in range(rounds):
        for dtype, (a, b) in pairs.items():
            best[dtype] = min(best[dtype], seconds_of(lambda a=a, b=b: a @ b, device, clock))
    return {dtype: 2 * size**3 / seconds / 1e9 for dtype, seconds in best.items()}


def pass_rates(
    device: torch.device,
    elements: int = 2**20,
    rounds: int = 16,
    clock: Callable[[], float] = time.perf_counter,
    heads: int = 16,
) -> dict[str, float]:
    """What the passes besides matmuls run at here, the best of `rounds` (interleaved) over a
    heads x rows x 1024 fp32 block of `elements` values (the readout's row blocks are 4 MiB,
    2**20 values): 'exp2' and 'exp', exponentials per second (G/s) of exp2_ / exp_ in place,
    less the copy that refills the block; 'elementwise', GB/s of the readout's other passes
    over it: the softmax's row max (read), subtract (read + write), row sum (read) and scale
    (read + write), then a weighted sum over the heads (`baddbmm_`, read) and column sums
    (read), 32 bytes a value. fp32: the softmax, the fold and the residual stream stay fp32
    in every precision."""
    gen = torch.Generator(device="cpu").manual_seed(0)
    shape = (heads, elements // (heads * 1024), 1024)
    source = torch.randn(shape, generator=gen).to(device)
    block = source.clone()
    weights = torch.full((1, 1, heads), 1 / heads, device=device)
    folded = torch.zeros(1, 1, shape[1] * shape[2], device=device)

    def other_passes() -> None:
        block.sub_(block.amax(-1, keepdim=True))
        block.mul_(block.sum(-1, keepdim=True).reciprocal_())
        folded.baddbmm_(weights, block.view(1, heads, -1))
        block.sum(-2)

    passes = {
        "copy": lambda: block.copy_(source),
        "exp2": lambda: block.copy_(source).exp2_(),
        "exp": lambda: block.copy_(source).exp_(),
        "elementwise": other_passes,
    }
    best = {name: float("inf") for name in passes}
    for fn in passes.values():
        fn()  # warm-up: pages touched, kernels chosen
    for _ in range(rounds):
        for name, fn in passes.items():
            block.copy_(source)
            best[name] = min(best[name], seconds_of(fn, device, clock))
    exp_seconds = {n: max(best[n] - best["copy"], 1e-9) for n in ("exp2", "exp")}
    out = {name: elements / seconds / 1e9 for name, seconds in exp_seconds.items()}
    out["elementwise"] = 32 * elements / best["elementwise"] / 1e9
    return out


def linear_params(module: torch.nn.Module) -> int:
    """Weights that take part in a bare forward's matmuls: every nn.Linear weight outside the
    contact head (embeddings are lookups; the tied vocabulary projection, V x E with V ~ 33,
    is left out)."""
    return sum(
        m.weight.numel()
        for name, m in module.named_modules()
        if isinstance(m, torch.nn.Linear) and not name.startswith("contact_head")
    )


def forward_flops(params: int, layers: int, dim: int, tokens: int) -> float:
    """FLOPs of one forward of `tokens` tokens: 2 params T for the dense layers, and
    4 layers T^2 dim for q k^T and the weighted sum of v."""
    return 2.0 * params * tokens + 4.0 * layers * tokens**2 * dim


def onednn_kernels(fn: Callable[[], object]) -> list[str]:
    """'operation implementation source-dtype' of every oneDNN primitive `fn` ran (empty:
    none ran), e.g. 'matmul brg_matmul:avx512_core_bf16 bf16'.

    oneDNN writes its verbose log with C stdio to file descriptor 1, so that descriptor is
    pointed at a temporary file while `fn` runs (Python's own stdout is flushed around it)."""
    import sys

    if not torch.backends.mkldnn.is_available():
        return []
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+") as log:
        os.dup2(log.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                fn()
            libc.fflush(None)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        log.seek(0)
        lines = log.read().splitlines()
    found = []
    for line in lines:
        parts = line.split(",")
        if len(parts) > 6 and parts[2] == "primitive" and parts[3] == "exec":
            dtype = re.search(r"(?:src|data)[^:]*:(\w+)", parts[8]) if len(parts) > 8 else None
            kernel = f"{parts[5]} {parts[6]}" + (f" {dtype.group(1)}" if dtype else "")
            if kernel not in found:
                found.append(kernel)
    return found


def kernel_path(device: torch.device, bf16: bool, kernels: list[str]) -> str:
    """One phrase for the kernels a forward ran: oneDNN's own names where it logged any."""
    if device.type == "cuda":
        return f"CUDA {'bf16 autocast' if bf16 else 'fp32'} ({torch.cuda.get_device_name(device)})"
    capability = torch.backends.cpu.get_cpu_capability()
    if kernels:
        return f"oneDNN {', '.join(kernels)}; ATen {capability}"
    return f"{'bf16' if bf16 else 'fp32'} MKL/ATen {capability} (no oneDNN primitive)"


def process_status(key: str) -> int:
    """A byte count from this process's /proc/self/status (VmRSS, VmHWM), 0 where absent."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss_mb() -> float:
    """This process's resident set now, MB."""
    return process_status("VmRSS") / 2**20


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current resident set (clear_refs 5); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False
