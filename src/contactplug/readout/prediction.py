"""Contact maps for many records: length-sorted padded batches, windows for long proteins,
and the model's head ranking looked up (or made once) for the `attention` method."""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Iterable, Iterator

from contactplug.files.contactmap import ContactMap
from contactplug.files.sequences import Record, check_length
from contactplug.models import batching
from contactplug.models.base import Model
from contactplug.readout import windows
from contactplug.readout.attention import Head, batch_maps, by_layer, windowed_map
from contactplug.readout.matmul_precision import resolve as resolve_precision
from contactplug.readout.ranking import get_ranking

log = logging.getLogger("contactplug")


def predict_unordered(
    model: Model,
    records: Iterable[Record],
    method: str = "attention",
    top_k: int | None = None,
    ranking=None,
    batch_size: int | None = None,
    window: int | None = windows.DEFAULT_WINDOW,
    overlap: int | None = None,
    precision: str = "auto",
    workers: int | None = None,
) -> Iterator[tuple[int, ContactMap]]:
    """(input index, ContactMap) per record, in the order they are done: length-sorted
    padded batches, then the proteins longer than `window` (None or 0: refuse those).
    precision: the matmuls' (auto | fp32 | bf16, see `readout.matmul_precision`); workers: batches
    run side by side on CPU, torch's threads shared out among them (None: one per thread,
    `batching.run_groups`)."""
    model.require(method)
    records = list(records)
    heads: list[Head] | None = None
    chosen = resolve_precision(model, precision)
    low = chosen.autocast
    meta: dict = {
        "device": str(model.device),
        "dtype": str(model.dtype).replace("torch.", ""),
        "precision": chosen.name,
        "precision_why": chosen.why,
    }
    if method == "attention":
        ranking = ranking or get_ranking(model)
        heads = ranking.top(top_k)
        meta.update(heads=[list(h) for h in heads], k=len(heads), ranking=ranking.fingerprint)
    meta.update(model_source=model.source, fingerprint=model.fingerprint)
    limit = min(window, model.max_length) if window else model.max_length
    for record in records:
        if not window:
            check_length(record, model.max_length)
    short = [n for n, r in enumerate(records) if len(r.sequence) <= limit]
    long = [n for n, r in enumerate(records) if len(r.sequence) > limit]
    per_layer = (
        model.num_heads if method != "attention" else max(map(len, by_layer(heads).values()))
    )
    lengths = [len(records[n].sequence) for n in short]
    workers = batching.cpu_workers(model, workers)
    budget = int(batching.MEMORY_SHARE * batching.free_memory(model.device) / workers)
    groups = [
        [short[g] for g in group]
        for group in batching.plan(lengths, model, batch_size, per_layer, budget)
    ]
    if workers > 1:  # the costliest first, so no worker is left with one long batch at the end
        groups.sort(key=lambda g: -len(g) * max(len(records[n].sequence) for n in g))

    def run(members):
        start = time.perf_counter()
        maps = batch_maps(model, [records[n].sequence for n in members], method, heads, low)
        return maps, (time.perf_counter() - start) / len(members)

    for members, (maps, seconds) in batching.run_groups(groups, run, workers):
        for n, scores in zip(members, maps, strict=True):
            yield n, _cmap(records[n], scores, method, model, 1, seconds, meta, len(members))
    for n in long:
        start = time.perf_counter()
        seq = records[n].sequence
        scores, extra = windowed_map(
            model, seq, method, heads, window, overlap, batch_size, autocast=low
        )
        log.info(
            "%s: %d residues read in %d windows of %d (overlap %d)",
            records[n].id,
            len(seq),
            len(extra["windows"]),
            window,
            extra["overlap"],
        )
        seconds = time.perf_counter() - start
        yield (
            n,
            _cmap(
                records[n],
                scores,
                method,
                model,
                len(extra["windows"]),
                seconds,
                {**meta, **extra},
                1,
            ),
        )


def _cmap(record, scores, method, model, n_forward, seconds, meta, batch) -> ContactMap:
    return ContactMap(
        contacts=scores,
        sequence=record.sequence,
        id=record.id,
        method=method,
        model=model.name,
        n_forward=n_forward,
        seconds=seconds,
        meta=dict(meta, batch=batch),
    )


def predict(
    model: Model,
    records: Iterable[Record],
    method: str = "attention",
    top_k: int | None = None,
    ranking=None,
    batch_size: int | None = None,
    window: int | None = windows.DEFAULT_WINDOW,
    overlap: int | None = None,
    precision: str = "auto",
    workers: int | None = None,
) -> Iterator[ContactMap]:
    """One ContactMap per record, in input order (maps done early wait in a buffer; for flat
    memory over many records use `predict_unordered`)."""
    waiting: list[tuple[int, int, ContactMap]] = []
    expected = 0
    stream = predict_unordered(
        model, records, method, top_k, ranking, batch_size, window, overlap, precision, workers
    )
    for n, cmap in stream:
        heapq.heappush(waiting, (n, id(cmap), cmap))
        while waiting and waiting[0][0] == expected:
            yield heapq.heappop(waiting)[2]
            expected += 1
