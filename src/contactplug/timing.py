"""`contactplug bench`: what the attention readout and the Categorical Jacobian cost here.

It runs on any family through the model interface (`Model.forward`); the rows that time
fair-esm's own forward beside ours appear for the fair-esm families (ESM-2, ESM-1b/1v) only.
The bare forward is the family's forward to the final hidden states, without the LM head.

Every ratio is measured in one run with its parts interleaved (A, B, A, B, ...; medians), so a
busy machine slows both sides alike (peak memory per path is `memory_peaks`'s). The Jacobian
is timed on a sample of positions and extrapolated unless `--jacobian full`; such numbers are
marked `(est.)`. Its bound is (20L+1)/B x one batch-B forward of what it runs.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np
import torch

from contactplug import hardware
from contactplug.jacobian import categorical as jacobian
from contactplug.jacobian.block_store import SymmetricStore
from contactplug.models import batching, joining
from contactplug.models.base import Model
from contactplug.models.fair_esm_model import FairEsmModel, HeadCapture
from contactplug.models.loading import load_model
from contactplug.models.random_weights import random_model
from contactplug.readout import attention, cache, ranking

AMINO = "ACDEFGHIKLMNPQRSTVWY"


def get_model(spec: str | None, arch: str | None, device: str = "auto") -> Model:
    return random_model(arch, device) if arch else load_model(spec, device)


def sequence(length: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    return "".join(AMINO[k] for k in rng.integers(0, 20, length))


def heads_for(model: Model, top_k: int | None = None) -> tuple[list, str]:
    """The model's ranked top-K if one is shipped or cached; else K heads spread over the upper
    half of the layers, the last one included (the costliest placement for the readout)."""
    stored = cache.stored_path(model.fingerprint)
    if stored is not None:
        heads = ranking.read_ranking(stored).top(top_k)
        return heads, f"ranked top-{len(heads)}"
    k = top_k or 10
    layers = np.linspace(model.num_layers // 2, model.num_layers - 1, k).round().astype(int)
    heads = [(int(layer), n % model.num_heads) for n, layer in enumerate(layers)]
    return heads, f"synthetic {k} heads, layers {layers.min()}-{layers.max()}"


def has_fair_esm(model: Model) -> bool:
    """Whether fair-esm's own forward (the reference the fused forwards replace) can be timed."""
    return isinstance(model, FairEsmModel)


def bare(model: Model, tokens: torch.Tensor, low: torch.dtype | None = None):
    """The family's bare forward: every layer to the final hidden states, no LM head."""
    return model.forward(tokens, logits=False, representation=True, autocast=low)


def sync(model: Model) -> None:
    if model.device.type == "cuda":
        torch.cuda.synchronize(model.device)


# The clocks a run can time by (bench --clock): wall time, or this process's CPU time, which
# on a shared machine leaves out the time other processes held the cores; with one thread it
# is the work done (with more, it counts OpenMP's spinning threads too). The run passes its
# clock to every function that times (no module state: two runs never share a clock).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
Clock = Callable[[], float]
WALL = CLOCKS["wall"]
SPREADS: dict[str, float] = {}  # name -> (max - min) / median of the last interleaved run


def interleaved(
    fns: dict[str, Callable], repeats: int, model: Model, clock: Clock = WALL
) -> dict[str, float]:
    """Median seconds of each function, run round-robin after one warm-up each (the spread
    of each is left in SPREADS: how noisy the run was)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            sync(model)
            start = clock()
            fn()
            sync(model)
            times[name].append(clock() - start)
    medians = {name: statistics.median(v) for name, v in times.items()}
    SPREADS.update({n: (max(v) - min(v)) / max(medians[n], 1e-12) for n, v in times.items()})
    return medians


def old_readout(model: Model, seq: str, heads) -> np.ndarray:
    """The previous path: fair-esm's forward with hooks asking for head weights."""
    with torch.no_grad(), HeadCapture(model, heads) as capture:
        model.esm(model.tokens([seq]))
    return attention.process_heads(capture.stacked()[0], len(seq)).mean(0).cpu().numpy()


