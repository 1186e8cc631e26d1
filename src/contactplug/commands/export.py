"""CLI subcommands `export` (restraints for modelling) and `calibrate` (fit P(contact))."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from contactplug.commands.common import add_model_options, model_from
from contactplug.files.contactmap import ContactMap, load, map_files
from contactplug.files.errors import ContactplugError
from contactplug.files.outputs import OutputFolder
from contactplug.files.pair_store import Maps, is_store
from contactplug.restraints import calibration as cal
from contactplug.restraints import chimerax
from contactplug.restraints.pairs import FORMATS, Options, check_format, export_map, render

log = logging.getLogger("contactplug")


def register(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write contacts as CASP RR, Rosetta, CNS, Boltz, Chai-1, ChimeraX, CSV or TSV",
        description="Export a contact map (npz) or a folder of maps as restraints. "
        "Probabilities (RR p, --min-prob, Rosetta --weight prob) come from a calibration "
        "fitted on the shipped selection set (`contactplug calibrate`).",
    )
    p.add_argument("input", help="an npz contact map, or a folder of them")
    p.add_argument("--format", "-f", required=True, help=" | ".join(FORMATS))
    p.add_argument("-o", "--output", required=True, help="output file (a folder for a folder)")
    sel = p.add_argument_group("selection")
    sel.add_argument("--top", default=None, help="N, L, L/2, L/5, 2L or all (default L)")
    sel.add_argument("--min-sep", default="6", help="N, or short (6-11), medium, long (>= 24)")
    sel.add_argument("--max-sep", type=int, default=None)
    sel.add_argument("--min-prob", type=float, default=None, help="keep pairs with P >= this")
    sel.add_argument(
        "--pairs",
        choices=("intra", "inter", "all"),
        default=None,
        help="a complex's pairs: within chains, between chains, or both (default all; inter "
        "for chai)",
    )
    num = p.add_argument_group("numbering")
    num.add_argument("--chain", default=None, help="chain id to write (default: npz chain or A)")
    num.add_argument(
        "--numbering",
        choices=("index", "author"),
        default=None,
        help="default index (chimerax: author when known)",
    )
    num.add_argument("--structure", default=None, help="PDB/mmCIF giving author numbering")
    num.add_argument(
        "--renumber-map",
        default=None,
        help="rosetta/cns with insertion codes: write 1..N, map here",
    )
    prob = p.add_argument_group("probabilities")
    prob.add_argument("--calibration", default=None, help="calibration JSON (default: stored)")
    prob.add_argument(
        "--pseudo-prob", action="store_true", help="casp-rr: rank-based p = 1 - rank/n, labelled"
    )
    geo = p.add_argument_group("restraint geometry")
    geo.add_argument("--lower", type=float, default=None, help="lower bound, A (default 3.5)")
    geo.add_argument("--upper", type=float, default=8.0, help="upper bound / cutoff, A")
    geo.add_argument("--rosetta-func", choices=("sigmoid", "bounded", "fade"), default="sigmoid")
    geo.add_argument("--weight", choices=("none", "prob"), default="none")
    geo.add_argument("--slope", type=float, default=1.0, help="Rosetta SIGMOID slope")
    geo.add_argument("--sd", type=float, default=1.0, help="Rosetta BOUNDED sd")
    geo.add_argument("--fade", type=float, default=2.0, help="Rosetta FADE zone width")
    geo.add_argument("--segid", default=None, help="CNS segid (a complex: its chain names)")
    geo.add_argument(
        "--haddock-air",
        action="store_true",
        help="cns: HADDOCK ambiguous interaction restraints from inter-chain pairs",
    )
    geo.add_argument(
        "--color",
        choices=("auto", "truth", "probability"),
        default="auto",
        help="chimerax: colour by truth (needs --structure) or probability (default: truth "
        "with --structure)",
    )
    geo.add_argument("--force", action="store_true", help="Boltz: enforce with a potential")
    geo.add_argument("--merge", default=None, help="Boltz: input YAML to extend (copied)")
    geo.add_argument("--target", default=None, help="casp-rr TARGET (default: map id)")
    geo.add_argument("--author", default="contactplug", help="casp-rr AUTHOR")
    p.set_defaults(func=run_export)

    c = sub.add_parser(
        "calibrate",
        help="fit P(contact) for a model and method on the shipped selection set",
        description="Predict the selection set, fit the calibration on 3/4 of it, report the "
        "expected calibration error on the held-out 1/4, and store it next to the head "
        "ranking (or at -o).",
    )

    add_model_options(c)
    c.add_argument("--method", default="attention")
    c.add_argument("--top-k", type=int, default=None)
    c.add_argument("-o", "--output", default=None, help="calibration JSON (default: cache)")
    c.add_argument(
        "--complexes",
        default=None,
        help="a folder of complexes' structures: also fit the inter-chain part on them (each "
        "read as --chains all), keeping the stored intra-chain buckets",
    )
    c.set_defaults(func=run_calibrate)


def options_from(args: argparse.Namespace) -> Options:
    return Options(
        format=check_format(args.format),
        top=args.top if args.top is not None else (None if args.min_prob is not None else "L"),
        min_sep=args.min_sep,
        max_sep=args.max_sep,
        min_prob=args.min_prob,
        chain=args.chain,
        numbering=args.numbering or "auto",
        structure=args.structure,
        renumber_map=args.renumber_map,
        lower=args.lower,
        upper=args.upper,
        rosetta_func=args.rosetta_func,
        weight=args.weight,
        slope=args.slope,
        sd=args.sd,
        fade=args.fade,
        segid=args.segid,
        force=args.force,
        merge=args.merge,
        pseudo_prob=args.pseudo_prob,
        target=args.target,
        author=args.author,
        pairs=args.pairs,
        haddock_air=args.haddock_air,
        color=args.color,
    )


def _refuse_overwriting_inputs(outputs: dict[str, str | None], inputs: list[Path]) -> None:
    """An output path that is one of the export's inputs would replace it: refused."""
    given = {os.path.realpath(p): p for p in inputs if p is not None and Path(p).is_file()}
    for option, path in outputs.items():
        if path is not None and os.path.realpath(path) in given:
            raise ContactplugError(
                f"{option} {path} is an input of this export ({given[os.path.realpath(path)]}); "
                "it would be replaced: choose another path"
            )
    if outputs.get("--renumber-map") and outputs.get("-o"):
        if os.path.realpath(outputs["--renumber-map"]) == os.path.realpath(outputs["-o"]):
            raise ContactplugError("-o and --renumber-map name the same file")


