"""What bounds each path `bench` times (issue 22 item 2): its operation counts, at the rates
measured in the same run, split into matmul, exp and element-wise time.

Counts follow the ESM-2 forward (`models.esm2`: pre-LN layers, rotary q and k, fused SDPA)
and the readout's fold (`models.row_blocks.blocked_heads`, `readout.attention.HeadFold`):

- matmul FLOPs: the project's 2 params T + 4 layers T^2 dim for the bare forward (params =
  every nn.Linear weight, shared out evenly over the layers), and what each readout adds or
  leaves out layer by layer;
- exps: one per softmax probability, heads x layers x T^2 in the bare forward (inside SDPA),
  plus each wanted head's recomputed softmax;
- element-wise bytes: every pass that reads or writes memory without a matmul (LayerNorm,
  rotary, GELU, residual adds, casts to bf16; per wanted head the softmax's other passes and
  the fold's reads of each T^2 block);
- fused probabilities: where the readout's one-pass kernel runs (`readout.fold_kernel`), each
  wanted head's probabilities go through it instead of the exps and passes above, timed at the
  kernel's own measured rate (`fused_rate`).

Times are the counts at the measured rates: the precision's matmul peak (1024^3), exp2_ per
second, the softmax's and fold's other passes in GB/s (`hardware.pass_rates`), and the fused
kernel's probabilities per second. The shares say
what a faster matmul unit would leave: on a machine whose matmuls are 7x faster the matmul
share shrinks and the exp and element-wise passes, which do not speed up, are what is left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

F32 = 4  # bytes of an fp32 value (the residual stream, softmax and fold stay fp32)
# the fold's passes over each wanted head's T^2 probabilities besides the exp: the softmax's
# amax (read), subtract (read + write), sum (read), scale (read + write), then the fold's
# weighted sum into the map (read; `baddbmm_`) and its column sums (read): 8 reads of 4 bytes
FOLD_BYTES_PER_PROB = 8 * F32
# bf16 scores (every head wanted): the bf16 block copied into fp32 for the softmax (2 + 4
# bytes) and back into bf16 for P @ v (4 + 2; not in the last layer, which makes no P @ v)
BF16_COPIES_PER_PROB = 12
# per wanted layer, the weighted sum of its heads read and written once (the map's T^2)
MAP_PER_LAYER = 2 * F32
# the end of the fold, per sequence over T^2: the zeroed sum, the symmetrisation of a view of
# it (two reads and a write, then a scale in place: read + write) and the rank-K correction
# subtracted in place (addmm_: read + write): 8 fp32 passes
MAP_END_BYTES = 8 * F32
# esm-head after the fold, per L^2: adding the bias, the sigmoid, 0.5 (A + A^T): 9 passes
ESM_HEAD_BYTES = 9 * F32
AMX_BF16_OVER_FP32 = 7  # issue 22: an AMX Xeon's bf16 matmuls ran 7x its fp32 ones


@dataclass(frozen=True)
class Shape:
    """What the counts need of a model; ffn is read from the weights (4 dim for ESM-2)."""

    layers: int
    heads: int
    dim: int
    params: int

    @property
    def layer_params(self) -> float:
        return self.params / self.layers

    @property
    def ffn(self) -> float:  # a layer's weights are 4 dim^2 (q, k, v, out) + 2 dim ffn
        # (never below 0: families with another layout get ESM-2's counts without a GELU)
        return max(0.0, (self.layer_params - 4 * self.dim**2) / (2 * self.dim))

    @property
    def head_dim(self) -> float:
        return self.dim / self.heads


@dataclass(frozen=True)
class Work:
    """Counts of one path: matmul FLOPs in the path's precision, matmul FLOPs that stay fp32
    in every precision (a subset's scores, the fold's rank-K correction), exps, bytes."""

    flops: float = 0.0
    fp32_flops: float = 0.0
    exps: float = 0.0
    bytes: float = 0.0
    fused: float = 0.0  # probabilities through the one-pass kernel

    def __add__(self, other: Work) -> Work:
        return Work(
            self.flops + other.flops,
            self.fp32_flops + other.fp32_flops,
            self.exps + other.exps,
            self.bytes + other.bytes,
            self.fused + other.fused,
        )


def stream_bytes(shape: Shape, tokens: int, bf16: bool, final: bool = False) -> float:
    """Element-wise bytes of one layer over its T x dim activations (models.esm2.run_layers):
    per value two LayerNorms (read + write, fp32), q's scaling and rotary on q and k (q cos,
    half negated, cat, sin, add: 10 element sizes a tensor), the attention output's reshape
    copy, two residual adds (fp32 stream + the branch); GELU over T x ffn; with bf16, the
    inputs of q, k, v and fc1 cast (4 + 2 bytes; the branch's values are then bf16).
    final: the readout's last layer, which stops at q and k (one LayerNorm, two casts)."""
    e = 2 if bf16 else F32  # the size of what a linear layer writes
    cast = 2 + F32 if bf16 else 0
    if final:
        return tokens * shape.dim * (2 * F32 + 2 * e + 20 * e + 2 * cast)
    per_value = 4 * F32 + 2 * e + 20 * e + 2 * e + (4 * F32 + 2 * e) + 4 * cast
    return tokens * (shape.dim * per_value + 2 * e * shape.ffn)


def bare_work(shape: Shape, tokens: int, bf16: bool) -> Work:
    """The bare forward: every layer in full, softmax inside SDPA (no T^2 in memory)."""
    return Work(
        flops=2.0 * shape.params * tokens + 4.0 * shape.layers * tokens**2 * shape.dim,
        exps=float(shape.layers * shape.heads * tokens**2),
        bytes=shape.layers * stream_bytes(shape, tokens, bf16),
    )


def wanted_layer_work(
    shape: Shape, tokens: int, bf16: bool, wanted: int, final: bool, fused: bool = False
) -> Work:
    """One layer of a readout with `wanted` heads read (models.row_blocks.blocked_heads).
    Every head wanted: the blocked softmax and P @ v replace SDPA (the same FLOPs and exps);
    a subset: SDPA as in the bare forward, plus the subset's scores (fp32 in every precision)
    and softmax. final: the last layer stops at its heads' probabilities (q and k only).
    fused: the wanted heads' softmax and fold are the kernel's (in place, no copies)."""
    t2, every = float(tokens**2), wanted == shape.heads
    probs = t2 * wanted
    copies = (BF16_COPIES_PER_PROB // (2 if final else 1)) if every and bf16 else 0
    fold = probs * (FOLD_BYTES_PER_PROB + copies) + (MAP_PER_LAYER * t2 if wanted else 0.0)
    own = probs  # the wanted heads' exps, outside SDPA
    if fused:
        fold, own = 0.0, 0.0
    if final:
        qk = 2.0 * tokens * 2 * shape.dim**2
        stream = stream_bytes(shape, tokens, bf16, True)
        work = Work(flops=qk, exps=own, bytes=stream + fold, fused=probs if fused else 0.0)
    else:
        work = Work(
            flops=2.0 * tokens * shape.layer_params + 4.0 * t2 * shape.dim,
            exps=(0.0 if every else t2 * shape.heads) + own,  # every head: SDPA's exps are own
            bytes=stream_bytes(shape, tokens, bf16) + fold,
            fused=probs if fused else 0.0,
        )
        if every:  # v made contiguous and the blocked output copied back: 2 x T x dim
            return work + Work(bytes=2 * 2 * (2 if bf16 else F32) * tokens * shape.dim)
    scores = 2.0 * t2 * shape.head_dim * wanted  # q k^T of the wanted heads, made again
    return work + (Work(flops=scores) if every else Work(fp32_flops=scores))


def readout_work(
    shape: Shape, length: int, bf16: bool, per_layer: dict[int, int], fused: bool = False
) -> Work:
    """A readout with per_layer[layer] heads wanted: layers up to the last wanted one (the
    forward stops there), then the end of the fold (the rank-K correction, K wanted heads)."""
    tokens, last = length + 2, max(per_layer)
    work = Work()
    for layer in range(last + 1):
        wanted = per_layer.get(layer, 0)
        work += wanted_layer_work(shape, tokens, bf16, wanted, layer == last, fused)
    wanted = sum(per_layer.values())
    return work + Work(fp32_flops=2.0 * wanted * length**2, bytes=MAP_END_BYTES * tokens**2)


def attention_work(shape: Shape, length: int, bf16: bool, heads, fused: bool = False) -> Work:
    """`attention`: the ranked heads (layer, head), K of them, each layer's subset recomputed
    beside SDPA, the forward stopping at the last wanted layer."""
    from contactplug.readout.attention import by_layer

    per_layer = {int(layer): len(wanted) for layer, wanted in by_layer(heads).items()}
    return readout_work(shape, length, bf16, per_layer, fused)


def all_heads_work(shape: Shape, length: int, bf16: bool, fused: bool = False) -> Work:
    """`all-heads`: every head of every layer through the blocked softmax and the fold; the
    last layer stops at its probabilities."""
    every = dict.fromkeys(range(shape.layers), shape.heads)
    return readout_work(shape, length, bf16, every, fused)


def esm_head_work(shape: Shape, length: int, bf16: bool, fused: bool = False) -> Work:
    """`esm-head`: all-heads' fold with the regression's weights, then the bias, a sigmoid
    (one exp a pair) and the symmetrisation over L^2."""
    return all_heads_work(shape, length, bf16, fused) + Work(
        exps=float(length**2), bytes=ESM_HEAD_BYTES * length**2
    )


# (results key, label, counts) of each path bench times; fused: the one-pass kernel runs
PATHS = {
    "fast_bare": ("bare forward", lambda shape, n, bf16, _, fused: bare_work(shape, n + 2, bf16)),
    "readout": ("attention readout", attention_work),
    "all_heads": ("all-heads readout", lambda shape, n, bf16, _, fused: all_heads_work(
        shape, n, bf16, fused)),
    "esm_head": ("esm-head readout", lambda shape, n, bf16, _, fused: esm_head_work(
        shape, n, bf16, fused)),
}  # fmt: skip
PARTS = ("matmul", "exp", "element-wise", "fused kernel")


@dataclass(frozen=True)
class Rates:
    """The run's measured rates: matmul GFLOP/s of the precision and of fp32 (for what stays
    fp32), exp2_ G/s, the softmax's other passes GB/s (`hardware.pass_rates`), the fused
    kernel's G probabilities/s (None: it does not run here, and torch's passes are counted)."""

    matmul: float
    fp32: float
    exp2: float
    elementwise: float
    fused: float | None = None


def seconds(work: Work, rates: Rates) -> dict[str, float]:
    """The counts' time at the rates, per part (PARTS)."""
    return {
        "matmul": (work.flops / rates.matmul + work.fp32_flops / rates.fp32) / 1e9,
        "exp": work.exps / rates.exp2 / 1e9,
        "element-wise": work.bytes / rates.elementwise / 1e9,
        "fused kernel": work.fused / rates.fused / 1e9 if rates.fused else 0.0,
    }


def shares(parts: dict[str, float]) -> dict[str, int]:
    """Whole per cents summing to 100 (largest remainders rounded up)."""
    total = sum(parts.values())
    exact = {name: 100 * value / total for name, value in parts.items()}
    out = {name: int(value) for name, value in exact.items()}
    by_remainder = sorted(exact, key=lambda name: out[name] - exact[name])
    for name in by_remainder[: 100 - sum(out.values())]:
        out[name] += 1
    return out


def describe(parts: dict[str, float]) -> str:
    """'62 / 21 / 17 / 0 %, matmul': matmul / exp / element-wise / fused kernel shares, then
    the largest."""
    got = shares(parts)
    return " / ".join(str(got[p]) for p in PARTS) + f" %, {max(parts, key=parts.get)}"


def precision_rows(results: list[dict], shape: Shape, heads, suffix, name: str, bf16: bool,
                   at: Rates) -> list[list[str]]:  # fmt: skip
    """One precision's rows: each path's shares and bound, the bare forward's predicted ms
    beside its measured ms, each readout's predicted ratio over the bare forward beside the
    measured one. suffix: the results' key suffix, or None for a machine not measured (the
    predictions alone)."""
    from contactplug.commands.bench_report import rows_of

    row = rows_of(results)

    def parts(r: dict, key: str) -> dict[str, float]:
        return seconds(PATHS[key][1](shape, r["L"], bf16, heads, at.fused is not None), at)

    def predicted_ms(r: dict) -> str:
        return (
            f"{1e3 * sum(parts(r, 'fast_bare').values()):.1f} ({1e3 * r['fast_bare' + suffix]:.1f})"
        )

    def ratio(key: str):
        def cell(r: dict) -> str:
            got = sum(parts(r, key).values()) / sum(parts(r, "fast_bare").values())
            measured = (
                "" if suffix is None else f" ({r[key + suffix] / r['fast_bare' + suffix]:.2f}x)"
            )
            return f"{got:.2f}x{measured}"

        return cell

    rows = []
    for key, (label, _) in PATHS.items():
        if key + (suffix or "") not in results[0]:
            continue
        rows.append(row(f"{label}, {name}: {' / '.join(PARTS)}, bound by",
                        lambda r, key=key: describe(parts(r, key))))  # fmt: skip
        if key == "fast_bare" and suffix is not None:
            rows.append(row(f"bare forward, {name}: predicted ms (measured)", predicted_ms))
        elif key != "fast_bare":
            measured = "" if suffix is None else " (measured)"
            rows.append(row(f"**{label} / bare, {name}: predicted{measured}**", ratio(key)))
    return rows


def bound_rows(results: list[dict], shape: Shape, heads, peaks: dict, rates: dict) -> list:
    """Per precision timed, `precision_rows` at this run's rates; then the same predicted with
    bf16 matmuls at AMX_BF16_OVER_FP32 x this fp32 peak and this machine's exp and
    element-wise rates (what a machine like issue 22's would show)."""
    import torch

    fp32 = peaks[torch.float32]
    timed = [("", "fp32", False, fp32)]
    if "fast_bare_bf16" in results[0]:
        timed.append(("_bf16", "bf16 matmuls", True, peaks[torch.bfloat16]))
    timed.append((None, f"bf16 matmuls at {AMX_BF16_OVER_FP32}x this fp32 peak", True,
                  AMX_BF16_OVER_FP32 * fp32))  # fmt: skip
    rows = []
    for suffix, name, bf16, peak in timed:
        at = Rates(peak, fp32, rates["exp2"], rates["elementwise"], rates.get("fused"))
        rows += precision_rows(results, shape, heads, suffix, name, bf16, at)
    return rows


def fused_rate(clock: Callable[[], float], rounds: int = 16) -> float | None:
    """G probabilities/s of the readout's one-pass kernel (`readout.fold_kernel`) on a bf16
    block of 16 heads x 64 rows x 1024 keys (the readout's all-heads blocks; scores spread as
    real heads' are), less the copy that refills it, best of `rounds`; None where it does not
    run (no compiler, CONTACTPLUG_FUSED=0)."""
    import torch

    from contactplug.hardware import seconds_of
    from contactplug.readout import attention, fold_kernel

    if not fold_kernel.enabled():
        return None
    heads, rows, keys = 16, 64, 1024
    gen = torch.Generator().manual_seed(0)
    source = (torch.randn(1, heads, rows, keys, generator=gen) * 12).bfloat16()
    block = source.clone()
    fold = attention.HeadFold([[(1, keys - 2)]], {0: torch.full((heads,), 1 / heads)})
    wanted, cpu = list(range(heads)), torch.device("cpu")
    passes = {
        "copy": lambda: block.copy_(source),
        "kernel": lambda: fold.scores(0, wanted, block.copy_(source), 0, None, None),
    }
    best = dict.fromkeys(passes, float("inf"))
    for _ in range(rounds + 1):  # the first round builds and warms
        for name, fn in passes.items():
            best[name] = min(best[name], seconds_of(fn, cpu, clock))
    return block.numel() / max(best["kernel"] - best["copy"], 1e-9) / 1e9
