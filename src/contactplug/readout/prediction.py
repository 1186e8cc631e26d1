"""Contact maps for many records: length-sorted padded batches, windows for long proteins,
and the model's head ranking looked up (or made once) for the `attention` method."""

from __future__ import annotations

import heapq
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator

from contactplug.files.contactmap import ContactMap
from contactplug.files.sequences import Record, check_length
from contactplug.models import batching, joining
from contactplug.models.base import Model
from contactplug.readout import windows
from contactplug.readout.attention import Head, batch_maps, by_layer, windowed_map
from contactplug.readout.matmul_precision import resolve as resolve_precision
from contactplug.readout.ranking import Ranking, get_ranking

log = logging.getLogger("contactplug")


def predict_unordered(
    model: Model,
    records: Iterable[Record],
    method: str = "attention",
    top_k: int | None = None,
    *,
    ranking=None,
    batch_size: int | None = None,
    window: int | None = windows.DEFAULT_WINDOW,
    overlap: int | None = None,
    precision: str = "auto",
    workers: int | None = None,
    finished: Callable[[int, Record], bool] | None = None,
    linker: str | None = None,
) -> Iterator[tuple[int, ContactMap]]:
    """(input index, ContactMap) per record, in the order they are done: length-sorted
    padded batches, then the proteins longer than `window` (None or 0: refuse those).
    precision: the matmuls' (auto | fp32 | bf16, see `readout.matmul_precision`); workers: batches
    run side by side on CPU, torch's threads shared out among them (None: one per thread,
    `batching.run_groups`). finished(index, record): True skips a record already done (a
    resumed run); its maps carry `meta["settings"]` (`settings`) for that check. linker: how
    complexes' chains are joined (`models.joining`; None: the model's default); a complex
    is never windowed: one over the model's limit is refused before any work."""
    model.require(method)
    records = list(records)
    heads, low, meta = _run_meta(model, method, top_k, ranking, precision, window, overlap, linker)
    if finished is not None:  # a rerun into the same -o: only the records not yet done
        records = [r if not finished(n, r) else None for n, r in enumerate(records)]
    limit = min(window, model.max_length) if window else model.max_length
    sizes = record_sizes(model, records, window, linker)
    short = [n for n, r in enumerate(records) if r is not None and sizes[n] <= limit]
    long = [n for n, r in enumerate(records) if r is not None and sizes[n] > limit]
    per_layer = (
        model.num_heads if method != "attention" else max(map(len, by_layer(heads).values()))
    )
    workers = batching.cpu_workers(model, workers)
    budget = int(batching.MEMORY_SHARE * batching.free_memory(model.device) / workers)
    groups = [
        [short[g] for g in group]
        for group in batching.plan([sizes[n] for n in short], model, batch_size, per_layer, budget)
    ]
    if workers > 1:  # the costliest first, so no worker is left with one long batch at the end
        groups.sort(key=lambda g: -len(g) * max(sizes[n] for n in g))

    def run(members):
        start = time.perf_counter()
        items = [records[n] if records[n].is_complex else records[n].sequence for n in members]
        maps = batch_maps(model, items, method, heads, low, linker)
        return maps, (time.perf_counter() - start) / len(members)

    for members, (maps, seconds) in batching.run_groups(groups, run, workers):
        for n, scores in zip(members, maps, strict=True):
            yield n, _cmap(records[n], scores, method, model, 1, seconds, meta, len(members))
    for n in long:
        yield n, _windowed(model, records[n], method, heads, low, meta, window, overlap, batch_size)


def _run_meta(model, method, top_k, ranking, precision, window, overlap, linker):
    """The heads (attention), the autocast dtype and the meta every map of a run carries."""
    chosen = resolve_precision(model, precision)
    meta: dict = {
        "device": str(model.device),
        "dtype": str(model.dtype).replace("torch.", ""),
        "precision": chosen.name,
        "precision_why": chosen.why,
    }
    ranking, heads = run_heads(model, method, top_k, ranking)
    if heads is not None:
        meta.update(heads=[list(h) for h in heads], k=len(heads), ranking=ranking.fingerprint)
    meta.update(model_source=model.source, fingerprint=model.fingerprint)
    meta["settings"] = settings(model, method, heads, ranking, chosen.name, window, overlap, linker)
    return heads, chosen.autocast, meta


