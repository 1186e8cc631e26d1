#!/usr/bin/env python3
"""fp32 against bf16 matmuls (the forward's autocast=torch.bfloat16), per model size and
length, in one interleaved run: the bare fast forward and the three readouts (ranked or
synthetic heads with one in the last layer, all heads, ESM's contact head), with each one's
share of the measured matmul peak.

Random weights cost what real ones do. On a shared machine only the ratios of one run mean
much; the load average at start and end says how shared it was.

Run: python benchmarks/reduced_precision_speed.py [--archs 8M,35M,150M] [--lengths 100,300,1000]
       [--precisions before,fp32,bf16] [--methods attention,all-heads,esm-head]
(--precisions bf16 --methods all-heads,esm-head times only the bf16 bare forward and those two.)
"""

from __future__ import annotations

import argparse
import os
import statistics

import numpy as np
import torch

from contactplug import hardware, timing
from contactplug.models.random_weights import random_model
from contactplug.readout import attention

ARCHS = {
    "8M": "esm2_t6_8M_UR50D",
    "35M": "esm2_t12_35M_UR50D",
    "150M": "esm2_t30_150M_UR50D",
    "650M": "esm2_t33_650M_UR50D",
}
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}
METHODS = ("attention", "all-heads", "esm-head")
FP32, BF16 = torch.float32, torch.bfloat16


@torch.no_grad()
def previous_readout(model, seq: str, method: str, heads) -> np.ndarray:
    """The readout as it was before issue 13 (fp32): the forward hands each layer's wanted
    heads whole (B x k x T x T) and every head gets its own APC'd copy before the sum."""
    if method != "attention":
        heads = attention.all_heads(model)
    length, first = len(seq), model.first_residue
    acc = torch.zeros(length, length)
    if method == "esm-head":
        weight, bias = model.contact_regression()

    def fold(layer, wanted, probs):
        nonlocal acc
        if method == "esm-head":
            x = probs[0, :, first : first + length, first : first + length]
            x = x + x.transpose(-1, -2)
            total = x.sum((-1, -2), keepdim=True)
            x = x - x.sum(-1, keepdim=True) * x.sum(-2, keepdim=True) / total
            w = weight[layer * model.num_heads : (layer + 1) * model.num_heads][wanted]
            acc += torch.tensordot(w, x, dims=1)
        else:
            acc += attention.process_heads(probs[0], length, first=first).sum(0)

    model.forward(model.tokens([seq]), attention.by_layer(heads), fold, logits=False)
    if method == "esm-head":
        acc = torch.sigmoid(acc + bias)
        acc.fill_diagonal_(0)
    return (acc / len(heads) if method != "esm-head" else acc).numpy()


def paths(model, seq: str, heads, precisions: list[str], methods: list[str]) -> dict:
    tokens = model.tokens([seq])

    def bare(dtype):
        return lambda: model.forward(tokens, autocast=dtype)

    def readout(method, dtype):
        return lambda: attention.batch_maps(model, [seq], method, heads, autocast=dtype)

    out = {}
    for name, dtype in PRECISIONS.items():
        if name in precisions or (name == "fp32" and "before" in precisions):
            out[f"bare {name}"] = bare(dtype)  # "before" is a ratio over the fp32 bare forward
        if name in precisions:
            for method in methods:
                out[f"{method} {name}"] = readout(method, dtype)
    if "before" in precisions:
        for method in methods:
            out[f"{method} before"] = lambda m=method: previous_readout(model, seq, m, heads)
    return out


def ms(times: dict, key: str) -> str:
    return f"{1e3 * times[key]:.0f}" if key in times else "-"


def ratio(times: dict, key: str, bare: str) -> str:
    return f"{times[key] / times[bare]:.2f}" if key in times and bare in times else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="8M,35M,150M")
    parser.add_argument("--lengths", default="100,300,1000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--clock", choices=list(timing.CLOCKS), default="wall")
    parser.add_argument(
        "--precisions",
        default="before,fp32,bf16",
        help="of before (the readout before issue "
        "13, fp32), fp32, bf16; each with its bare forward",
    )
    parser.add_argument("--methods", default=",".join(METHODS), help="readouts to time")
    args = parser.parse_args()
    precisions = args.precisions.split(",")
    methods = args.methods.split(",")
    unknown = sorted(set(precisions) - {"before", *PRECISIONS}) + sorted(set(methods) - {*METHODS})
    if unknown:
        parser.error(f"unknown precision or method: {', '.join(unknown)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = timing.CLOCKS[args.clock]  # what every timing below (the peaks too) reads
    lengths = [int(n) for n in args.lengths.split(",")]
    device = torch.device("cpu")
    load = os.getloadavg()[0]
    peaks = hardware.matmul_peaks(device, clock=clock)
    print(
        f"{hardware.cpu_name()}, {os.cpu_count()} logical CPUs, "
        f"{' '.join(hardware.matmul_features())}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {args.clock} clock; matmul peak "
        f"fp32 {peaks[FP32]:.0f}, bf16 {peaks[BF16]:.0f} GFLOP/s (1024^3, best of 8)"
    )
    noise: list[float] = []
    for arch in args.archs.split(","):
        model = random_model(ARCHS[arch], "cpu")
        heads, note = timing.heads_for(model)
        params = hardware.linear_params(model.esm)
        print(
            f"\n### {arch} ({note}), median ms over {args.repeats} interleaved rounds; "
            "before: the readout before issue 13 (fp32); ratios: before and fp32 over the fp32 "
            "bare forward, bf16 over the bf16 one\n"
        )
        header = ["L", "bare fp32 / bf16, ms", "bf16 speed-up"]
        for method in methods:
            header += [f"{method}: before / fp32 / bf16, ms", f"{method} / bare"]
        header.append("% of peak, bare fp32 / bf16")
        print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        for length in lengths:
            seq = timing.sequence(length, seed=length)
            got = timing.interleaved(
                paths(model, seq, heads, precisions, methods), args.repeats, model, clock
            )
            flops = hardware.forward_flops(
                params, model.num_layers, model.esm.embed_dim, length + 2
            )
            bare = {"before": "bare fp32", "fp32": "bare fp32", "bf16": "bare bf16"}
            speedup = ratio(got, "bare fp32", "bare bf16")
            cells = [str(length), f"{ms(got, 'bare fp32')} / {ms(got, 'bare bf16')}"]
            cells.append(f"{speedup}x" if speedup != "-" else "-")
            for m in methods:
                names = [(f"{m} {p}", bare[p]) for p in ("before", "fp32", "bf16")]
                cells.append(" / ".join(ms(got, key) for key, _ in names))
                cells.append(" / ".join(ratio(got, key, b) for key, b in names) + "x")
            share = [
                f"{100 * flops / got[key] / 1e9 / peaks[d]:.0f}" if key in got else "-"
                for key, d in (("bare fp32", FP32), ("bare bf16", BF16))
            ]
            cells.append(" / ".join(share) + " %")
            print("| " + " | ".join(cells) + " |", flush=True)
            noise.append(statistics.median(timing.SPREADS.values()))
    print(
        f"\nload average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end; spread "
        f"(max - min) / median of a path's repeats: median {100 * statistics.median(noise):.0f} %, "
        f"worst length {100 * max(noise):.0f} %"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
