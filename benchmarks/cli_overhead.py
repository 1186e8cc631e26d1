#!/usr/bin/env python3
"""The `contactplug predict` CLI's fixed overhead: the same job as a whole CLI process and
through the library, timed from outside, interleaved (A, B, C, A, B, C, ...).

  cli      `contactplug predict FASTA -o DIR --model CKPT` (writes one npz per sequence)
  library  a Python process: load_model + readout.prediction.predict, no files written
  parts    a Python process timing each step the CLI takes: importing the CLI (torch and
           the rest), building the model, predicting, writing the maps

Setup, once, in a temporary folder: random weights of the architecture written as a fair-esm
checkpoint (or an HF folder with --format hf), a FASTA of random sequences, and the head
ranking made once (untimed) in a private CONTACTPLUG_CACHE, so no run pays the one-off ranking.

Each process's wall time is measured from outside; its user+sys CPU time comes from wait4,
which is steadier than wall time on a shared machine. Medians over the repeats; the load
average at start and end says how shared the machine was.

Run: python benchmarks/cli_overhead.py [--repeats 5] [--sequences 64] [--format pt|hf]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ALPHABET = "ACDEFGHIKLMNPQRSTVWY"

LIBRARY = """
import sys, time
t0 = time.perf_counter()
from contactplug.files.sequences import read_fasta
from contactplug.models.loading import load_model
from contactplug.readout.prediction import predict
model = load_model(sys.argv[1], "cpu")
records = read_fasta(sys.argv[2])
t1 = time.perf_counter()
maps = list(predict(model, records))
t2 = time.perf_counter()
print("PARTS", {"setup": t1 - t0, "predict": t2 - t1})
"""

PARTS = """
import sys, time
t0 = time.perf_counter()
from contactplug import cli
parser = cli.build_parser()
t1 = time.perf_counter()
from contactplug.commands.common import model_from
from contactplug.files.outputs import OutputFolder
from contactplug.inputs.queries import read_inputs
from contactplug.readout.prediction import predict_unordered
args = parser.parse_args(["predict", sys.argv[2], "-o", sys.argv[3], "--model", sys.argv[1]])
t2 = time.perf_counter()
model = model_from(args)
t3 = time.perf_counter()
queries = read_inputs(args.inputs, None)
folder = OutputFolder(args.output, args.inputs)
maps = list(predict_unordered(model, [q.record for q in queries]))
t4 = time.perf_counter()
for n, cmap in maps:
    queries[n].fill(cmap).save_in(folder)
t5 = time.perf_counter()
print("PARTS", {"import": t1 - t0, "import_run": t2 - t1, "build": t3 - t2,
                "predict": t4 - t3, "write": t5 - t4})
"""


def write_weights(arch: str, kind: str, where: Path) -> Path:
    """Random weights of `arch` as a fair-esm .pt (kind pt) or an HF folder (kind hf)."""

    from contactplug.models.random_weights import random_model

    if kind == "pt":
        from contactplug.models.fair_esm import save_fair_esm_checkpoint

        module = random_model(arch, "cpu").esm
        return save_fair_esm_checkpoint(module, where / f"{arch}.pt")
    from contactplug.models.random_weights import make_hf_esm
    from contactplug.models.registry import REGISTRY

    spec = REGISTRY[arch]
    folder = where / arch
    make_hf_esm(spec.layers, spec.embed_dim, spec.heads).save_pretrained(folder)
    return folder


def write_fasta(path: Path, count: int, low: int, high: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with open(path, "w") as out:
        for n in range(count):
            length = rng.randint(low, high)
            out.write(f">seq{n}\n{''.join(rng.choice(ALPHABET) for _ in range(length))}\n")
    return path


def run_child(cmd: list[str], env: dict) -> dict:
    """Wall time from outside, user+sys CPU from wait4, and the PARTS line it printed."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.posix_spawn(cmd[0], cmd, env, file_actions=_redirect(out, err))
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        text, problem = out.read().decode(), err.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed:\n{problem[-2000:]}")
    result = {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime}
    for line in text.splitlines():
        if line.startswith("PARTS "):
            result.update(eval(line[6:], {}))  # the dict literal our own snippets print
    return result


