"""CLI subcommands `jacobian` (the Categorical Jacobian, whole or a chunk of positions) and
`gather-jacobian` (chunks assembled into maps)."""

from __future__ import annotations

import argparse
import logging

from contactplug.commands.common import (
    add_complex_options,
    add_model_options,
    add_scale_options,
    autocast_dtype,
    model_from,
    show_progress,
    structure_facts,
)
from contactplug.files.methods import jacobian_for
from contactplug.files.outputs import OutputFolder
from contactplug.files.resume import Finished

log = logging.getLogger("contactplug")


def run_jacobian(args: argparse.Namespace) -> int:
    from contactplug.inputs.queries import read_inputs
    from contactplug.jacobian import categorical as jacobian
    from contactplug.jacobian.parts import compute_part, parse_positions
    from contactplug.models.batching import parse_batch_size
    from contactplug.models.joining import check_fits, check_linker

    if args.linker is not None:
        check_linker(args.linker)
    queries = read_inputs(args.inputs, args.chain, args.chains)
    folder = OutputFolder(args.output, args.inputs)  # -o checked before any work
    model = model_from(args)
    # no MLM head: the representation Jacobian, said in one line, unless --logits was asked
    method, note = jacobian_for(model.has_lm_head, args.repr, args.logits, args.fast)
    model.require(method)
    if note:
        log.warning("%s: %s", model.name, note)
    representation = method.startswith("repr-")
    # what decides a map or part beside its sequence: a rerun keeps those finished in -o
    settings = {"method": method, "fingerprint": model.fingerprint}
    if any(q.record.is_complex for q in queries):  # refused before any work if over the limit
        settings["linker"] = check_linker(args.linker or model.default_linker)
        for query in queries:
            if query.record.is_complex:
                check_fits(model, query.record, args.linker)
    if not args.positions:
        settings.update(autocast=args.autocast, window=args.window or 0, overlap=args.overlap)
    keys = [(q.record.id, q.record.sequence, method) for q in queries]
    if args.positions:  # a part is also its span of positions
        keys = [(*k, *parse_positions(args.positions, len(k[1]))) for k in keys]
    what = "Jacobian parts" if args.positions else "Jacobian maps"
    todo, _ = Finished.of(args.output).split(keys, settings, what, args.force)
    for query in (queries[n] for n in todo):
        length = len(query.record.sequence)
        if args.positions:
            start, end = parse_positions(args.positions, length)
            log.info(
                "%s: %s of positions %d-%d, %d forward passes",
                query.record.id,
                method,
                start + 1,
                end,
                (end - start) * (1 if args.fast else 20) + 1,
            )
            path = compute_part(
                model,
                query.record,
                start,
                end,
                folder,
                representation,
                args.fast,
                parse_batch_size(args.batch_size),
                show_progress(args),
                {**query.schema_fields(), "meta": {**query.meta, "settings": settings}},
                args.linker,
            )
            log.info("wrote %s", path)
            continue
        log.info(
            "%s: %s, %d forward passes",
            query.record.id,
            method,
            length * (1 if args.fast else 20) + 1,
        )
        cmap = jacobian.contact_map(
            model,
            query.record,
            representation,
            args.fast,
            parse_batch_size(args.batch_size),
            show_progress(args),
            args.window,
            args.overlap,
            autocast=autocast_dtype(args.autocast),
            linker=args.linker,
        )
        cmap.meta.update(structure_facts(query), settings=settings)  # structure: for export
        query.fill(cmap).save_in(folder)
        log.info("%s: %d forward passes, %.1f s", cmap.id, cmap.n_forward, cmap.seconds)
    return 0


def run_gather(args: argparse.Namespace) -> int:
    from contactplug.jacobian.parts import gather, group_parts

    groups = group_parts(args.parts)  # every part read and checked before anything is written
    folder = OutputFolder(args.output, args.parts)
    maps = [(gather(parts), len(parts)) for _, parts in sorted(groups.items())]
    for cmap, n in maps:  # all gathered first: a damaged part leaves no output at all
        log.info("%s: gathered %d parts into %s", cmap.id, n, cmap.save_in(folder))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("jacobian", help="the Categorical Jacobian (20*L+1 forward passes)")
    p.add_argument("inputs", nargs="+", help="FASTA or structure files")
    p.add_argument("-o", "--output", required=True, help="output folder")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--repr",
        action="store_true",
        help="representation-CJ: final hidden states (the default for a checkpoint without "
        "an MLM head)",
    )
    which.add_argument(
        "--logits",
        action="store_true",
        help="the logit CJ only: stop if the checkpoint has no MLM head instead of running "
        "representation-CJ",
    )
    p.add_argument("--fast", action="store_true", help="mask-token variant: L+1 passes")
    add_scale_options(p, "mutant sequences per forward; auto sizes it from free memory")
    p.add_argument("--autocast", choices=["bf16", "fp16"], help="reduced-precision matmuls")
    p.add_argument("--positions", help="START-END (1-based): write a partial tensor to gather")
    p.add_argument("--chain", help="chain of structure inputs")
    add_complex_options(p)
    p.add_argument(
        "--force",
        action="store_true",
        help="recompute (default: a rerun into the same -o keeps the maps and parts finished "
        "there with the same model, method and settings)",
    )
    add_model_options(p)
    p.set_defaults(func=run_jacobian)

    p = sub.add_parser("gather-jacobian", help="assemble partial Jacobians into maps")
    p.add_argument("parts", nargs="+", help="*.partSTART-END.npz files (any proteins)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.set_defaults(func=run_gather)
