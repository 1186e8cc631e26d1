"""`bench --memory`: the peak resident set of each path, each in a fresh interpreter.

The number is VmHWM of /proc/self/status after resetting it (clear_refs 5) once the model is
built, so it is the path's own peak resident set, weights included; `+MB` is above the idle
model. Where the kernel refuses the reset, the peak includes building the model, and the
child says so.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Sequence

import numpy as np
import torch

from contactplug import hardware, timing
from contactplug.jacobian import categorical as jacobian
from contactplug.jacobian.block_store import SymmetricStore
from contactplug.models import batching
from contactplug.models.base import Model
from contactplug.readout import attention


def memory_paths(model: Model, asked: Sequence[str]) -> list[str]:
    """The asked-for memory paths (`bench --paths`) that apply to the model: fair-esm's own
    forward for its families only, the esm-head where the checkpoint has the regression."""
    paths = list(asked)
    if not timing.has_fair_esm(model):
        paths = [p for p in paths if not p.startswith("fair_")]
    if not model.has_contact_head:
        paths = [p for p in paths if p != "esm_head"]
    return paths


def peak_rss(
    spec,
    arch,
    device,
    path: str,
    length: int,
    heads,
    positions: int = 2,
    chains: int = 0,
    linker: str | None = None,
) -> dict:
    """Run one path in a fresh interpreter; its peak resident set (MB) and the idle model's.
    chains (`bench --complex`): the complex_* paths read a complex of that many chains
    summing to `length`, joined by `linker`."""
    args = {
        "chains": chains,
        "linker": linker,
        "spec": spec,
        "arch": arch,
        "device": device,
        "path": path,
        "length": length,
        "heads": heads,
        "positions": positions,
    }
    cmd = [sys.executable, "-m", "contactplug.memory_peaks", json.dumps(args)]
    env = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _child(args: dict) -> None:
    """One path, measured by VmHWM after the model is built (subprocess side of peak_rss)."""
    model = timing.get_model(args["spec"], args["arch"], args["device"])
    seq = timing.sequence(args["length"], seed=args["length"])
    heads = [tuple(h) for h in args["heads"]]
    tokens = model.tokens([seq])
    size = batching.auto_batch_size(model, len(seq))
    paths = {
        "fair_bare": lambda: model.esm(tokens),
        "fair_heads": lambda: model.esm(tokens, need_head_weights=True),
        "fast_bare": lambda: timing.bare(model, tokens),
        "readout": lambda: attention.batch_maps(model, [seq], "attention", heads),
        "all_heads": lambda: attention.batch_maps(model, [seq], "all-heads"),
        "esm_head": lambda: attention.batch_maps(model, [seq], "esm-head"),
        "jacobian": lambda: timing.jacobian_run(model, seq, size, args["positions"], 0.0),
        "jacobian_fold": lambda: _fold_synthetic(len(seq)),
    }
    if args.get("chains"):
        # bench --complex: the paths of `timing.complex_paths` (fp32), nothing else built
        paths.update(timing.complex_paths(model, len(seq), args["chains"], heads, None,
                                          args.get("linker"), ""))  # fmt: skip
    gc.collect()
    idle = hardware.process_status("VmRSS")
    how = "VmHWM after clear_refs" if hardware.reset_peak_rss() else "VmHWM (not reset)"
    with torch.no_grad():
        paths[args["path"]]()
    peak = hardware.process_status("VmHWM")
    print(json.dumps({"peak_mb": peak / 2**20, "idle_mb": idle / 2**20, "how": how}))


def _fold_synthetic(length: int) -> None:
    """Fold L random rows into the compact store and finish the map: the Jacobian's memory
    beyond its forwards, without 20L+1 forwards."""
    rng = np.random.default_rng(0)
    row = rng.standard_normal((20, length, 20)).astype(np.float32)
    store = SymmetricStore(length)
    for i in range(length):
        store.add(i, row)
    jacobian.finish_map(store.scores(), True)


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
