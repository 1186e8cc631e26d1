"""MultiQC custom content from `compare`'s result: the files MultiQC turns into sections of its
report (nf-core pipelines end with one), written beside summary.html.

  contactplug_precision_mqc.tsv              mean precision per method, 95% bootstrap CI
  contactplug_attention_vs_jacobian_mqc.json long-range P@L/2 per protein, attention against
                                             the Jacobian side (a scatter), with the paired test
  contactplug_cost_mqc.tsv                   maps, median seconds and forward passes per method
  contactplug_interchain_mqc.tsv             complexes only: each chain pair's inter-chain
                                             precision and recall, each beside its baseline

The figures are the report's own (the same rows, bootstrap and seed), so MultiQC and
summary.html never disagree. Formats: MultiQC's custom content, TSV with a YAML header in '#'
lines, and JSON with the same keys.
"""

from __future__ import annotations

import json
import math
import os
from functools import cmp_to_key
from pathlib import Path

import numpy as np
import yaml

from contactplug.evaluation.bootstrap import bootstrap_ci
from contactplug.evaluation.interface import INTER_METRICS
from contactplug.evaluation.metrics import METRICS
from contactplug.files.atomic import write_text

TEST_METRIC = "long_P@L/2"  # the report's paired test and scatter: long-range P@L/2
PREFIX = "contactplug"


def _cell(value) -> str:
    """A TSV cell: numbers to 4 decimals, NaN left empty (MultiQC shows it as missing)."""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4f}"
    return str(value).replace("\t", " ")


def _header(section: str, name: str, description: str) -> list[str]:
    config = {
        "id": f"{PREFIX}_{section}",
        "section_name": name,
        "description": description,
        "plot_type": "table",
        "pconfig": {"id": f"{PREFIX}_{section}_table", "title": f"contactplug: {name}"},
    }
    text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=1000)
    return ["# " + line for line in text.splitlines()]


def _tsv(path: Path, header: list[str], columns: list[str], rows: list[list]) -> Path:
    lines = header + ["\t".join(columns)] + ["\t".join(_cell(c) for c in row) for row in rows]
    return write_text(path, "\n".join(lines) + "\n")


def _unit(row: dict) -> str:
    """What a row is about, as compare counts it: a protein, or one chain of a complex."""
    return f"{row['id']} {row['chain']}" if "complex" in row else row["id"]


def series_order(rows: list[dict]) -> list[str]:
    """The methods in the report's order (the attention side first, the Jacobian side second):
    compare lists each protein's rows in that order, so a method that comes before another
    for some protein comes before it; methods never side by side keep name order."""
    before: set[tuple[str, str]] = set()
    by_unit: dict[str, list[str]] = {}
    for r in rows:
        by_unit.setdefault(_unit(r), []).append(r["series"])
    for names in by_unit.values():
        before |= {(a, b) for k, a in enumerate(names) for b in names[k + 1 :]}

    def order(a: str, b: str) -> int:
        if (a, b) in before:
            return -1
        if (b, a) in before:
            return 1
        return (a > b) - (a < b)

    return sorted({r["series"] for r in rows}, key=cmp_to_key(order))


def precision_table(rows: list[dict], names: list[str], out: Path, n_boot: int, seed: int) -> Path:
    columns = ["method", "proteins", *METRICS, f"{TEST_METRIC} CI low", f"{TEST_METRIC} CI high"]
    table = []
    for name in names:
        mine = [r for r in rows if r["series"] == name]
        means = [bootstrap_ci([r[m] for r in mine], n_boot, seed)[0] for m in METRICS]
        _, low, high, _ = bootstrap_ci([r[TEST_METRIC] for r in mine], n_boot, seed)
        table.append([name, len(mine), *means, low, high])
    description = (
        "Mean top-n precision over the proteins with a structure (n = L, L/2, L/5; short, "
        f"medium and long range), and the 95% percentile bootstrap interval of {TEST_METRIC} "
        f"({n_boot} resamples, seed {seed}), as in report/summary.html."
    )
    head = _header("precision", "Precision per method", description)
    return _tsv(out / f"{PREFIX}_precision_mqc.tsv", head, columns, table)


