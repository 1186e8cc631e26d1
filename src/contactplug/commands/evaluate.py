"""CLI subcommands `evaluate`, `compare` and `plot`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from contactplug.files.contactmap import load, load_dir
from contactplug.files.errors import ContactplugError

log = logging.getLogger("contactplug")


def _cutoff(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 100:
        raise argparse.ArgumentTypeError(f"cutoff must be between 0 and 100 angstrom: {text}")
    return value


def _structure_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--chain",
        help="structure chain (default: the map's chain, else the first); for a complex map, "
        "the structure's chains in map order, e.g. A,C (default: the map's chain names)",
    )
    p.add_argument("--cutoff", type=_cutoff, default=8.0, help="contact distance in Å (8)")
    p.add_argument("--atom", choices=["CB", "CA"], default="CB", help="atom for distances (CB)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="precision at L, L/2, L/5 of predicted maps against structures",
        description="Score contact maps (npz) against structures: top-L, L/2, L/5 precision "
        "for short (6-11), medium (12-23) and long (>= 24) range pairs.",
    )
    p.add_argument("maps", metavar="PRED_DIR|NPZ", help="a map (.npz) or a folder of maps")
    p.add_argument(
        "--structure",
        required=True,
        metavar="FILE|DIR",
        help="one structure for every map, or a folder matched by map id "
        "(1AQT_A -> 1AQT_A.pdb, or 1AQT.pdb chain A; .pdb .ent .cif .mmcif, optionally .gz)",
    )
    _structure_options(p)
    p.add_argument(
        "--interface-candidates",
        action="store_true",
        help="a single chain's map against a homo-oligomer: list its top-L pairs far apart "
        "within every copy but in contact across copies (in the JSON rows and printed)",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="OUT.json or OUT.csv, or a stem for both",
    )
    p.set_defaults(func=run_evaluate)

    p = sub.add_parser(
        "compare",
        help="attention-versus-Jacobian report: CSV, summary.md/html, figures",
        description="Compare maps of several methods on proteins with known structures. "
        "The first folder is the attention side, the second the Jacobian side of the "
        "paired test and the speed ratios; further folders add rows and series.",
    )
    p.add_argument("attention", metavar="ATTN_DIR", help="folder of attention maps")
    p.add_argument("jacobian", metavar="CJ_DIR", help="folder of Categorical Jacobian maps")
    p.add_argument("more", metavar="MORE_DIRS", nargs="*", help="further method folders")
    p.add_argument("--structures", required=True, metavar="DIR", help="folder of structures")
    p.add_argument("--cutoff", type=_cutoff, default=8.0, help="contact distance in Å (8)")
    p.add_argument("--atom", choices=["CB", "CA"], default="CB", help="atom for distances (CB)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (2000)")
    p.add_argument("--panels", type=int, default=4, help="proteins drawn as map panels (4)")
    p.add_argument("-o", "--outdir", required=True, metavar="OUTDIR", help="report folder")
    p.set_defaults(func=run_compare)

    p = sub.add_parser(
        "plot",
        help="contact-map picture (with a structure: top-L pairs marked correct/incorrect)",
        description="A contact map as PNG, SVG or PDF (by the suffix of -o). Axes are in the "
        "structure's author numbering when the map was made from a structure.",
    )
    p.add_argument("map", metavar="NPZ", help="a contact map (.npz)")
    p.add_argument("--structure", metavar="FILE", help="structure to mark true contacts")
    p.add_argument("--chain", help="structure chain (default: the map's chain, else the first)")
    p.add_argument("--cutoff", type=_cutoff, default=8.0, help="contact distance in Å (8)")
    p.add_argument("--top", type=int, help="predicted pairs to mark (default: L)")
    p.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="MAP.png, MAP.svg or MAP.pdf"
    )
    p.set_defaults(func=run_plot)


def _outputs(out: str) -> tuple[Path | None, Path | None]:
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return path, None
    if suffix == ".csv":
        return None, path
    if path.is_dir():
        raise ContactplugError(f"{out}: is a folder; give OUT.json, OUT.csv or a file stem")
    return Path(f"{out}.json"), Path(f"{out}.csv")


def _table(rows: list[dict]) -> str:
    """Per chain as ever (a complex's chains named after its id), then any inter-chain rows."""
    from contactplug.evaluation.interface import inter_table, is_inter_row

    inter = [r for r in rows if is_inter_row(r)]
    rows = [r for r in rows if not is_inter_row(r)]
    names = [f"{r['id']} {r['chain']}" if "complex" in r else r["id"] for r in rows]
    cols = ["long_P@L", "long_P@L/2", "long_P@L/5", "medium_P@L/2", "short_P@L/2"]
    width = max([len("id")] + [len(n) for n in names])
    mwidth = max([len("method")] + [len(r["method"]) for r in rows])
    lines = [f"{'id':<{width}}  {'method':<{mwidth}}  {'L':>5}  " + "  ".join(cols)]
    for name, r in zip(names, rows, strict=True):
        cells = "  ".join(f"{r[c]:>{len(c)}.3f}" for c in cols)
        lines.append(f"{name:<{width}}  {r['method']:<{mwidth}}  {r['L']:>5}  {cells}")
    return "\n".join(lines + (["", inter_table(inter)] if inter else []))


def run_evaluate(args: argparse.Namespace) -> int:
    from contactplug.evaluation.metrics import evaluate_maps, write_csv, write_json

    json_path, csv_path = _outputs(args.output)
    maps = load_dir(args.maps)
    rows, skipped = evaluate_maps(
        maps, args.structure, args.chain, args.cutoff, args.atom, args.interface_candidates
    )
    settings = {"cutoff": args.cutoff, "atom": args.atom}
    if json_path:
        write_json(rows, json_path, skipped, **settings)
    if csv_path:
        write_csv(rows, csv_path)
    print(_table(rows))
    _print_candidates(rows)
    if skipped:
        print(f"{len(skipped)} map(s) skipped: " + ", ".join(s["id"] for s in skipped))
    written = [str(p) for p in (json_path, csv_path) if p]
    log.info("wrote %s", " and ".join(written))
    return 0


def _print_candidates(rows: list[dict]) -> None:
    from contactplug.evaluation.interface import candidates_text

    for row in rows:
        if "interface_candidates" in row:
            print(candidates_text(row["interface_candidates"]))


def score_and_draw(items: list[tuple], out: Path, cutoff: float = 8.0) -> list[dict]:
    """`predict --evaluate`: each (map, structure, chain, picture name) scored
    (OUT/metrics.json and .csv, the table printed) and drawn (OUT/<picture name>), as
    `evaluate` and `plot` would."""
    from contactplug.evaluation.metrics import evaluate_rows, write_csv, write_json
    from contactplug.evaluation.plot import plot_map

    rows = [r for cmap, path, chain, _ in items for r in evaluate_rows(cmap, path, chain, cutoff)]
    json_path = write_json(rows, out / "metrics.json", cutoff=cutoff, atom="CB")
    csv_path = write_csv(rows, out / "metrics.csv")
    pictures = [plot_map(cmap, out / png, path, chain) for cmap, path, chain, png in items]
    print(_table(rows))
    log.info("wrote %s, %s and %s", json_path, csv_path, ", ".join(map(str, pictures)))
    return rows


def run_compare(args: argparse.Namespace) -> int:
    from contactplug.evaluation.report import compare

    if args.n_boot < 100:
        raise ContactplugError(f"--n-boot must be at least 100, not {args.n_boot}")
    result = compare(
        args.attention,
        args.jacobian,
        args.structures,
        args.outdir,
        extra_dirs=args.more,
        cutoff=args.cutoff,
        atom=args.atom,
        n_boot=args.n_boot,
        seed=args.seed,
        n_panels=args.panels,
    )
    from contactplug.evaluation.multiqc import write_multiqc  # the pipeline's MULTIQC reads these

    write_multiqc(result, args.outdir, n_boot=args.n_boot, seed=args.seed)
    test = result["test"]
    p_text = "not run" if test["p"] is None else f"p = {test['p']:.3g}"
    n_maps = len({(r["id"], r["series"]) for r in result["rows"]})  # a complex's chains: one
    print(
        f"{n_maps} maps scored, {len(result['skipped'])} skipped; "
        f"Wilcoxon on long P@L/2: n = {test['n']}, {p_text} ({test['note']})"
    )
    if result["inter"]:
        print(f"{len(result['inter'])} inter-chain rows (with random baselines): interchain.csv")
    log.info("wrote %s/summary.md, summary.html, comparison.csv, *_mqc.*", args.outdir)
    return 0


def run_plot(args: argparse.Namespace) -> int:
    from contactplug.evaluation.plot import plot_map

    cmap = load(args.map)
    plot_map(cmap, args.output, args.structure, args.chain, args.top, args.cutoff)
    log.info("wrote %s", args.output)
    return 0
