"""`contactplug bench`: the cost table of the readout and the Categorical Jacobian."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from contactplug.commands.bench_report import print_header, rows_of, table
from contactplug.files.errors import ContactplugError
from contactplug.files.methods import REPR_FALLBACK
from contactplug.models.registry import REGISTRY

# `--paths`: what `bench --memory` can measure (contactplug.memory_peaks runs each)
MEMORY_PATHS = (
    "fair_bare",
    "fast_bare",
    "readout",
    "all_heads",
    "fair_heads",
    "esm_head",
    "jacobian",
    "jacobian_fold",
)


# torch (and `hardware`, which measures with it) are imported in the functions that run, so
# that `contactplug --help` lists this command without loading torch (commands/__init__.py)
def machine_lines(
    model, clock: Callable[[], float], clock_name: str
) -> tuple[list[str], dict, dict]:
    """What the machine is (matmul features, measured peaks and exp / element-wise rates, the
    kernels a forward ran) as lines to print, the peaks (dtype -> GFLOP/s) and the rates
    (`hardware.pass_rates`), measured by the run's `clock`."""
    import torch

    from contactplug import hardware

    device = model.device
    bf16 = hardware.has_bf16_matmul(device)
    dtypes = (torch.float32, torch.bfloat16) if bf16 else (torch.float32,)
    peaks = hardware.matmul_peaks(device, dtypes=dtypes, clock=clock)
    tokens = model.tokens(["ACDEFGHIKLMNPQRSTVWY"])
    lines = []
    if device.type == "cpu":
        features = " ".join(hardware.matmul_features()) or "none found in /proc/cpuinfo"
        lines.append(
            f"CPU matmul features: {features}; bf16 matmul unit: {'yes' if bf16 else 'no'}"
        )
    lines.append(
        f"measured matmul peak (1024^3, best of 8, interleaved, {clock_name} clock): "
        + ", ".join(f"{str(d).replace('torch.', '')} {g:.0f} GFLOP/s" for d, g in peaks.items())
    )
    rates = hardware.pass_rates(device, clock=clock)
    lines.append(
        f"measured exp2 {rates['exp2']:.2f} G/s, exp {rates['exp']:.2f} G/s, element-wise "
        f"{rates['elementwise']:.0f} GB/s (the softmax's and fold's other passes; 4 MiB fp32 "
        f"blocks, best of 16, interleaved, {clock_name} clock)"
    )
    lines.append(_fused_line(rates, device, clock))
    for dtype in dtypes:
        autocast = None if dtype == torch.float32 else dtype
        kernels = hardware.onednn_kernels(
            lambda a=autocast: model.forward(tokens, logits=False, representation=True, autocast=a)
        )
        name = "fp32" if autocast is None else "bf16 autocast"
        lines.append(
            f"kernel path, {name} forward: {hardware.kernel_path(device, bool(autocast), kernels)}"
        )
    from contactplug.readout import matmul_precision

    chosen = matmul_precision.resolve(model)
    lines.append(f"readout precision by default: {matmul_precision.describe(chosen)}")
    return lines, peaks, rates


def ms(key: str) -> Callable[[dict], str]:
    return lambda r: f"{1e3 * r[key]:.1f}"


def ratio(key: str, over: str) -> Callable[[dict], str]:
    return lambda r: f"{r[key] / r[over]:.2f}x"


def estimated(r: dict) -> str:
    return " (est.)" if r["estimated"] else ""


def precisions(results: list[dict]) -> list[tuple]:
    """(key suffix, name, matmul dtype) of each precision the run timed."""
    import torch

    found = [("", "fp32", torch.float32)]
    if "fast_bare_bf16" in results[0]:
        found.append(("_bf16", "bf16 matmuls", torch.bfloat16))
    return found