def versus_plot(rows: list[dict], names: list[str], test: dict, out: Path) -> Path:
    a_name, b_name = names[0], names[1] if len(names) > 1 else names[0]
    by = {(_unit(r), r["series"]): r[TEST_METRIC] for r in rows}
    data = {}
    for unit in sorted({u for u, _ in by}):
        x, y = by.get((unit, a_name)), by.get((unit, b_name))
        if x is not None and y is not None and not (np.isnan(x) or np.isnan(y)):
            data[unit] = {"x": x, "y": y}
    p_text = "not run" if test["p"] is None else f"p = {test['p']:.3g}"
    doc = {
        "id": f"{PREFIX}_attention_vs_jacobian",
        "section_name": f"{a_name} vs {b_name}",
        "description": (
            f"Long-range P@L/2 per protein, {a_name} (x) against {b_name} (y); above the "
            f"diagonal {b_name} is better. Wilcoxon signed-rank over n = {test['n']} "
            f"proteins: {p_text} ({test['note']})."
        ),
        "plot_type": "scatter",
        "pconfig": {
            "id": f"{PREFIX}_attention_vs_jacobian_plot",
            "title": f"contactplug: {a_name} vs {b_name}, long-range P@L/2",
            "xlab": f"{a_name}: long-range P@L/2",
            "ylab": f"{b_name}: long-range P@L/2",
            "xmin": 0,
            "xmax": 1,
            "ymin": 0,
            "ymax": 1,
        },
        "data": data,
    }
    path = out / f"{PREFIX}_attention_vs_jacobian_mqc.json"
    return write_text(path, json.dumps(doc, indent=1) + "\n")


def cost_table(rows: list[dict], names: list[str], ratios: dict, out: Path) -> Path:
    table = []
    for name in names:
        per_map = {r["id"]: r for r in rows if r["series"] == name}  # a complex's cost once
        seconds = [r["seconds"] for r in per_map.values()]
        forwards = [r["n_forward"] for r in per_map.values()]
        table.append([name, len(per_map), float(np.median(seconds)), float(np.median(forwards))])
    (sec, n_sec), (fwd, n_fwd) = ratios["seconds"], ratios["n_forward"]
    side = f"{names[1]} / {names[0]}" if len(names) > 1 else names[0]
    description = (
        f"Median cost per map. Median ratios ({side}): seconds "
        f"{'n/a' if sec is None else f'{sec:.1f}'} over {n_sec} proteins, forward passes "
        f"{'n/a' if fwd is None else f'{fwd:.1f}'} over {n_fwd}."
    )
    columns = ["method", "maps", "median seconds", "median forward passes"]
    return _tsv(
        out / f"{PREFIX}_cost_mqc.tsv", _header("cost", "Cost", description), columns, table
    )


def interchain_table(inter: list[dict], out: Path) -> Path:
    columns = ["chain pair", *INTER_METRICS, "random (pair fraction in contact)",
               "interface_recall", "random recall", "identical chains"]  # fmt: skip
    table = [
        [f"{r['id']} {r['chain'].removeprefix('inter ')} {r['series']}"]
        + [r[m] for m in INTER_METRICS]
        + [r["inter_base_rate"], r["interface_recall"], r["interface_recall_base"]]
        + [r["identical_chains"]]
        for r in inter
    ]
    description = (
        "Complexes: each chain pair's inter-chain pairs ranked on their own; precision of the "
        "top 5, 10 and L_min/5, and interface-residue recall, each beside its random baseline "
        "(the fraction of the pair's residue pairs in contact; the recall of as many random "
        "pairs). Identical chains: a pair counts within either copy or across them."
    )
    head = _header("interchain", "Inter-chain contacts", description)
    return _tsv(out / f"{PREFIX}_interchain_mqc.tsv", head, columns, table)


def write_multiqc(
    result: dict, outdir: str | os.PathLike, n_boot: int = 2000, seed: int = 0
) -> list[Path]:
    """The custom-content files for `compare`'s result (its rows, test, ratios, inter)."""
    out = Path(outdir)
    rows, inter = result["rows"], result.get("inter") or []
    names = series_order(rows)
    written = [
        precision_table(rows, names, out, n_boot, seed),
        versus_plot(rows, names, result["test"], out),
        cost_table(rows, names, result["ratios"], out),
    ]
    if inter:
        written.append(interchain_table(inter, out))
    return written
