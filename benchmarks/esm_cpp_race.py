#!/usr/bin/env python3
"""contactplug's default readout (`api.predict`) against esm-cpp's INT8 bare forward (issue 22,
item 1): the same random ESM-2 weights and sequence, the two interleaved round by round.

esm-cpp 0.2.1 (PyPI) wants numpy < 2, so it lives in its own virtual environment and runs as
a subprocess of this script, one per model, fed one command a line on stdin:
  python3 -m venv /work/venvs/esmcpp && /work/venvs/esmcpp/bin/pip install esm-cpp==0.2.1 'numpy<2'
It reads an HF ESM-2 safetensors file (`Model.load_from_safetensors`; HF key names, each
layer's rotary inv_freq included; the config comes from the tensors' shapes) and
`quantize_weights()` makes its per-channel INT8 weights in place (what its own
`esm_cpp.bench.compare` does for its esm-cpp-int8 row; its SmoothQuant needs calibration
statistics, which change the scales, not the kernels' cost). Here the random weights of
`random_model(arch)` are written in HF names, and esm-cpp's fp32 logits are checked against
contactplug's fp32 forward before quantizing: the two run the same network.

Timed paths, per model and length, round-robin (`rounds` rounds after a warm-up each):
  readout    api.predict(seq, model) with every default (attention, ranked top-K heads,
             precision auto): what a user calls
  bare       contactplug's fast forward to the final hidden states, every layer, in the
             readout's precision (no LM head)
  esm-cpp    esm-cpp's Model.forward(ids) with INT8 weights (all layers and its LM head)
and with --fp32-esm-cpp, esm-cpp's fp32 forward too. Ratios: esm-cpp / readout (> 1: the
readout is faster). Threads: torch's and ESM_NUM_THREADS are both --threads.

Run: python benchmarks/esm_cpp_race.py [--archs 35M,150M] [--lengths 100,300] [--rounds 7]
       [--threads 2] [--clock wall|cpu] [--fp32-esm-cpp] [--json FILE]
(results/esm_cpp_race_1thread_cpu.json: --threads 1 --clock cpu --fp32-esm-cpp --rounds 3)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

from contactplug import api, hardware, timing
from contactplug.models.hf import hf_key_to_fair_esm
from contactplug.models.random_weights import random_model
from contactplug.readout import matmul_precision
from contactplug.readout.ranking import get_ranking

ARCHS = {"8M": "esm2_t6_8M_UR50D", "35M": "esm2_t12_35M_UR50D", "150M": "esm2_t30_150M_UR50D"}
ESM_CPP_PYTHON = "/work/venvs/esmcpp/bin/python"

# The esm-cpp side: one JSON reply per command line ("logits SEQ" | "int8" | "time SEQ").
WORKER = r"""
import json, sys, time
import numpy as np
import esm_cpp
model = esm_cpp.Model.load_from_safetensors(sys.argv[1])
tokenizer = esm_cpp.Tokenizer()
def ids(seq):
    return np.asarray(tokenizer.encode(seq), dtype=np.int32)
print(json.dumps({"isa": esm_cpp.current_isa(), "threads": esm_cpp.Model.num_threads,
                  "version": esm_cpp.__version__}), flush=True)
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "logits":
        np.save(arg.split()[1], model.forward(ids(arg.split()[0])))
        print(json.dumps({"ok": True}), flush=True)
    elif cmd == "int8":
        model.quantize_weights()
        print(json.dumps({"quantized": model.config.weights_quantized}), flush=True)
    elif cmd == "time":
        x = ids(arg)
        wall, cpu = time.perf_counter(), time.process_time()
        model.forward(x)
        print(json.dumps({"wall": time.perf_counter() - wall,
                          "cpu": time.process_time() - cpu}), flush=True)
