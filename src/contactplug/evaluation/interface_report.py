"""`compare`'s inter-chain section: for complex maps, each method's mean inter-chain precision
and interface-residue recall with bootstrap CIs, every figure beside its random baseline, and
one line per chain pair. Blocks in `report`'s form: ("h2", text), ("p", text), ("table", ...)."""

from __future__ import annotations

from contactplug.evaluation.bootstrap import bootstrap_ci, fmt_number
from contactplug.evaluation.interface import HOMO_NOTE, INTER_METRICS

# each figure and the baseline printed beside it
BESIDE = {m: "inter_base_rate" for m in INTER_METRICS}
BESIDE["interface_recall"] = "interface_recall_base"
LABELS = {
    "inter_P@5": "P@5",
    "inter_P@10": "P@10",
    "inter_P@Lmin/5": "P@L_min/5",
    "interface_recall": "interface recall (top L_min/5)",
}


def interface_section(
    inter: list[dict], names: list[str], settings: dict, n_boot: int, seed: int
) -> list:
    """The blocks, or none when no map was a complex (a single-chain report stays as it was)."""
    if not inter:
        return []
    atom, cutoff = settings["atom"], settings["cutoff"]
    n_homo = len({(r["id"], r["chain"]) for r in inter if r["identical_chains"] == "yes"})
    blocks: list = [("h2", "Inter-chain contacts (complexes)")]
    blocks.append(
        (
            "p",
            f"{len({(r['id'], r['chain']) for r in inter})} chain pairs of "
            f"{len({r['id'] for r in inter})} complexes. Each chain pair's block is ranked on its "
            f"own; a contact is {atom}-{atom} < {cutoff:g} Å across the pair. Beside each "
            "figure, random: what a random ranking gets, the fraction of the pair's "
            "resolved residue pairs in contact (for precision) and the recall of as many "
            "random pairs (for interface-residue recall: the residues with a contact across "
            "the pair that the top L_min/5 pairs touch). Means over chain pairs, "
            f"percentile bootstrap, {n_boot} resamples, seed {seed}.",
        )
    )
    if n_homo:
        blocks.append(("p", f"{n_homo} chain pair(s) marked * are {HOMO_NOTE}."))
    per = {n: [r for r in inter if r["series"] == n] for n in names}
    present = [n for n in names if per[n]]
    table = []
    for metric, base in BESIDE.items():
        cells = [LABELS[metric]]
        for n in present:
            mean, lo, hi, k = bootstrap_ci([r[metric] for r in per[n]], n_boot, seed)
            chance = bootstrap_ci([r[base] for r in per[n]], n_boot, seed)[0]
            cells.append(
                f"{fmt_number(mean)} [{fmt_number(lo)}, {fmt_number(hi)}], "
                f"random {fmt_number(chance)} (n={k})"
            )
        table.append(cells)
    blocks.append(("table", ["metric", *present], table))
    blocks.append(("table", _pair_header(), [_pair_cells(r) for r in inter]))
    return blocks


def _pair_header() -> list[str]:
    return ["id", "pair", "method", "L_min", "P@5", "P@10", "P@L_min/5", "random",
            "recall", "random", "across only: P@L_min/5", "random"]  # fmt: skip


def _pair_cells(r: dict) -> list[str]:
    star = " *" if r["identical_chains"] == "yes" else ""
    return (
        [r["id"], r["chain"].removeprefix("inter ") + star, r["series"], str(r["L"])]
        + [fmt_number(r[m]) for m in INTER_METRICS]
        + [fmt_number(r["inter_base_rate"]), fmt_number(r["interface_recall"])]
        + [fmt_number(r["interface_recall_base"])]
        + (
            [fmt_number(r["across_P@Lmin/5"]), fmt_number(r["across_base_rate"])]
            if star
            else ["", ""]
        )
    )