def mutant_tokens(model: Model, seq: str, batch: int) -> torch.Tensor:
    tokens = model.tokens([seq]).repeat(batch, 1)
    aa = model.token_ids(jacobian.AMINO_ACIDS)
    for n in range(batch):
        tokens[n, model.first_residue + n // 20] = aa[n % 20]
    return tokens


@contextmanager
def forward_timer(model: Model, clock: Clock = WALL):
    """Sum the time spent inside the model's forward while active (any family: the instance's
    `forward` is wrapped, and the class's is back when done)."""
    spent = {"seconds": 0.0, "calls": []}
    original = model.forward

    def timed(tokens, *args, **kwargs):
        sync(model)
        start = clock()
        out = original(tokens, *args, **kwargs)
        sync(model)
        took = clock() - start
        spent["seconds"] += took
        spent["calls"].append((tokens.shape[0], took))
        return out

    model.forward = timed
    try:
        yield spent
    finally:
        del model.forward


def _in_run_bound(spent: dict, batch: int, passes: int) -> float:
    """(20L+1)/B x the mean full-batch forward timed inside the run itself: on a shared
    machine the forwards and the run around them then see the same load."""
    full = [took for size, took in spent["calls"] if size == batch]
    return passes / batch * statistics.fmean(full) if full else math.nan


def jacobian_run(
    model: Model, seq: str, batch: int, positions: int | None, wild: float, clock: Clock = WALL
):
    """(seconds, estimated?, share of the time inside forward passes, in-run bound) for the
    logit CJ: whole (positions=None) or extrapolated from its first `positions` rows folded
    into a full-size store; `wild` is one batch-1 forward, the wild-type pass counted once."""
    length = len(seq)
    passes = 20 * length + 1
    representation = not model.has_lm_head  # no MLM head: repr-CJ, as `jacobian` runs it
    with forward_timer(model, clock) as spent:
        start = clock()
        if positions is None or positions >= length:
            jacobian.contact_map(
                model, _record(seq), representation, batch_size=batch, progress=False
            )
            total = clock() - start
            bound = _in_run_bound(spent, batch, passes)
            return total, False, spent["seconds"] / total, bound
        store = None if representation else SymmetricStore(length)
        for i, row in jacobian.row_stream(
            model, seq, 0, positions, representation, batch_size=batch, progress=False
        ):
            if store is not None:
                store.add(i, row)
        sample = clock() - start
    share = spent["seconds"] / sample
    begin = clock()
    if store is not None:
        store.seen[:] = True  # time the finishing step (the same work on a partly filled store)
        jacobian.finish_map(store.scores(), True)
    finish = clock() - begin
    total = wild + (sample - wild) * length / positions + finish
    return total, True, share, _in_run_bound(spent, batch, passes)


def _record(seq: str):
    from contactplug.files.sequences import Record

    return Record("bench", seq)


def readout_paths(model: Model, seq: str, heads, low: torch.dtype | None, suffix: str) -> dict:
    """The bare forward and the three readouts in one matmul precision (low: None = fp32)."""
    tokens = model.tokens([seq])
    paths = {
        "fast_bare": lambda: bare(model, tokens, low),
        "readout": lambda: attention.batch_maps(model, [seq], "attention", heads, low),
        "all_heads": lambda: attention.batch_maps(model, [seq], "all-heads", None, low),
    }
    if model.has_contact_head:
        paths["esm_head"] = lambda: attention.batch_maps(model, [seq], "esm-head", None, low)
    return {name + suffix: fn for name, fn in paths.items()}


def complex_record(length: int, chains: int, seed: int = 0):
    """A random complex of `chains` chains, `length` residues in all (as even as they go)."""
    from contactplug.files.sequences import complex_record as make

    sizes = [length // chains + (n < length % chains) for n in range(chains)]
    return make("bench", [sequence(size, seed + n) for n, size in enumerate(sizes)])


def complex_paths(
    model: Model, length: int, chains: int, heads, low, linker: str | None, suffix: str
) -> dict:
    """The bare forward of one chain of sum L against the readouts of a complex of `chains`
    chains summing to it, joined by `linker` (its bare forward beside: the linker's own cost;
    one chain's attention and all-heads readouts beside: what the per-block APC adds)."""
    seq = sequence(length, seed=length)
    record = complex_record(length, chains, seed=length)
    joined = joining.batch(model, [joining.check_fits(model, record, linker)])
    tokens = model.tokens([seq])
    paths = {
        "fast_bare": lambda: bare(model, tokens, low),
        "complex_bare": lambda: bare(model, joined, low),
        "readout": lambda: attention.batch_maps(model, [seq], "attention", heads, low),
        "all_heads": lambda: attention.batch_maps(model, [seq], "all-heads", None, low),
        "complex_readout": lambda: attention.batch_maps(
            model, [record], "attention", heads, low, linker
        ),
        "complex_all_heads": lambda: attention.batch_maps(
            model, [record], "all-heads", None, low, linker
        ),
    }
    if model.has_contact_head:
        paths["complex_esm_head"] = lambda: attention.batch_maps(
            model, [record], "esm-head", None, low, linker
        )
    return {name + suffix: fn for name, fn in paths.items()}


def measure_complex(
    model: Model,
    length: int,
    chains: int,
    heads,
    repeats: int,
    linker: str | None = None,
    clock: Clock = WALL,
) -> dict:
    """`bench --complex`: one interleaved run of `complex_paths` in each matmul precision."""
    paths: dict = {}
    precisions = {"": None}
    if hardware.has_bf16_matmul(model.device):
        precisions["_bf16"] = torch.bfloat16
    for suffix, low in precisions.items():
        paths.update(complex_paths(model, length, chains, heads, low, linker, suffix))
    with torch.no_grad():
        times = interleaved(paths, repeats, model, clock)
    return {"L": length, "chains": chains, "linker": linker or model.default_linker, **times}


def measure(
    model: Model,
    length: int,
    heads,
    batch: int | None,
    positions: int | None,
    repeats: int,
    cj: bool = True,
    clock: Clock = WALL,
) -> dict:
    """Timings of one length: the bare forward and the readouts; with `cj`, also batched
    forwards, the Jacobian and its bound; fair-esm's own forward where the family has it."""
    seq = sequence(length, seed=length)
    tokens = model.tokens([seq])
    paths = {}
    fair = has_fair_esm(model)
    if fair:
        paths = {
            "fair_bare": lambda: model.esm(tokens),
            "fair_heads": lambda: model.esm(tokens, need_head_weights=True),
            "old_readout": lambda: old_readout(model, seq, heads),
        }
    precisions = {"": None}
    if hardware.has_bf16_matmul(model.device):
        precisions["_bf16"] = torch.bfloat16
    for suffix, low in precisions.items():
        paths.update(readout_paths(model, seq, heads, low, suffix))
    with torch.no_grad():
        single = interleaved(paths, repeats, model, clock)
    flops = hardware.forward_flops(
        hardware.linear_params(model.module), model.num_layers, model.embed_dim, length + 2
    )
    out = {"L": length, "flops": flops, **single}
    if cj:
        out.update(jacobian_costs(model, seq, batch, positions, repeats, fair, clock))
    return out


def jacobian_costs(
    model: Model, seq: str, batch, positions, repeats: int, fair: bool, clock: Clock = WALL
) -> dict:
    """The Jacobian of one sequence against its bound: batch-B forwards of what it runs
    (logits, or final hidden states without an MLM head), then the run itself."""
    length = len(seq)
    tokens = model.tokens([seq])
    size = batch or batching.auto_batch_size(model, length)
    mutants = mutant_tokens(model, seq, size)
    representation = not model.has_lm_head
    paths = {
        "fast_batch": lambda: jacobian.residue_outputs(model, mutants, representation),
        "fast_one": lambda: jacobian.residue_outputs(model, tokens, representation),
    }
    fair_size = 1
    if fair:
        # fair-esm's rotary attention keeps ~3 float32 copies of B x H x T x T: cap its batch
        # so that stays inside the same memory share (its per-sequence time is what is compared)
        per_seq = 3 * 4 * model.num_heads * (length + 2) ** 2 + batching.forward_bytes(
            model, 1, length + 2
        )
        budget = batching.MEMORY_SHARE * batching.free_memory(model.device)
        fair_size = max(1, min(size, int(budget // per_seq)))
        fair_mutants = mutants[:fair_size]
        paths["fair_batch"] = lambda: model.esm(fair_mutants)["logits"]
    with torch.no_grad():
        batched = interleaved(paths, max(2, repeats // 2), model, clock)
    passes = 20 * length + 1
    bound = passes / size * batched["fast_batch"]
    wild = batched["fast_one"]
    cj, estimated, share, in_run = jacobian_run(model, seq, size, positions, wild, clock)
    out = {
        **batched,
        "batch": size,
        "passes": passes,
        "bound": bound,
        "jacobian": cj,
        "estimated": estimated,
        "forward_share": share,
        "in_run_bound": in_run,
    }
    if fair:
        out.update(fair_bound=passes / fair_size * batched["fair_batch"], fair_batch_size=fair_size)
    return out
