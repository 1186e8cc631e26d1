"""The comparison report: attention (first folder) against the Categorical Jacobian (second)
and any further method folders, on proteins with known structures.

Writes comparison.csv (one row per protein and method), summary.md, a self-contained
summary.html and PNG figures. Same inputs give byte-identical CSV, md and PNGs.
"""

from __future__ import annotations

import base64
import html
import logging
import os
import platform
from collections import Counter
from importlib import metadata
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from contactplug.evaluation.bootstrap import bootstrap_ci, fmt_number
from contactplug.evaluation.interface import is_inter_row
from contactplug.evaluation.interface_report import interface_section
from contactplug.evaluation.metrics import (
    COLUMNS,
    INFO_COLUMNS,
    METRICS,
    evaluate_maps,
    write_csv,
)
from contactplug.evaluation.plot import draw_map, save_figure
from contactplug.files.atomic import safe_name
from contactplug.files.atomic import write_text as write_text_atomic
from contactplug.files.contactmap import ContactMap, load_dir
from contactplug.files.errors import ContactplugError
from contactplug.inputs.structure import (
    align,
    contacts_from_coords,
    query_coords,
    read_chain,
)

log = logging.getLogger("contactplug")

TEST_METRIC = "long_P@L/2"
CSV_COLUMNS = (
    INFO_COLUMNS[:6] + METRICS + [c for c in COLUMNS if c not in INFO_COLUMNS[:6] + METRICS]
)
VERSIONED = ["torch", "fair-esm", "numpy", "scipy", "gemmi", "matplotlib", "contactplug"]
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]


def paired_test(a: list[float], b: list[float]) -> dict:
    """Wilcoxon signed-rank of b - a; explains itself when it cannot be run."""
    d = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    out = {"n": len(d), "nonzero": int((d != 0).sum()), "statistic": None, "p": None}
    out.update(
        b_better=int((d > 0).sum()),
        a_better=int((d < 0).sum()),
        median_diff=float(np.median(d)) if len(d) else None,
    )
    if len(d) == 0:
        out["note"] = "no protein has both methods; test not run"
    elif out["nonzero"] == 0:
        out["note"] = f"all {len(d)} paired differences are zero; the test is not defined"
    else:
        res = stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
        out.update(statistic=float(res.statistic), p=float(res.pvalue))
        out["note"] = f"{out['nonzero']} non-zero differences of {len(d)}"
        if out["nonzero"] < 6:
            out["note"] += "; too few for a two-sided p below 0.05"
    return out


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _load(dirs: list[Path]) -> tuple[list[ContactMap], list[tuple[str, str]]]:
    """All maps, first copy of each (id, method, model) kept; and each folder's main method."""
    maps: list[ContactMap] = []
    seen: set[tuple[str, str, str]] = set()
    main: list[tuple[str, str]] = []
    for folder in dirs:
        found = load_dir(folder)
        main.append(Counter((m.method, m.model) for m in found).most_common(1)[0][0])
        for m in found:
            key = (m.id, m.method, m.model)
            if key in seen:
                log.warning("%s: second map of %s (%s) ignored", folder, m.id, m.method)
                continue
            seen.add(key)
            maps.append(m)
    return maps, main


def _labels(rows: list[dict]) -> dict[tuple[str, str], str]:
    """Series name per (method, model): the method, plus the model when a method has several."""
    models: dict[str, set[str]] = {}
    for r in rows:
        models.setdefault(r["method"], set()).add(r["model"])
    return {
        (r["method"], r["model"]): r["method"]
        if len(models[r["method"]]) == 1
        else f"{r['method']} [{Path(r['model']).name}]"
        for r in rows
    }