def _windowed(model, record, method, heads, low, meta, window, overlap, batch_size) -> ContactMap:
    """A protein longer than the window, read in overlapping windows and stitched."""
    start = time.perf_counter()
    seq = record.sequence
    scores, extra = windowed_map(model, seq, method, heads, window, overlap, batch_size, low)
    log.info(
        "%s: %d residues read in %d windows of %d (overlap %d)",
        record.id,
        len(seq),
        len(extra["windows"]),
        window,
        extra["overlap"],
    )
    seconds = time.perf_counter() - start
    n_forward = len(extra["windows"])
    return _cmap(record, scores, method, model, n_forward, seconds, {**meta, **extra}, 1)


def settings(
    model: Model, method: str, heads, ranking, precision: str, window, overlap, linker=None
) -> dict:
    """What decides a map beside its sequence; a rerun keeps a map whose settings are equal
    (`files.resume`). precision: the resolved one (fp32 | bf16), not `auto`; linker: the one
    complexes are joined by (the model's default when None)."""
    out = {
        "method": method,
        "fingerprint": model.fingerprint,
        "precision": precision,
        "window": window or 0,
        "overlap": overlap,
        "linker": joining.check_linker(linker or model.default_linker),
    }
    if method == "attention":
        out.update(heads=[list(h) for h in heads], ranking=ranking.fingerprint)
    return out


def run_settings(
    model: Model,
    method: str,
    top_k: int | None = None,
    ranking=None,
    window: int | None = windows.DEFAULT_WINDOW,
    overlap: int | None = None,
    precision: str = "auto",
    linker: str | None = None,
) -> dict:
    """`settings` of a run before it starts, as `predict_unordered` will stamp them."""
    ranking, heads = run_heads(model, method, top_k, ranking)
    chosen = resolve_precision(model, precision)
    return settings(model, method, heads, ranking, chosen.name, window, overlap, linker)


def run_heads(
    model: Model,
    method: str,
    top_k: int | None = None,
    ranking: Ranking | None = None,
    heads_file: str | os.PathLike | None = None,
) -> tuple[Ranking | None, list[Head] | None]:
    """The ranking and heads an `attention` run reads ((None, None) for other methods): the
    `ranking` given, else the file `heads_file` (--heads), else the model's (`get_ranking`,
    read once per process); a bad `top_k` refused here, before any work."""
    if method != "attention":
        return None, None
    ranking = ranking or get_ranking(model, heads_file)
    return ranking, ranking.top(top_k)


def record_sizes(
    model: Model, records: list[Record | None], window: int | None, linker: str | None
) -> list[int]:
    """Positions each record takes in a forward (a complex's linker counted; None, a record
    skipped: 0), refusing a complex over the model's limit, and with windows off any protein
    over it: the one length check, which `predict` also runs before any work."""
    sizes = []
    for record in records:
        if record is None:
            sizes.append(0)
        elif record.is_complex:
            lay = joining.check_fits(model, record, linker)
            sizes.append(lay.positions - model.special_tokens)
        else:
            if not window:
                check_length(record, model.max_length)
            sizes.append(len(record.sequence))
    return sizes


def _cmap(record, scores, method, model, n_forward, seconds, meta, batch) -> ContactMap:
    chains = {}
    if record.is_complex:
        linker = joining.check_linker(
            meta.get("settings", {}).get("linker") or model.default_linker
        )
        chains = dict(
            chain_ids=list(record.chain_ids),
            chain_lengths=list(record.chain_lengths),
            linker=linker,
        )
    return ContactMap(
        contacts=scores,
        sequence=record.sequence,
        id=record.id,
        method=method,
        model=model.name,
        n_forward=n_forward,
        seconds=seconds,
        meta=dict(meta, batch=batch),
        **chains,
    )


def predict(
    model: Model,
    records: Iterable[Record],
    method: str = "attention",
    top_k: int | None = None,
    **options,
) -> Iterator[ContactMap]:
    """One ContactMap per record, in input order (maps done early wait in a buffer; for flat
    memory over many records use `predict_unordered`, whose keyword options these are)."""
    waiting: list[tuple[int, int, ContactMap]] = []
    expected = 0
    for n, cmap in predict_unordered(model, records, method, top_k, **options):
        heapq.heappush(waiting, (n, id(cmap), cmap))
        while waiting and waiting[0][0] == expected:
            yield heapq.heappop(waiting)[2]
            expected += 1
