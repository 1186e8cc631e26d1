"""CLI subcommands of the attention readout: predict, select-heads, model-info, tiny-model."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from contactplug.commands.common import (
    add_complex_options,
    add_model_options,
    add_scale_options,
    model_from,
    show_progress,
    structure_facts,
)
from contactplug.commands.predict_outputs import PredictOutputs, check_store_options
from contactplug.files.errors import ContactplugError, worded
from contactplug.files.methods import READOUT_METHODS
from contactplug.files.outputs import OutputFolder
from contactplug.progress import Progress

log = logging.getLogger("contactplug")
FEW_PROTEINS = 10  # fewer fitted proteins than this: said, and not cached as the ranking


def _checked(args: argparse.Namespace) -> tuple:
    """Everything a predict run refuses, refused before any work: (queries, -o, model)."""
    from contactplug.inputs.queries import read_inputs
    from contactplug.models.joining import check_linker

    if args.linker is not None:
        check_linker(args.linker)
    queries = read_inputs(args.inputs, args.chain, args.chains)
    folder = OutputFolder(args.output, args.inputs)  # -o checked before any work
    check_store_options(args)
    if args.evaluate and not any(q.structure for q in queries):
        raise ContactplugError(
            "--evaluate scores maps against the structures they were read from; "
            "give a PDB/mmCIF file (a FASTA has no true contacts)"
        )
    model = model_from(args)
    model.require(args.method)
    return queries, folder, model


def run_predict(args: argparse.Namespace) -> int:
    from contactplug.inputs.queries import warn_chain_breaks
    from contactplug.models.batching import parse_batch_size
    from contactplug.readout import prediction

    queries, folder, model = _checked(args)
    records = [q.record for q in queries]
    # refuse what cannot be read, and a bad --heads or --top-k, before any work
    prediction.record_sizes(model, records, args.window, args.linker)
    ranking, _ = prediction.run_heads(model, args.method, args.top_k, heads_file=args.heads)
    out = Path(args.output)
    settings = prediction.run_settings(
        model,
        args.method,
        args.top_k,
        ranking,
        args.window,
        args.overlap,
        args.precision,
        args.linker,
    )
    outputs = PredictOutputs(args, folder, records, settings)
    # many sequences: a bar on a terminal, else a line every tenth (contactplug.progress)
    todo = len(queries) - len(outputs.kept)
    many = show_progress(args) and todo > 1
    bar = Progress(todo, f"predict {args.method}", "proteins", many)
    done: dict[int, object] = {}
    stream = prediction.predict_unordered(  # length-sorted batches; each map saved as it is done
        model,
        records,
        args.method,
        args.top_k,
        ranking=ranking,
        batch_size=parse_batch_size(args.batch_size),
        window=args.window,
        overlap=args.overlap,
        precision=args.precision,
        workers=parse_batch_size(args.workers, "workers"),
        finished=outputs.finished,  # a rerun into the same -o keeps what is finished there
        linker=args.linker,
    )
    with outputs:  # the pairs store: compacted at the end, its buffer kept when stopped
        for n, cmap in stream:
            cmap.meta.update(structure_facts(queries[n]))  # for export --numbering author
            written = outputs.write(queries[n].fill(cmap))
            if queries[n].structure and args.evaluate:
                done[n] = (cmap, written)
            bar.update(1)
    bar.close()
    log.info("wrote %d maps (%s) to %s", todo, args.method, out)
    if args.evaluate and outputs.kept:  # kept maps are scored too, read back
        wanted = {n: queries[n].record.id for n in outputs.kept if queries[n].structure}
        done.update(outputs.kept_maps(wanted))
    warn_chain_breaks(queries)
    if args.evaluate:
        _evaluate(queries, done, out)
    return 0


def _evaluate(queries: list, done: dict, out: Path) -> None:
    """--evaluate: each structure's map (done: query index -> (map, its file)) scored."""
    from contactplug.commands.evaluate import score_and_draw

    skipped = sum(1 for q in queries if not q.structure)
    if skipped:
        log.info("--evaluate: %d FASTA record(s) not scored (no structure)", skipped)
    # each picture is named after its map's file (a safe name, ~N when the id was taken)
    items = [
        (cmap, queries[n].structure, queries[n].chain, written.with_suffix(".png").name)
        for n, (cmap, written) in sorted(done.items())
    ]
    score_and_draw(items, out)