def readout_rows(results: list[dict], heads_note: str, peaks: dict) -> list[list[str]]:
    """Per precision: the bare forward and each readout, ms and over the bare forward, and
    the GFLOP/s (share of the precision's peak) of the bare forward and the attention readout;
    with bf16 timed, its speed-up."""
    import torch

    row = rows_of(results)

    def share(key, dtype):
        def cell(r):
            rate = r["flops"] / r[key] / 1e9
            return f"{rate:.0f} ({100 * rate / peaks[dtype]:.0f} %)"

        return cell

    rows = [
        row(
            "forward GFLOP (2 params T + 4 layers T^2 dim)",
            lambda r: f"{r['flops'] / 1e9:.2f}",
        )
    ]
    timed = precisions(results)
    for suffix, name, dtype in timed:
        rate = f"GFLOP/s (% of {'fp32' if dtype == torch.float32 else 'bf16'} peak)"
        bare = "fast_bare" + suffix
        rows += [
            row(f"bare forward (no LM head), {name}, ms", ms(bare)),
            row(f"bare forward, {name}: {rate}", share(bare, dtype)),
            row(f"attention readout, {name}, ms ({heads_note})", ms("readout" + suffix)),
            row(
                f"**attention readout / bare, {name}** (<= 1.10)",
                ratio("readout" + suffix, bare),
            ),
            row(f"all-heads readout, {name}, ms", ms("all_heads" + suffix)),
            row(
                f"**all-heads readout / bare, {name}** (<= 1.10)",
                ratio("all_heads" + suffix, bare),
            ),
        ]
        if "esm_head" in results[0]:
            rows += [
                row(f"esm-head readout, {name}, ms", ms("esm_head" + suffix)),
                row(
                    f"**esm-head / bare, {name}** (<= 1.25)",
                    ratio("esm_head" + suffix, bare),
                ),
            ]
        rows.append(row(f"attention readout, {name}: {rate}", share("readout" + suffix, dtype)))
    if len(timed) > 1:
        rows += [
            row("bf16 speed-up, bare forward", ratio("fast_bare", "fast_bare_bf16")),
            row("bf16 speed-up, attention readout", ratio("readout", "readout_bf16")),
        ]
    return rows


def fair_rows(results: list[dict]) -> list[list[str]]:
    """The fair-esm families: their own forward beside ours, B = 1."""
    row = rows_of(results)
    return [
        row("fair-esm bare forward, ms", ms("fair_bare")),
        row("**readout / fair-esm bare forward**", ratio("readout", "fair_bare")),
        row("fair-esm forward + need_head_weights, ms", ms("fair_heads")),
        row("readout via fair-esm hooks (previous path), ms", ms("old_readout")),
        row("fast forward speed-up over fair-esm, B=1", ratio("fair_bare", "fast_bare")),
    ]


def batch_rows(results: list[dict]) -> list[list[str]]:
    """The batch-B forward the Jacobian runs (and fair-esm's, where the family has it)."""
    row = rows_of(results)
    rows = [
        row("Jacobian batch size B (auto)", lambda r: str(r["batch"])),
        row(
            "batch-B forward (what the Jacobian runs), ms per sequence",
            lambda r: f"{1e3 * r['fast_batch'] / r['batch']:.1f}",
        ),
    ]
    if "fair_batch" not in results[0]:
        return rows

    def per_fair(r):  # seconds per sequence of fair-esm's batch forward
        return r["fair_batch"] / r["fair_batch_size"]

    return rows + [
        row(
            "fair-esm batch forward, ms per sequence (its batch)",
            lambda r: f"{1e3 * per_fair(r):.1f} ({r['fair_batch_size']})",
        ),
        row(
            "fast forward speed-up over fair-esm, batched",
            lambda r: f"{per_fair(r) / (r['fast_batch'] / r['batch']):.2f}x",
        ),
    ]