"""


def hf_config(esm: torch.nn.Module):
    """transformers' EsmConfig of a fair-esm ESM2 (the layout of the hub's facebook/esm2_*)."""
    import transformers

    return transformers.EsmConfig(
        vocab_size=33,
        hidden_size=esm.embed_dim,
        num_hidden_layers=esm.num_layers,
        num_attention_heads=esm.attention_heads,
        intermediate_size=4 * esm.embed_dim,
        max_position_embeddings=1026,
        position_embedding_type="rotary",
        emb_layer_norm_before=False,
        token_dropout=esm.token_dropout,
        mask_token_id=32,
        pad_token_id=1,
        layer_norm_eps=1e-5,
    )


def hf_state(model) -> dict[str, torch.Tensor]:
    """The fair-esm ESM2 weights of `model` under HF's EsmForMaskedLM names (`hf.py`'s map
    read backwards), with each layer's rotary inv_freq, which esm-cpp reads too."""
    import transformers

    esm = model.esm
    with torch.device("meta"):  # the names only: no memory, no random init
        names = list(transformers.EsmForMaskedLM(hf_config(esm)).state_dict())
    fair = esm.state_dict()
    out = {}
    for name in names:
        key = hf_key_to_fair_esm(name)
        if name == "lm_head.decoder.weight":  # tied to the embeddings
            key = "embed_tokens.weight"
        if key in fair:
            out[name] = fair[key].detach().contiguous().clone()
    for n in range(esm.num_layers):
        rotary = f"esm.encoder.layer.{n}.attention.self.rotary_embeddings.inv_freq"
        out[rotary] = fair[f"layers.{n}.self_attn.rot_emb.inv_freq"].clone()
    return out


def write_hf_folder(model, folder: Path) -> Path:
    """config.json and model.safetensors of `model` (an HF folder contactplug loads too);
    returns the safetensors file, which is what esm-cpp reads."""
    folder.mkdir(parents=True, exist_ok=True)
    hf_config(model.esm).to_json_file(str(folder / "config.json"))
    save_file(hf_state(model), str(folder / "model.safetensors"))
    return folder / "model.safetensors"