def _scatter(a_name: str, others: list[str], by: dict, ids: list[str], path: Path) -> None:
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="equal")
    for k, name in enumerate(others):
        both = [i for i in ids if (i, a_name) in by and (i, name) in by]
        x = [by[(i, a_name)][TEST_METRIC] for i in both]
        y = [by[(i, name)][TEST_METRIC] for i in both]
        ax.scatter(
            x, y, s=18, color=COLOURS[(k + 1) % len(COLOURS)], label=f"{name} (n={len(both)})"
        )
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel(f"{a_name}: long-range P@L/2")
    ax.set_ylabel("other method: long-range P@L/2")
    ax.legend(loc="lower right", fontsize=7)
    ax.set_title("per-protein precision", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def _vs_length(names: list[str], rows: list[dict], path: Path) -> None:
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot(1, 1, 1)
    for k, name in enumerate(names):
        pts = sorted((r["L"], r[TEST_METRIC]) for r in rows if r["series"] == name)
        ax.plot(
            [p[0] for p in pts],
            [p[1] for p in pts],
            "o",
            ms=4,
            color=COLOURS[k % len(COLOURS)],
            label=name,
        )
    ax.set_xlabel("sequence length L")
    ax.set_ylabel("long-range P@L/2")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def _truth(cmap: ContactMap, row: dict, structures: Path, cutoff: float, atom: str):
    path = structures / row["structure"] if structures.is_dir() else structures
    found = read_chain(path, row["chain"])
    mapping = align(cmap.sequence, found.sequence)
    return contacts_from_coords(query_coords(found, mapping, atom), cutoff)


def _panels(items: list, title: str, path: Path) -> None:
    """One panel per (name, map, contacts, valid): top-L pairs over the true contacts."""
    fig = Figure(figsize=(3.6 * len(items), 3.8))
    for k, (name, cmap, contacts, valid) in enumerate(items):
        ax = fig.add_subplot(1, len(items), k + 1)
        draw_map(ax, cmap, contacts, valid, None, f"{title}: {name}")
    fig.tight_layout()
    save_figure(fig, path)


def _spread(ids_by_length: list[str], n: int) -> list[str]:
    """n ids spread evenly over the length range (deterministic)."""
    if not ids_by_length or n <= 0:
        return []
    picks = np.linspace(0, len(ids_by_length) - 1, min(n, len(ids_by_length))).round()
    return [ids_by_length[k] for k in np.unique(picks.astype(int))]


def compare(
    attn_maps_dir: str | os.PathLike,
    cj_maps_dir: str | os.PathLike,
    structures_dir: str | os.PathLike,
    outdir: str | os.PathLike,
    extra_dirs: list[str | os.PathLike] = (),
    cutoff: float = 8.0,
    atom: str = "CB",
    n_boot: int = 2000,
    seed: int = 0,
    n_panels: int = 4,
) -> dict:
    """The report. The first folder is the attention side, the second the Jacobian side."""
    dirs = [Path(attn_maps_dir), Path(cj_maps_dir), *map(Path, extra_dirs)]
    structures_dir, outdir = Path(structures_dir), Path(outdir)
    maps, main = _load(dirs)
    rows, skipped = evaluate_maps(maps, structures_dir, cutoff=cutoff, atom=atom)
    inter = [r for r in rows if is_inter_row(r)]  # complexes' chain pairs: their own section
    rows = [r for r in rows if not is_inter_row(r)]
    label = _labels(rows)
    for folder, key in zip(dirs[:2], main[:2], strict=True):
        if key not in label:
            raise ContactplugError(f"{folder}: none of its {key[0]} maps could be scored")
    a_name, b_name = label[main[0]], label[main[1]]
    names = list(dict.fromkeys([label[k] for k in main if k in label] + sorted(label.values())))
    for r in rows + inter:
        r["series"] = label[(r["method"], r["model"])]  # not a CSV column
    rows.sort(key=lambda r: (_unit(r), names.index(r["series"])))
    by = {(_unit(r), r["series"]): r for r in rows}
    ids = sorted({_unit(r) for r in rows})
    outdir.mkdir(parents=True, exist_ok=True)
    write_csv(rows, outdir / "comparison.csv", CSV_COLUMNS)
    if inter:
        write_csv(inter, outdir / "interchain.csv")

    both = [i for i in ids if (i, a_name) in by and (i, b_name) in by]
    pairs = [(by[(i, a_name)][TEST_METRIC], by[(i, b_name)][TEST_METRIC]) for i in both]
    pairs = [(x, y) for x, y in pairs if not (np.isnan(x) or np.isnan(y))]
    test = paired_test([x for x, _ in pairs], [y for _, y in pairs])
    ratios = {}
    per_map = {(r["id"], r["series"]): r for r in rows}  # a complex's cost once, not per chain
    maps_both = sorted({i for i, s in per_map if s == a_name and (i, b_name) in per_map})
    for key in ("seconds", "n_forward"):
        a_cost = [per_map[(i, a_name)][key] for i in maps_both]
        r = [per_map[(i, b_name)][key] / a for i, a in zip(maps_both, a_cost, strict=True) if a > 0]
        ratios[key] = (float(np.median(r)) if r else None, len(r))

    figures = ["scatter_long_PL2.png", "precision_vs_length.png"]
    _scatter(a_name, [n for n in names if n != a_name], by, ids, outdir / figures[0])
    _vs_length(names, rows, outdir / figures[1])
    cmap_by = {(m.id, label[(m.method, m.model)]): m for m in maps if (m.method, m.model) in label}
    singles = [i for i in both if "complex" not in by[(i, a_name)]]
    for pid in _spread(
        [i for _, i in sorted((by[(i, a_name)]["L"], i) for i in singles)], n_panels
    ):
        items = []
        for name in (n for n in names if (pid, n) in by):
            cmap = cmap_by[(pid, name)]
            items.append((name, cmap, *_truth(cmap, by[(pid, name)], structures_dir, cutoff, atom)))
        figures.append(f"maps_{safe_name(pid)}.png")
        _panels(items, pid, outdir / figures[-1])

    settings = dict(dirs=dirs, structures=structures_dir, cutoff=cutoff, atom=atom, n_boot=n_boot)
    extra = interface_section(inter, names, settings, n_boot, seed)
    blocks = _report(names, a_name, b_name, rows, test, ratios, skipped, figures, seed, settings)
    at = next(
        k for k, b in enumerate(blocks) if b[0] == "h2" and b[1] in ("Skipped maps", "Figures")
    )
    blocks[at:at] = extra
    write_text_atomic(outdir / "summary.md", render_md(blocks))
    write_text_atomic(outdir / "summary.html", render_html(blocks, outdir))
    return {"rows": rows, "skipped": skipped, "test": test, "ratios": ratios, "figures": figures,
            "inter": inter}  # fmt: skip


def _unit(row: dict) -> str:
    """What a row is about: a protein's id, or a complex's id and one of its chains."""
    return f"{row['id']} {row['chain']}" if "complex" in row else row["id"]


def _report(names, a_name, b_name, rows, test, ratios, skipped, figures, seed, settings) -> list:
    """The report as blocks: ("h", text), ("p", text), ("table", header, rows), ("img", file)."""
    structures_dir, dirs, atom = settings["structures"], settings["dirs"], settings["atom"]
    cutoff, n_boot = settings["cutoff"], settings["n_boot"]
    n_prot = len({r["id"] for r in rows})
    n_maps = len({(r["id"], r["series"]) for r in rows})  # a complex's chains are one map
    blocks: list = [("h", "contactplug comparison")]
    blocks.append(
        (
            "p",
            f"{n_prot} proteins, {n_maps} maps scored against structures in "
            f"`{structures_dir.name}` (contact: {atom}-{atom} < {cutoff:g} Å; top-n pairs "
            f"among resolved pairs, n = L, L/2, L/5). Method folders: "
            + ", ".join(f"`{d.name}`" for d in dirs)
            + ".",
        )
    )
    blocks.append(("h2", "Mean precision (95% bootstrap CI)"))
    blocks.append(("p", f"Percentile bootstrap over proteins, {n_boot} resamples, seed {seed}."))
    per = {n: [r for r in rows if r["series"] == n] for n in names}
    table = []
    for metric in METRICS:
        cells = [metric]
        for n in names:
            mean, lo, hi, k = bootstrap_ci([r[metric] for r in per[n]], n_boot, seed)
            cells.append(f"{fmt_number(mean)} [{fmt_number(lo)}, {fmt_number(hi)}] (n={k})")
        table.append(cells)
    blocks.append(("table", ["metric", *names], table))
    blocks.append(("h2", "Cost"))
    cost = [
        [
            n,
            str(len(per[n])),
            fmt_number(float(np.median([r["seconds"] for r in per[n]]))),
            fmt_number(float(np.median([r["n_forward"] for r in per[n]])), 0),
        ]
        for n in names
    ]
    blocks.append(("table", ["method", "maps", "median seconds", "median forward passes"], cost))
    sec, n_sec = ratios["seconds"]
    fwd, n_fwd = ratios["n_forward"]
    blocks.append(
        (
            "p",
            f"Median speed ratio ({b_name} seconds / {a_name} seconds): {fmt_number(sec, 1)} "
            f"over {n_sec} proteins. Median forward-pass ratio ({b_name} / {a_name}): "
            f"{fmt_number(fwd, 1)} over {n_fwd} proteins.",
        )
    )
    blocks.append(("h2", f"Paired test: {a_name} vs {b_name} on {TEST_METRIC}"))
    if a_name == b_name:
        blocks.append(
            ("p", "The first two folders hold the same method; the test compares it with itself.")
        )
    p_text = (
        "not run"
        if test["p"] is None
        else f"W = {fmt_number(test['statistic'], 1)}, p = {test['p']:.3g}"
    )
    blocks.append(
        (
            "p",
            f"Wilcoxon signed-rank (two-sided), n = {test['n']} proteins: {p_text} "
            f"({test['note']}). Median difference ({b_name} - {a_name}): "
            f"{fmt_number(test['median_diff'])}; {b_name} better on {test['b_better']}, "
            f"{a_name} better on {test['a_better']}.",
        )
    )
    if skipped:
        blocks.append(("h2", "Skipped maps"))
        blocks.append(
            (
                "table",
                ["id", "method", "reason"],
                [[s["id"], s["method"], s["reason"]] for s in skipped],
            )
        )
    blocks.append(("h2", "Figures"))
    blocks.extend(("img", f) for f in figures)
    blocks.append(("h2", "Software"))
    blocks.append(("table", ["package", "version"], [[k, v] for k, v in versions().items()]))
    return blocks


def render_md(blocks: list) -> str:
    out = []
    for b in blocks:
        if b[0] == "h":
            out.append(f"# {b[1]}\n")
        elif b[0] == "h2":
            out.append(f"## {b[1]}\n")
        elif b[0] == "p":
            out.append(f"{b[1]}\n")
        elif b[0] == "table":
            lines = ["| " + " | ".join(b[1]) + " |", "|" + "---|" * len(b[1])]
            lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in b[2]]
            out.append("\n".join(lines) + "\n")
        elif b[0] == "img":
            out.append(f"![{b[1]}]({b[1]})\n")
    return "\n".join(out)


def render_html(blocks: list, folder: Path) -> str:
    """Self-contained: figures are embedded as base64 data URIs."""
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>contactplug comparison</title>',
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
        "font-size:13px}img{max-width:100%}</style></head><body>",
    ]
    for b in blocks:
        if b[0] in ("h", "h2"):
            tag = "h1" if b[0] == "h" else "h2"
            out.append(f"<{tag}>{e(b[1])}</{tag}>")
        elif b[0] == "p":
            out.append(f"<p>{e(b[1]).replace('`', '')}</p>")
        elif b[0] == "table":
            head = "".join(f"<th>{e(c)}</th>" for c in b[1])
            body = "".join(
                "<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in b[2]
            )
            out.append(f"<table><tr>{head}</tr>{body}</table>")
        elif b[0] == "img":
            data = base64.b64encode((folder / b[1]).read_bytes()).decode("ascii")
            out.append(f'<p><img alt="{e(b[1])}" src="data:image/png;base64,{data}"></p>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"