def jacobian_rows(results: list[dict]) -> list[list[str]]:
    """The Jacobian against its bounds, and against the readout's cost."""
    row = rows_of(results)
    rows = [
        row("Jacobian forwards (20L+1)", lambda r: str(r["passes"])),
        row("Jacobian, s", lambda r: f"{r['jacobian']:.1f}{estimated(r)}"),
        row("Jacobian bound (20L+1)/B x batch-B forward, s", lambda r: f"{r['bound']:.1f}"),
        row(
            "**Jacobian at % of its bound**",
            lambda r: f"{100 * r['bound'] / r['jacobian']:.0f} %{estimated(r)}",
        ),
        row("time inside forward passes", lambda r: f"{100 * r['forward_share']:.0f} %"),
        row(
            "**Jacobian at % of the bound timed inside its own run**",
            lambda r: f"{100 * r['in_run_bound'] / r['jacobian']:.0f} %{estimated(r)}",
        ),
    ]
    if "fair_bound" in results[0]:
        rows.append(row("bound with fair-esm's forward, s", lambda r: f"{r['fair_bound']:.1f}"))
    for suffix, name in (("", "fp32"), ("_bf16", "bf16")):
        if "readout" + suffix in results[0]:
            rows.append(
                row(
                    f"**Jacobian / readout cost** ({name} readout)",
                    lambda r, k="readout" + suffix: f"{r['jacobian'] / r[k]:.0f}x{estimated(r)}",
                )
            )
    return rows


def timing_rows(results: list[dict], heads_note: str, peaks: dict) -> list[list[str]]:
    """The cost table's rows: the readouts, fair-esm's forward, the Jacobian (those timed)."""
    rows = readout_rows(results, heads_note, peaks)
    if "fair_bare" in results[0]:
        rows += fair_rows(results)
    if "jacobian" in results[0]:
        rows += batch_rows(results) + jacobian_rows(results)
    return rows


def checked_args(args: argparse.Namespace) -> tuple[list[int], list[str] | None, int | None]:
    """The lengths, the asked memory paths and the Jacobian's positions (None: full), each
    checked before a model is loaded."""
    if not args.model and not args.arch:
        raise ContactplugError("bench needs --model or --arch")
    try:
        lengths = [int(x) for x in args.lengths.split(",")]
    except ValueError:
        lengths = [0]
    if any(n < 1 for n in lengths):
        raise ContactplugError(f"--lengths {args.lengths!r}: give positive numbers, e.g. 100,300")
    if args.jacobian != "full" and not (args.jacobian.isdigit() and int(args.jacobian) > 0):
        raise ContactplugError(f"--jacobian {args.jacobian!r}: give a number of positions or full")
    asked_paths = args.paths.split(",") if args.paths else None
    unknown = sorted(set(asked_paths or ()) - set(MEMORY_PATHS))
    if unknown:
        raise ContactplugError(
            f"unknown --paths {', '.join(unknown)}; from {', '.join(MEMORY_PATHS)}"
        )
    from contactplug.commands.bench_complex import check_args

    check_args(args)
    return lengths, asked_paths, None if args.jacobian == "full" else int(args.jacobian)


def print_memory(args: argparse.Namespace, model, lengths: list[int], heads, asked) -> None:
    """`bench --memory`: each path's peak resident set per length, one subprocess each."""
    from contactplug import memory_peaks

    print()
    rows = []
    for path in memory_peaks.memory_paths(model, asked or MEMORY_PATHS):
        cells = []
        for n in lengths:
            got = memory_peaks.peak_rss(args.model, args.arch, args.device, path, n, heads)
            if "error" in got:
                cells.append(f"failed: {got['error'][:60]}")
            else:
                extra = got["peak_mb"] - got["idle_mb"]
                cells.append(f"{got['peak_mb']:.0f} (+{extra:.0f})")
        rows.append([path] + cells)
    print(table(["peak RSS, MB (+ above idle model)"] + [f"L = {n}" for n in lengths], rows))
    print(
        "(one subprocess per path; VmHWM reset after the model is built; jacobian: its first "
        "2 positions; jacobian_fold: L random rows folded into the compact store, no forwards)"
    )


def _fused_line(rates: dict, device, clock: Callable[[], float]) -> str:
    """The readout's one-pass kernel: its measured rate (into `rates`), or why it is not run."""
    from contactplug.commands import bench_bounds
    from contactplug.readout import fold_kernel

    rate = bench_bounds.fused_rate(clock) if device.type == "cpu" else None
    rates["fused"] = rate
    if rate is None:
        return "fused softmax-fold kernel: not run here (torch's passes; see readout.fold_kernel)"
    return (
        f"fused softmax-fold kernel {rate:.2f} G probabilities/s ({fold_kernel.body()} body; "
        "bf16 scores, 16 heads x 64 rows x 1024 keys, best of 16, less the refill; the "
        "readout's softmax and fold in one pass)"
    )