def run_select_heads(args: argparse.Namespace) -> int:
    from contactplug.readout import selection_set
    from contactplug.readout.cache import cached_path, stored_path
    from contactplug.readout.ranking import rank_heads, read_ranking

    model = model_from(args)
    known = stored_path(model.fingerprint) if args.reuse and not args.structures else None
    if known is not None:
        read_ranking(known).save(args.output)
        print(f"{model.name}: reused the ranking for weights {model.fingerprint} ({known})")
        return 0
    if args.structures:
        from contactplug.inputs.structure import is_structure_file

        files = sorted(p for p in Path(args.structures).iterdir() if is_structure_file(p))
        if not files:
            raise ContactplugError(f"{args.structures}: no structure files")
        tmp = Path(args.output).with_suffix(".selection.npz")
        selection_set.build(files, tmp)
        proteins = selection_set.load(tmp)
        tmp.unlink()
    else:
        proteins = selection_set.load()
    fit, held = selection_set.split(proteins)
    few = len(fit) < FEW_PROTEINS
    if few:  # one protein's best heads are its own: such a ranking is noise for the next
        log.warning(
            "%s: ranking heads on %d protein(s) only; a ranking wants %d or more labelled "
            "structures. Written to %s but not cached as the model's ranking (give it with "
            "--heads)",
            model.name,
            len(fit),
            FEW_PROTEINS,
            args.output,
        )
    ranking = rank_heads(model, fit, held)
    ranking.save(args.output)
    if not args.no_cache and not few:
        ranking.save(cached_path(model.fingerprint))
    best = ranking.heads[0]
    print(
        f"{model.name}: K={ranking.k}, best head layer {best[0]} head {best[1]} "
        f"(P@L/2 long {ranking.scores[0]:.3f}); top-K mean {ranking.k_curve[ranking.k - 1]:.3f} "
        f"on {len(fit)} proteins"
    )
    if "held_out" in ranking.info:
        h = ranking.info["held_out"]
        print(
            f"held out ({len(h['ids'])}): top-K {h['top_k']:.3f}, best head "
            f"{h['best_head']:.3f}, all heads {h['all_heads']:.3f}"
        )
    return 0


def run_model_info(args: argparse.Namespace) -> int:
    from contactplug.readout import matmul_precision

    model = model_from(args)
    print(model.describe())
    for method, why in model.methods().items():
        print(f"  {method:20s} {'ok' if why is None else 'unavailable: ' + worded(why)}")
    print(f"  fingerprint {model.fingerprint}")
    print(f"  readout precision {matmul_precision.describe(matmul_precision.resolve(model))}")
    print(f"  complexes joined by linker {model.default_linker} (--linker; README, Complexes)")
    return 0


def run_tiny_model(args: argparse.Namespace) -> int:
    from contactplug.models.fair_esm import save_fair_esm_checkpoint
    from contactplug.models.random_weights import make_tiny_model

    module = make_tiny_model(args.layers, args.dim, args.heads, args.seed)
    print(save_fair_esm_checkpoint(module, args.output))
    return 0


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="contacts from attention in one forward pass")
    p.add_argument("inputs", nargs="+", help="FASTA or structure files (PDB/mmCIF, .gz)")
    p.add_argument("-o", "--output", required=True, help="output folder (one npz per record)")
    p.add_argument("--method", default="attention", choices=READOUT_METHODS)
    p.add_argument("--top-k", type=int, help="heads to average (default: the ranking's K)")
    p.add_argument("--heads", help="a head-ranking JSON from select-heads (default: automatic)")
    p.add_argument("--chain", help="chain of structure inputs (default: first protein chain)")
    add_complex_options(p)
    p.add_argument(
        "--evaluate",
        action="store_true",
        help="structure inputs: also score each map against its structure (the precision "
        "table, printed and written as OUT/metrics.json and .csv) and draw it (OUT/<id>.png)",
    )
    p.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "fp32", "bf16"),
        help="the readout's matmuls: auto (bf16 where the CPU has bf16 matmuls and the accuracy "
        "gate holds for the model, else fp32; see model-info), fp32 or bf16",
    )
    add_scale_options(p, "sequences per padded forward, sorted by length")
    _add_run_options(p)
    add_model_options(p)
    p.set_defaults(func=run_predict)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """predict's store, resume and workers."""
    p.add_argument(
        "--store",
        default="map",
        choices=("map", "pairs"),
        help="map: one npz per protein (default); pairs: the best --keep pairs of every "
        "protein in one OUT/pairs.parquet (pandas, Polars, DuckDB), for thousands of proteins",
    )
    p.add_argument(
        "--keep", default="5L", help="--store pairs: pairs kept per protein, |i-j| >= 6 (5L)"
    )
    p.add_argument(
        "--part",
        metavar="NAME",
        help="--store pairs: end as one part, OUT/NAME.parquet, not merged into pairs.parquet "
        "(the pipeline's batches; readers take a folder of parts as one store)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="recompute every protein (default: a rerun into the same -o keeps the maps "
        "finished there with the same model, method and settings)",
    )
    p.add_argument(
        "--workers",
        default="auto",
        help="batches run side by side on CPU, torch's threads shared out among them "
        "(default: auto, one per thread; 1: one batch at a time on every thread)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    _add_predict(sub)
    p = sub.add_parser("select-heads", help="rank heads on labelled structures, choose K")
    p.add_argument("-o", "--output", required=True, help="ranking JSON to write")
    p.add_argument("--structures", help="folder of labelled structures (default: shipped set)")
    p.add_argument("--no-cache", action="store_true", help="do not install it in the cache")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="copy the shipped or cached ranking of these weights when there is one",
    )
    add_model_options(p)
    p.set_defaults(func=run_select_heads)

    p = sub.add_parser("model-info", help="what a model is and which methods it can run")
    add_model_options(p)
    p.set_defaults(func=run_model_info)

    p = sub.add_parser("tiny-model", help="write a tiny random ESM-2 (.pt) for tests")
    p.add_argument("-o", "--output", required=True, help=".pt path")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_tiny_model)
