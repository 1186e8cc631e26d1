"""Batches for many sequences: sort by length, group neighbours, size the groups by memory.

Sequences of one batch are right-padded to the longest; the fast forward masks padded keys
and every map is cropped to its own length, so a batched map equals the one-at-a-time map
(fair-esm's own contact crop does not: facebookresearch/esm issues #34 and #361).
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import TypeVar

import torch

from contactplug.files.errors import ContactplugError, arg
from contactplug.models.base import Model

log = logging.getLogger("contactplug")
T = TypeVar("T")

MAX_BATCH = {"cpu": 32, "cuda": 256}  # beyond these no gain was measured
# On CPU a batch pays off only while it stays small: per sequence, the 8M forward at L = 300
# took 48 ms alone, 39 ms in batches of 8 and 46 ms in batches of 32; at L = 1000, 173 ms
# alone, 186 ms in 8s and 229 ms in 32s (README.md, Performance). Auto sizes stop near 3k tokens.
MAX_TOKENS = {"cpu": 3072}
MEMORY_SHARE = 0.25  # of the memory free now, for one batch's activations
MAX_PADDING = 0.15  # share of padded tokens a batch may carry


def free_memory(device: torch.device) -> int:
    """Bytes free now on the device: CUDA's own count, else MemAvailable of /proc/meminfo."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def forward_bytes(model: Model, batch: int, tokens: int, heads_per_layer: int = 0) -> int:
    """A generous estimate of one batch's activation memory in the fast forward.

    Per token: the residual stream, its layer norm, q, k, v and their rotated copies, the
    attention output and the 4E-wide feed-forward (~16 E floats). Per token pair: scores,
    softmax and processed copies of the heads whose weights are asked for (~3 floats each),
    and what the family's forward holds itself (`Model.pair_floats`: T5's position bias).
    """
    dim = model.embed_dim
    size = torch.finfo(model.dtype).bits // 8
    per_token = 16 * dim * size + 4 * model.vocab_size
    per_pair = 4 * (3 * heads_per_layer + model.pair_floats)
    return batch * (tokens * per_token + tokens * tokens * per_pair)


def auto_batch_size(
    model: Model, length: int, heads_per_layer: int = 0, budget: int | None = None
) -> int:
    """The most sequences of `length` residues whose activations fit the memory budget."""
    budget = int(MEMORY_SHARE * free_memory(model.device)) if budget is None else budget
    tokens = length + model.special_tokens
    one = forward_bytes(model, 1, tokens, heads_per_layer)
    cap = auto_cap(model, tokens)
    return max(1, min(cap, budget // max(one, 1)))


def auto_cap(model: Model, tokens: int) -> int:
    """The most sequences of `tokens` tokens an automatic batch holds on this device."""
    cap = MAX_BATCH.get(model.device.type, 32)
    if model.device.type in MAX_TOKENS:
        cap = min(cap, max(1, MAX_TOKENS[model.device.type] // tokens))
    return cap


def parse_batch_size(text: str | int | None, option: str = "batch_size") -> int | None:
    """'auto' (or None) -> None; otherwise a positive int (`option`: the argument, for errors)."""
    if text is None or text == "auto":
        return None
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise ContactplugError(
            f"{arg(option)} wants a positive number or 'auto', not {text!r}"
        ) from None
    if value < 1:
        raise ContactplugError(f"{arg(option)} must be at least 1")
    return value


def plan(
    lengths: list[int],
    model: Model,
    batch_size: int | None = None,
    heads_per_layer: int = 0,
    budget: int | None = None,
) -> list[list[int]]:
    """Indices into `lengths`, grouped: sorted by length, each group within the memory
    budget, at most `batch_size` long (None: `auto_cap`) and at most MAX_PADDING padded."""
    budget = int(MEMORY_SHARE * free_memory(model.device)) if budget is None else budget
    order = sorted(range(len(lengths)), key=lambda n: (lengths[n], n))
    extra = model.special_tokens
    groups: list[list[int]] = []
    current: list[int] = []
    for n in order:
        trial = current + [n]
        longest = lengths[n] + extra  # sorted, so the newcomer is the longest
        padded = sum(longest - lengths[m] - extra for m in trial) / (len(trial) * longest)
        fits = forward_bytes(model, len(trial), longest, heads_per_layer) <= budget
        cap = batch_size or auto_cap(model, longest)
        if current and (len(trial) > cap or not fits or padded > MAX_PADDING):
            groups.append(current)
            current = [n]
        else:
            current = trial
    if current:
        groups.append(current)
    return groups


def cpu_workers(model: Model, workers: int | None = None) -> int:
    """How many batches run at once: on CPU one per torch thread (auto; `run_groups` shares
    the threads out, one each then); on CUDA one (a GPU takes its parallelism from the batch).

    Why: on CPU a forward of one short protein keeps the matmul kernels near their peak on
    one core, but splitting each small op across cores costs more in synchronisation than it
    gains; whole batches side by side, one core each, keep every core busy instead."""
    if workers is not None:
        if workers < 1:
            raise ContactplugError(f"{arg('workers', value=workers)}: give 1 or more")
        return workers
    return torch.get_num_threads() if model.device.type == "cpu" else 1


def run_groups(
    groups: Sequence[Sequence[int]], work: Callable[[Sequence[int]], T], workers: int = 1
) -> Iterator[tuple[Sequence[int], T]]:
    """(group, work(group)) for each group, in the order they are done. With workers > 1 the
    groups run side by side in threads, started in the order given (give the costliest
    first), torch's threads shared out among them (one each when workers = threads; restored
    after); at most `workers` groups are in flight, so memory is bounded by that many
    batches. Fewer groups than workers: as many workers as groups."""
    workers = min(workers, len(groups))
    if workers <= 1:
        for group in groups:
            yield group, work(group)
        return
    order = iter(groups)
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads // workers))  # the cores shared out, none idle
    pool = ThreadPoolExecutor(workers, thread_name_prefix="contactplug-batch")
    try:
        running = {pool.submit(work, g): g for g in itertools.islice(order, workers)}
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                group = running.pop(future)
                yield group, future.result()
                for nxt in itertools.islice(order, 1):
                    running[pool.submit(work, nxt)] = nxt
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(threads)
