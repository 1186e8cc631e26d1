#!/usr/bin/env python3
"""fp32 against bf16 matmuls (the forward's autocast=torch.bfloat16), per model size and
length, in one interleaved run: the bare fast forward and the three readouts (ranked or
synthetic heads with one in the last layer, all heads, ESM's contact head), with each one's
share of the measured matmul peak.

Random weights cost what real ones do. On a shared machine only the ratios of one run mean
much; the load average at start and end says how shared it was.

Run: python benchmarks/reduced_precision_speed.py [--archs 8M,35M,150M] [--lengths 100,300,1000]
"""

from __future__ import annotations

import argparse
import os

import torch

from contactplug import bench, hardware
from contactplug.models.random_weights import random_model
from contactplug.readout import attention

ARCHS = {
    "8M": "esm2_t6_8M_UR50D",
    "35M": "esm2_t12_35M_UR50D",
    "150M": "esm2_t30_150M_UR50D",
    "650M": "esm2_t33_650M_UR50D",
}
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


def paths(model, seq: str, heads) -> dict:
    tokens = model.tokens([seq])

    def bare(dtype):
        return lambda: model.forward(tokens, autocast=dtype)

    def readout(method, dtype):
        return lambda: attention.batch_maps(model, [seq], method, heads, autocast=dtype)

    out = {}
    for name, dtype in PRECISIONS.items():
        out[f"bare {name}"] = bare(dtype)
        for method in ("attention", "all-heads", "esm-head"):
            out[f"{method} {name}"] = readout(method, dtype)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="8M,35M,150M")
    parser.add_argument("--lengths", default="100,300,1000")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    lengths = [int(n) for n in args.lengths.split(",")]
    device = torch.device("cpu")
    load = os.getloadavg()[0]
    peaks = hardware.matmul_peaks(device)
    print(
        f"{hardware.cpu_name()}, {os.cpu_count()} logical CPUs, "
        f"{' '.join(hardware.matmul_features())}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; matmul peak fp32 {peaks[torch.float32]:.0f}, "
        f"bf16 {peaks[torch.bfloat16]:.0f} GFLOP/s (1024^3, best of 8)"
    )
    for arch in args.archs.split(","):
        model = random_model(ARCHS[arch], "cpu")
        heads, note = bench.heads_for(model)
        params = hardware.linear_params(model.esm)
        print(f"\n### {arch} ({note}), median ms over {args.repeats} interleaved rounds\n")
        header = ["L"] + list(paths(model, "A", heads)) + ["bf16 speed-up", "% peak fp32/bf16"]
        print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        for length in lengths:
            seq = bench.sequence(length, seed=length)
            got = bench.interleaved(paths(model, seq, heads), args.repeats, model)
            flops = hardware.forward_flops(
                params, model.num_layers, model.esm.embed_dim, length + 2
            )
            share = [
                100 * flops / got[f"bare {p}"] / 1e9 / peaks[PRECISIONS[p] or torch.float32]
                for p in PRECISIONS
            ]
            cells = [str(length)] + [f"{1e3 * v:.0f}" for v in got.values()]
            cells.append(f"{got['bare fp32'] / got['bare bf16']:.2f}x")
            cells.append(f"{share[0]:.0f} / {share[1]:.0f} %")
            print("| " + " | ".join(cells) + " |", flush=True)
    print(f"\nload average {load:.1f} at start, {os.getloadavg()[0]:.1f} at end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