def print_bounds(results: list[dict], model, heads, peaks: dict, rates: dict) -> None:
    """What bounds each path: its counts at this run's rates (`commands.bench_bounds`)."""
    from contactplug import hardware
    from contactplug.commands import bench_bounds

    params = hardware.linear_params(model.module)
    shape = bench_bounds.Shape(model.num_layers, model.num_heads, model.embed_dim, params)
    print()
    rows = bench_bounds.bound_rows(results, shape, heads, peaks, rates)
    print(table(["what bounds each path (predicted)"] + [f"L = {r['L']}" for r in results], rows))
    print(
        "(operation counts of the ESM-2 forward and the readout's fold at the rates measured "
        "above: matmul FLOPs at the precision's peak, exps at exp2's rate, element-wise bytes "
        "at the element-wise rate, the wanted heads' probabilities at the fused kernel's rate "
        "where it runs; shares of the predicted time, the largest named)"
    )


def run_bench(args: argparse.Namespace) -> int:
    import torch

    from contactplug import timing

    lengths, asked_paths, positions = checked_args(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = timing.CLOCKS[args.clock]  # this run's clock, handed to everything that times
    load = os.getloadavg()
    model = timing.get_model(args.model, args.arch, args.device)
    heads, note = timing.heads_for(model, args.top_k)
    machine, peaks, rates = machine_lines(model, clock, args.clock)
    cj = args.only != "readout"
    if args.complex is not None:
        from contactplug.commands.bench_complex import complex_bench

        return complex_bench(args, model, heads, note, lengths, (machine, load))
    results = [
        timing.measure(model, n, heads, args.batch_size, positions, args.repeats, cj, clock)
        for n in ([] if args.only in ("memory", "throughput") else lengths)
    ]
    print_header(args, model, machine, load)
    if cj and not model.has_lm_head:  # the Jacobian rows then time what `jacobian` runs on it
        print(f"- Jacobian rows: repr-jacobian ({REPR_FALLBACK.split(': ', 1)[0]})")
    if results:
        print()
        rows = timing_rows(results, note, peaks)
        print(table(["metric"] + [f"L = {n}" for n in lengths], rows))
        print(
            "(interleaved medians; T = L + 2 tokens; params = every nn.Linear weight; "
            "another CPU gives other absolute figures)"
        )
        print_bounds(results, model, heads, peaks, rates)
    if args.memory or args.only == "memory":
        print_memory(args, model, lengths, heads, asked_paths)
    if args.throughput:
        from contactplug.commands.bench_throughput import print_throughput

        print_throughput(args, model, heads, clock)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="time the attention readout against the Jacobian")
    p.add_argument("--model", help="ESM name, fair-esm .pt or HF folder")
    p.add_argument("--arch", choices=list(REGISTRY), help="random weights of this architecture")
    p.add_argument("--lengths", default="300", help="comma-separated lengths (default 300)")
    p.add_argument("--top-k", type=int, help="heads for the readout (default: ranking's K or 10)")
    p.add_argument("--batch-size", type=int, help="Jacobian / predict batch (default: auto)")
    p.add_argument(
        "--jacobian",
        default="5",
        help="positions to time and extrapolate from, or 'full' (default 5)",
    )
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement")
    p.add_argument("--memory", action="store_true", help="peak RSS per path (subprocesses)")
    p.add_argument(
        "--only",
        choices=["readout", "memory", "throughput"],
        help="skip the other parts (readout: the readouts against the bare forward, no Jacobian)",
    )
    p.add_argument(
        "--paths", help=f"memory paths to measure (default all: {','.join(MEMORY_PATHS)})"
    )
    p.add_argument("--throughput", type=int, default=0, help="N random sequences for predict")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall time, or this process's CPU time (steady on a shared machine; use it with "
        "--threads 1)",
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument(
        "--complex",
        type=int,
        metavar="N",
        help="time a complex of N random chains summing to each --lengths figure against the "
        "bare forward of one chain that long (with --memory: peak RSS of each)",
    )
    p.add_argument("--linker", help="how --complex joins its chains (default: the model's)")
    p.set_defaults(func=run_bench)