def chimerax_script(folder: OutputFolder, cmap, pb: Path, text: str, key: str, opts) -> Path:
    body = chimerax.script(pb.name, text, opts.structure, cmap, pb.parent)
    return folder.write(cmap.id, ".cxc", key, lambda tmp: tmp.write_text(body))


def run_export(args: argparse.Namespace) -> int:
    opts = options_from(args)
    if opts.min_prob is not None and not 0.0 <= opts.min_prob <= 1.0:
        raise ContactplugError(f"--min-prob {opts.min_prob} is not in [0, 1]")
    source = Path(args.input)
    files = map_files(source)
    many = source.is_dir() or is_store(source)
    if many and (opts.merge or opts.structure or opts.renumber_map or opts.target):
        raise ContactplugError(
            "--merge, --structure, --renumber-map and --target apply to one map, not a folder"
        )
    out = Path(args.output)
    inputs = [*files, *(Path(p) for p in (opts.structure, opts.merge, args.calibration) if p)]
    _refuse_overwriting_inputs({"-o": args.output, "--renumber-map": opts.renumber_map}, inputs)
    if many and out.exists() and not out.is_dir():
        raise ContactplugError(f"{out}: a folder input needs an output folder")
    # every npz read and checked before writing; a pairs store read as it is written out
    maps = Maps(files, load, ContactMap)
    given = cal.load(args.calibration) if args.calibration else None
    folder = OutputFolder(out, inputs) if many or out.is_dir() else None
    total, failed = 0, []
    for path, cmap in maps.items():
        try:
            calib = given or cal.find(cmap)
            if calib is not None:
                cal.check_match(calib, cmap, args.calibration or "the stored calibration")
            if folder is None:
                total += export_map(cmap, opts, out, calib)
                log.info("%s: %s", cmap.id, out)
                continue
            text, n, _ = render(cmap, opts, calib)
            target = folder.write(
                cmap.id,
                FORMATS[opts.format],
                # one output per input map, so maps sharing an id both get one
                f"{path}#{cmap.id}" if is_store(path) else str(path),
                lambda tmp, text=text: tmp.write_text(text),
                describe=lambda key: f"the export of {key}" if key else "an earlier export",
            )
            if opts.format == "chimerax":  # the script that opens this .pb, beside it
                chimerax_script(folder, cmap, target, text, str(path), opts)
            total += n
            log.info("%s: %s", cmap.id, target)
        except ContactplugError as exc:
            if not many:
                raise
            # one bad map does not cost the others their files; the run still fails at the end
            log.warning("not exported: %s (%s): %s", cmap.id, path.name, exc)
            failed.append(path.name)
    written = len(maps) - len(failed)
    log.info("wrote %d pairs in %d %s file(s)", total, written, opts.format)
    if failed:
        shown = ", ".join(failed[:5]) + (f" (+{len(failed) - 5} more)" if len(failed) > 5 else "")
        raise ContactplugError(
            f"{len(failed)} of {len(maps)} maps not exported ({shown}); the other {written} "
            f"were written to {out}"
        )
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    from contactplug.restraints import calibrate  # fits on predictions: torch, unlike export

    model = model_from(args)
    model.require(args.method)
    if args.complexes:
        calib = calibrate.for_model(model, args.method, args.top_k)
        calibrate.fit_inter_model(model, args.method, args.complexes, calib, args.top_k)
        path = calib.save(args.output or cal.cached_path(model.fingerprint, args.method))
        held = calib.info[cal.INTER]["held_out"]
        print(
            f"{model.name} {args.method} inter-chain: held-out ECE {held['all_pairs']['ece']:.4f} "
            f"(all inter-chain pairs, n={held['all_pairs']['n']}), "
            f"{held['top_Lmin']['ece']:.4f} (top L_min per chain pair, n={held['top_Lmin']['n']}) "
            f"over {held['n_complexes']} complexes; base rate {held['base_rate']:.4f}, p "
            f"{held['p_summary']['min']:.4f}-{held['p_summary']['max']:.4f} -> {path}"
        )
        return 0
    calib = calibrate.fit_model(model, args.method, args.top_k)
    path = calib.save(args.output or cal.cached_path(model.fingerprint, args.method))
    held = calib.info["held_out"]
    print(
        f"{model.name} {args.method}: held-out ECE {held['top_L']['ece']:.3f} (top-L pairs, "
        f"n={held['top_L']['n']}), {held['all_pairs']['ece']:.4f} (all pairs |i-j| >= 6, "
        f"n={held['all_pairs']['n']}) over {held['n_proteins']} proteins -> {path}"
    )
    return 0
