"""Options and helpers shared by the subcommands that load a model."""

from __future__ import annotations

import argparse
import logging
import os
from typing import TYPE_CHECKING

from contactplug.files.sequences import MAX_LENGTH
from contactplug.models.registry import DEFAULT_MODEL, REGISTRY

if TYPE_CHECKING:  # `export` and `--help` name the models without importing torch
    from contactplug.models.base import Model

log = logging.getLogger("contactplug")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"ESM name ({', '.join(REGISTRY)}), a fair-esm .pt file or a HuggingFace folder "
        f"(default {DEFAULT_MODEL}; offline, pass a local PATH)",
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--dtype", default="float32", help="float32 | bfloat16 | float16")


def model_from(args: argparse.Namespace) -> Model:
    from contactplug.models.loading import load_model

    model = load_model(args.model, args.device, args.dtype)
    log.info("model: %s", model.describe())
    return model


def show_progress(args: argparse.Namespace) -> bool:
    """Progress unless -q: a bar on a terminal, else a line every tenth (contactplug.progress)."""
    return not args.quiet


def structure_facts(query) -> dict:
    """What a map made from a structure file carries in its meta beyond chain and numbering:
    the positions whose residue lacks the atom a contact is drawn to (C-beta, C-alpha for Gly),
    so that `export --numbering author` skips their pairs as PyMOL does."""
    if not query.structure or not os.path.isfile(query.structure):
        return {}
    from contactplug.restraints.pairs import anchor_absent

    if not query.record.is_complex:
        absent = anchor_absent(query.structure, query.chain, query.resnum, query.icode)
        return {"anchor_absent": absent} if absent else {}
    absent, start = [], 0  # a complex: each chain's positions, offset to map order
    for name, length in zip(query.record.chain_ids, query.record.chain_lengths, strict=True):
        part = slice(start, start + length)
        got = anchor_absent(query.structure, name, query.resnum[part], query.icode[part])
        absent += [start + k for k in got]
        start += length
    return {"anchor_absent": absent} if absent else {}


def add_complex_options(parser: argparse.ArgumentParser) -> None:
    """--chains and --linker: complexes (README, Complexes)."""
    parser.add_argument(
        "--chains",
        help="predict these protein chains of each structure as one complex, in this order "
        "(A,B), or all of them (all); FASTA records are complexes when their sequence holds "
        "chains separated by ':' (SEQA:SEQB)",
    )
    parser.add_argument(
        "--linker",
        help="how a complex's chains are joined for the model: special (its own end and start "
        "tokens), G<n> (n glycines, e.g. G25) or none (default: the model's, see model-info)",
    )


def add_scale_options(parser: argparse.ArgumentParser, batch_help: str) -> None:
    """--batch-size, --window, --overlap (speed and long proteins; see README, Performance)."""
    parser.add_argument("--batch-size", default="auto", help=batch_help + " (default: auto)")
    parser.add_argument(
        "--window",
        type=int,
        default=MAX_LENGTH,
        help="proteins longer than this are read in overlapping windows and stitched "
        f"(default {MAX_LENGTH}; 0 refuses them)",
    )
    parser.add_argument(
        "--overlap",
        type=int,
        help="residues shared by neighbouring windows (default: half the window)",
    )


def autocast_dtype(name: str | None):
    import torch

    return {None: None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]
