"""`contactplug bench --throughput N`: sequences per second of `predict`'s paths over N random
sequences, one at a time and batched (and fair-esm with hooks, its families only), taking turns
on chunks so load from elsewhere falls on all; on more than one thread, the bound batching can
reach here."""

from __future__ import annotations

import argparse

import numpy as np
import torch

from contactplug import hardware, timing
from contactplug.commands.bench_report import table
from contactplug.models.base import Model
from contactplug.readout import prediction


def run_path(model: Model, name: str, part: list, heads, batch: int | None) -> float:
    """One path of `throughput` over `part` (Records); the highest RSS while it ran (MB).
    old: fair-esm with hooks, one at a time; one: one sequence per forward, one after
    another, on all threads; batched: what predict does by default (length-sorted batches,
    side by side on CPU); *_1t: the same on one thread, the work each path does."""
    if name == "old":
        for r in part:
            timing.old_readout(model, r.sequence, heads)
        return hardware.rss_mb()
    threads = torch.get_num_threads()
    size, workers = (1, 1) if name.startswith("one") else (batch, None)
    if name.endswith("_1t"):
        torch.set_num_threads(1)
        workers = 1
    peak = 0.0
    try:
        stream = prediction.predict_unordered(
            model, part, ranking=_Fixed(heads), batch_size=size, workers=workers
        )
        for _ in stream:
            peak = max(peak, hardware.rss_mb())  # maps dropped once saved, as the CLI does
    finally:
        torch.set_num_threads(threads)
    return peak


def throughput(
    model: Model,
    count: int,
    heads,
    batch,
    seed: int = 0,
    chunk: int = 100,
    clock: timing.Clock = timing.WALL,
) -> dict:
    """Sequences per second over `count` random sequences of 50-1000 residues: fair-esm hooks
    one at a time (the previous path; fair-esm families only), the readout one at a time, and
    length-sorted batches. They take turns on chunks of `chunk` sequences (rotating who goes
    first), so load from elsewhere falls on all; the batched path sorts within each chunk.
    On more than one thread both readout paths also run on one thread (`one_1t`,
    `batched_1t`): the work each does, from which `batched_bound` follows."""
    from contactplug.files.sequences import Record

    rng = np.random.default_rng(seed)
    lengths = rng.integers(50, 1001, count)
    records = [
        Record(f"s{n}", timing.sequence(int(n_res), seed + n)) for n, n_res in enumerate(lengths)
    ]
    out: dict = {"count": count, "residues": int(lengths.sum()), "rss_before": hardware.rss_mb()}
    spent = {"old": 0.0, "one": 0.0, "batched": 0.0}
    if not timing.has_fair_esm(model):
        del spent["old"]
    threads = torch.get_num_threads() if model.device.type == "cpu" else 1
    if threads > 1:
        spent.update(one_1t=0.0, batched_1t=0.0)
    rss = []
    names = list(spent)
    for n, first in enumerate(range(0, count, chunk)):
        part = records[first : first + chunk]
        turn = n % len(names)
        for name in names[turn:] + names[:turn]:
            begin = clock()
            peak = run_path(model, name, part, heads, batch)
            spent[name] += clock() - begin
            if name == "batched":
                rss.append(peak)
    out.update({name: count / seconds for name, seconds in spent.items()}, rss_chunks=rss)
    out["threads"] = threads
    if threads > 1:
        # batched over one at a time = (one's work / batched's work) x (batched's use of the
        # threads / one's); with batched using every thread fully, it would be this
        out["use_one"] = out["one"] / (threads * out["one_1t"])
        out["use_batched"] = out["batched"] / (threads * out["batched_1t"])
        out["batched_bound"] = threads * out["batched_1t"] / out["one"]
    return out


class _Fixed:
    """A ranking stand-in holding the bench's heads."""

    def __init__(self, heads):
        self.heads, self.fingerprint = list(heads), "bench"

    def top(self, k=None):
        return self.heads[:k] if k else self.heads


def print_throughput(args: argparse.Namespace, model: Model, heads, clock: timing.Clock) -> None:
    """`bench --throughput N`'s table, the bound batching can reach here, and the RSS."""
    got = throughput(model, args.throughput, heads, args.batch_size, clock=clock)
    print()
    print(
        f"throughput over {got['count']} random sequences of 50-1000 residues "
        f"({got['residues']} residues), sequences/s:"
    )
    header = ["readout, one at a time", "readout, batched", "batched / one at a time"]
    cells = [
        f"{got['one']:.2f}",
        f"{got['batched']:.2f}",
        f"{got['batched'] / got['one']:.2f}x",
    ]
    if "old" in got:  # the fair-esm families: the previous path, fair-esm with hooks
        header += ["fair-esm hooks, one at a time", "batched / fair-esm"]
        cells += [f"{got['old']:.2f}", f"{got['batched'] / got['old']:.2f}x"]
    print(table(header, [cells]))
    if "batched_bound" in got:
        work = got["batched_1t"] / got["one_1t"]
        print(
            f"on one thread batched does {work:.2f}x less work than one at a time; on "
            f"{got['threads']} threads one at a time uses {got['use_one']:.0%} of "
            f"{got['threads']} cores' worth of that work and batched "
            f"{got['use_batched']:.0%}: with every thread fully used, batched / one at "
            f"a time would be {got['batched_bound']:.2f}x on this machine (the bound)"
        )
    chunks = ", ".join(f"{v:.0f}" for v in got["rss_chunks"])
    print(
        f"(the paths take turns on chunks of 100 sequences.) RSS, MB: "
        f"{got['rss_before']:.0f} before; highest during each chunk of the batched path: "
        f"{chunks}"
    )
