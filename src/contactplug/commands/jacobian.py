"""CLI subcommands `jacobian` (the Categorical Jacobian, whole or a chunk of positions) and
`gather-jacobian` (chunks assembled into maps)."""

from __future__ import annotations

import argparse
import logging

from contactplug.commands.common import (
    add_model_options,
    add_scale_options,
    autocast_dtype,
    model_from,
    show_progress,
    structure_facts,
)
from contactplug.files.methods import jacobian_for
from contactplug.files.outputs import OutputFolder

log = logging.getLogger("contactplug")


def run_jacobian(args: argparse.Namespace) -> int:
    from contactplug.inputs.queries import read_inputs
    from contactplug.jacobian import categorical as jacobian
    from contactplug.jacobian.parts import compute_part, parse_positions
    from contactplug.models.batching import parse_batch_size

    queries = read_inputs(args.inputs, args.chain)
    folder = OutputFolder(args.output, args.inputs)  # -o checked before any work
    model = model_from(args)
    # no MLM head: the representation Jacobian, said in one line, unless --logits was asked
    method, note = jacobian_for(model.has_lm_head, args.repr, args.logits, args.fast)
    model.require(method)
    if note:
        log.warning("%s: %s", model.name, note)
    representation = method.startswith("repr-")
    for query in queries:
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
                {**query.schema_fields(), "meta": query.meta},
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
        )
        cmap.meta.update(structure_facts(query))  # for export --numbering author
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
    add_model_options(p)
    p.set_defaults(func=run_jacobian)

    p = sub.add_parser("gather-jacobian", help="assemble partial Jacobians into maps")
    p.add_argument("parts", nargs="+", help="*.partSTART-END.npz files (any proteins)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.set_defaults(func=run_gather)