def _redirect(out, err) -> list:
    return [
        (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
        (os.POSIX_SPAWN_DUP2, err.fileno(), 2),
    ]


def median_table(runs: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    return {
        name: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
        for name, rs in runs.items()
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--sequences", type=int, default=64)
    p.add_argument("--lengths", default="50,400", help="shortest,longest (default 50,400)")
    p.add_argument("--arch", default="esm2_t12_35M_UR50D")
    p.add_argument("--format", default="pt", choices=("pt", "hf"))
    p.add_argument("--only", default="cli,library,parts", help="which processes to time")
    p.add_argument("--threads", type=int, help="OMP_NUM_THREADS of every child (default: unset)")
    p.add_argument(
        "--trees",
        help="NAME=SRC,... : time each process with PYTHONPATH=SRC too (e.g. before=/tmp/old/src,"
        "after=/tmp/new/src, copies of src/ at two commits), interleaved with each other",
    )
    p.add_argument("--json", help="also write the runs and medians here")
    args = p.parse_args()
    low, high = (int(x) for x in args.lengths.split(","))
    kinds = args.only.split(",")

    work = Path(tempfile.mkdtemp(prefix="cli-overhead-"))
    try:
        env = {**os.environ, "CONTACTPLUG_CACHE": str(work / "cache"), "CONTACTPLUG_OFFLINE": "1"}
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        weights = write_weights(args.arch, args.format, work)
        fasta = write_fasta(work / "seqs.fasta", args.sequences, low, high)
        exe = shutil.which("contactplug") or sys.exit("contactplug is not on PATH")
        py = sys.executable
        trees = dict(t.split("=", 1) for t in args.trees.split(",")) if args.trees else {"": ""}

        def command(kind: str, out: Path) -> list[str]:
            if kind == "cli":
                return [exe, "-q", "predict", str(fasta), "-o", str(out), "--model", str(weights)]
            if kind == "library":
                return [py, "-c", LIBRARY, str(weights), str(fasta)]
            return [py, "-c", PARTS, str(weights), str(fasta), str(out)]

        def tree_env(src: str) -> dict:
            if not src:
                return env
            return {
                **env,
                "PYTHONPATH": os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")])),
            }

        # the one-off head ranking, untimed, so every timed run finds it cached
        warm = [py, "-c", LIBRARY, str(weights), str(fasta)]
        subprocess.run(warm, env=tree_env(next(iter(trees.values()))), check=True)

        load_start = os.getloadavg()
        runs: dict[str, list[dict]] = {}
        for n in range(args.repeats):
            for kind in kinds:
                for tree, src in trees.items():
                    out = work / f"out-{kind}-{tree}-{n}"
                    name = f"{kind} {tree}".strip()
                    runs.setdefault(name, []).append(run_child(command(kind, out), tree_env(src)))
                    shutil.rmtree(out, ignore_errors=True)
        load_end = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    medians = median_table(runs)
    print(
        f"{args.sequences} sequences of {low}-{high}, random {args.arch} ({args.format}), "
        f"{args.repeats} interleaved repeats; OMP_NUM_THREADS {args.threads or 'unset'}"
    )
    print(f"load average at start {load_start[0]:.2f}, at end {load_end[0]:.2f}")
    for name, rs in runs.items():
        walls = ", ".join(f"{r['wall']:.2f}" for r in rs)
        cpus = ", ".join(f"{r['cpu']:.2f}" for r in rs)
        parts = "  ".join(
            f"{k} {v:.2f}" for k, v in medians[name].items() if k not in ("wall", "cpu")
        )
        print(
            f"{name:16s} median wall {medians[name]['wall']:.2f} s, "
            f"CPU {medians[name]['cpu']:.2f} s"
            f"  [walls {walls}] [CPU {cpus}]  {parts}"
        )
    for tree in trees:
        cli, lib = (medians.get(f"{k} {tree}".strip()) for k in ("cli", "library"))
        if cli and lib:
            print(
                f"{tree or 'CLI'}: CLI over library wall +{cli['wall'] - lib['wall']:.2f} s, "
                f"CPU +{cli['cpu'] - lib['cpu']:.2f} s; CLI over the prediction itself "
                f"+{cli['wall'] - lib['predict']:.2f} s"
            )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"runs": runs, "medians": medians, "load": [load_start, load_end]})
        )


if __name__ == "__main__":
    main()