class EsmCpp:
    """esm-cpp in its own interpreter, one model, commands on stdin."""

    def __init__(self, weights: Path, threads: int, python: str):
        env = dict(os.environ, ESM_NUM_THREADS=str(threads))
        self.proc = subprocess.Popen(
            [python, "-c", WORKER, str(weights)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.info = self._reply()

    def _reply(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"esm-cpp worker stopped (exit {self.proc.wait()})")
        return json.loads(line)

    def ask(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._reply()

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def same_network(model, worker: EsmCpp, seq: str, folder: Path) -> float:
    """Largest |logit| difference of esm-cpp's fp32 forward from contactplug's, over the max
    |logit|: ~1e-6 when both read the same weights."""
    import numpy as np

    path = folder / "logits.npy"
    worker.ask(f"logits {seq} {path}")
    theirs = torch.from_numpy(np.load(path))
    ours = model.forward(model.tokens([seq])).logits[0].float()
    return float((theirs - ours).abs().max() / ours.abs().max())


def race(model, worker: EsmCpp, seq: str, rounds: int, clock: str, fp32: EsmCpp | None) -> dict:
    """Per path, every round's seconds: readout, bare and esm-cpp in turn each round (the
    order rotated), after one warm-up each."""
    low = matmul_precision.resolve(model, "auto").autocast
    tokens = model.tokens([seq])
    tick = timing.CLOCKS[clock]

    def ours(fn):
        def run():
            start = tick()
            fn()
            return tick() - start

        return run

    paths = {
        "readout": ours(lambda: api.predict(seq, model=model)),
        "bare": ours(lambda: timing.bare(model, tokens, low)),
        "esm-cpp int8": lambda: worker.ask(f"time {seq}")[clock],
    }
    if fp32 is not None:
        paths["esm-cpp fp32"] = lambda: fp32.ask(f"time {seq}")[clock]
    for run in paths.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in paths}
    names = list(paths)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(paths[name]())
    return times


def table_row(arch: str, length: int, times: dict, flops: float, peak: float) -> str:
    med = {name: statistics.median(v) for name, v in times.items()}
    cells = [arch, str(length)] + [f"{1e3 * med[n]:.1f}" for n in times]
    cells.append(f"{med['esm-cpp int8'] / med['readout']:.2f}x")
    cells.append(f"{med['esm-cpp int8'] / med['bare']:.2f}x")
    cells.append(f"{100 * flops / med['bare'] / 1e9 / peak:.0f} %")
    return "| " + " | ".join(cells) + " |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="35M,150M")
    parser.add_argument("--lengths", default="100,300")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clock", choices=list(timing.CLOCKS), default="wall")
    parser.add_argument("--fp32-esm-cpp", action="store_true", help="time esm-cpp fp32 too")
    parser.add_argument("--python", default=ESM_CPP_PYTHON, help="esm-cpp's interpreter")
    parser.add_argument("--json", type=Path, help="write every round's times here")
    args = parser.parse_args()
    if not Path(args.python).exists():
        parser.error(f"no esm-cpp interpreter at {args.python} (see this file's docstring)")
    torch.set_num_threads(args.threads)
    lengths = [int(n) for n in args.lengths.split(",")]
    device = torch.device("cpu")
    load = os.getloadavg()
    peaks = hardware.matmul_peaks(device, clock=timing.CLOCKS[args.clock])
    record = {
        "cpu": hardware.cpu_name(),
        "features": hardware.matmul_features(),
        "torch": torch.__version__,
        "threads": args.threads,
        "clock": args.clock,
        "rounds": args.rounds,
        "peaks_gflops": {"fp32": peaks[torch.float32], "bf16": peaks[torch.bfloat16]},
        "load_start": load,
        "runs": [],
    }
    print(
        f"{record['cpu']}, {' '.join(record['features'])}; torch {torch.__version__}, "
        f"{args.threads} threads, {args.clock} clock; matmul peak fp32 "
        f"{peaks[torch.float32]:.0f}, bf16 {peaks[torch.bfloat16]:.0f} GFLOP/s; load {load[0]:.1f}"
    )
    header = "| model | L | readout ms | bare ms | esm-cpp int8 ms"
    header += " | esm-cpp fp32 ms" if args.fp32_esm_cpp else ""
    header += " | esm-cpp / readout | esm-cpp / bare | bare, % of peak |"
    print(header + "\n|" + "---|" * (header.count("|") - 1))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for arch in args.archs.split(","):
            model = random_model(ARCHS[arch], "cpu")
            weights = write_hf_folder(model, folder / arch)
            worker = EsmCpp(weights, args.threads, args.python)
            fp32 = EsmCpp(weights, args.threads, args.python) if args.fp32_esm_cpp else None
            drift = same_network(model, worker, timing.sequence(50), folder)
            worker.ask("int8")
            heads = get_ranking(model).top(None)  # made once here (random weights: no ranking)
            precision = matmul_precision.resolve(model, "auto")
            params = hardware.linear_params(model.esm)
            for length in lengths:
                seq = timing.sequence(length, seed=length)
                times = race(model, worker, seq, args.rounds, args.clock, fp32)
                flops = hardware.forward_flops(
                    params, model.num_layers, model.esm.embed_dim, length + 2
                )
                peak = peaks[precision.autocast or torch.float32]
                print(table_row(arch, length, times, flops, peak), flush=True)
                record["runs"].append(
                    {
                        "model": arch,
                        "length": length,
                        "times_s": times,
                        "flops": flops,
                        "precision": precision.name,
                        "heads": [list(h) for h in heads],
                        "esm_cpp": worker.info,
                        "esm_cpp_fp32_logit_drift": drift,
                    }
                )
            worker.close()
            if fp32 is not None:
                fp32.close()
            del model
    record["load_end"] = os.getloadavg()
    print(
        f"load average {load[0]:.1f} at start, {record['load_end'][0]:.1f} at end; esm-cpp "
        f"{worker.info['version']} ISA {worker.info['isa']}, {worker.info['threads']} threads; "
        f"precision {precision.name}; fp32 logits esm-cpp vs contactplug: relative max "
        f"difference {drift:.1e}"
    )
    if args.json:
        args.json.write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
