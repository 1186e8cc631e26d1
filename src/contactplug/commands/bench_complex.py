"""`contactplug bench --complex N`: a complex's readouts against the bare forward of one chain
of the same total length (issue 19: a complex costs what one chain of sum L costs)."""

from __future__ import annotations

import argparse

from contactplug.commands.bench_report import print_header, table
from contactplug.files.errors import ContactplugError

COMPLEX_PATHS = ("fast_bare", "readout", "complex_bare", "complex_readout", "complex_all_heads",
                 "complex_esm_head")  # fmt: skip
COMPLEX_LABELS = {
    "complex_bare": "bare forward of the joined row",
    "complex_readout": "**attention readout of the complex**",
    "complex_all_heads": "**all-heads readout of the complex**",
    "complex_esm_head": "**esm-head readout of the complex**",
    "readout": "attention readout of one chain of sum L",
    "all_heads": "all-heads readout of one chain of sum L",
}


def check_args(args: argparse.Namespace) -> str | None:
    """--complex and --linker checked before any model is loaded: the linker, or None for the
    model's default."""
    from contactplug.models.joining import check_linker

    if args.linker is not None and args.complex is None:
        raise ContactplugError("--linker is for --complex N (how its chains are joined)")
    if args.complex is not None and args.complex < 2:
        raise ContactplugError(f"--complex {args.complex}: a complex needs 2 or more chains")
    return check_linker(args.linker) if args.linker else None


def complex_bench(args: argparse.Namespace, model, heads, note: str, lengths, machine) -> int:
    """`bench --complex N`: a complex of N chains summing to each --lengths figure against the
    bare forward of one chain that long (one interleaved run), and with --memory each path's
    peak RSS (`memory_peaks`, fp32)."""
    from contactplug import memory_peaks, timing

    linker = check_args(args)
    clock = timing.CLOCKS[args.clock]
    got = [timing.measure_complex(model, n, args.complex, heads, args.repeats, linker, clock)
           for n in lengths]  # fmt: skip
    print_header(args, model, *machine)
    used = got[0]["linker"]
    print(f"- complex: {args.complex} random chains summing to L, joined by linker {used}; "
          f"attention heads: {note}")  # fmt: skip
    print()
    rows = []
    for suffix, name in (("", "fp32"), ("_bf16", "bf16 matmuls")):
        if "fast_bare" + suffix not in got[0]:
            continue
        rows.append([f"bare forward, one chain of L, {name}, ms"]
                    + [f"{1e3 * r['fast_bare' + suffix]:.1f}" for r in got])  # fmt: skip
        for key, label in COMPLEX_LABELS.items():
            if key + suffix in got[0]:
                bound = " (<= 1.10)" if key.startswith("complex_") and key != "complex_bare" else ""
                rows.append([f"{label} / bare forward of one chain of L, {name}{bound}"]
                            + [f"{r[key + suffix] / r['fast_bare' + suffix]:.2f}x"
                               for r in got])  # fmt: skip
    print(table(["metric"] + [f"L = {n}" for n in lengths], rows))
    print("(interleaved medians; the complex's row holds its linker tokens too)")
    if args.memory:
        rows = []
        for path in [p for p in COMPLEX_PATHS if p != "complex_esm_head" or model.has_contact_head]:
            cells = []
            for n in lengths:
                peak = memory_peaks.peak_rss(args.model, args.arch, args.device, path, n, heads,
                                             chains=args.complex, linker=linker)  # fmt: skip
                cells.append(
                    f"failed: {peak['error'][:60]}"
                    if "error" in peak
                    else f"{peak['peak_mb']:.0f} (+{peak['peak_mb'] - peak['idle_mb']:.0f})"
                )
            rows.append([path] + cells)
        print()
        print(table(["peak RSS, MB (+ above idle model), fp32"] + [f"L = {n}" for n in lengths],
                    rows))  # fmt: skip
    return 0
