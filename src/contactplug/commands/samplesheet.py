"""CLI subcommands the Nextflow pipeline runs around its tasks: `samplesheet` (its first task:
check the inputs and write the tables the pipeline fans out over) and `versions` (the
versions.yml every task leaves, in nf-core's format)."""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import re
from pathlib import Path

from contactplug import __version__
from contactplug.files.errors import ContactplugError


def _positions(text: str) -> int:
    """--cj-chunk, refused with contactplug's one-line error rather than argparse's usage."""
    value = int(text) if re.fullmatch(r"\s*\d+\s*", text) else -1
    if value < 0:
        raise ContactplugError(
            f"--cj-chunk {text}: give a whole number of positions >= 0 (0: no split)"
        )
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "samplesheet",
        help="check pipeline inputs (samplesheet or FASTA) and write the protein tables",
        description="Check a samplesheet (or a FASTA plus a folder of structures) as the "
        "Nextflow pipeline's first task does, and write OUTDIR/proteins.csv (one row per "
        "protein, sorted by id) and OUTDIR/jacobian.csv (one row per Jacobian task), with one "
        "FASTA per protein in a content-addressed store. A row may be a complex: a sequence "
        "with chains separated by ':' (SEQA:SEQB), or a structure with a chains column (A,B "
        "or all). Problems stop with one line naming the row at fault.",
    )
    p.add_argument(
        "--input",
        metavar="CSV",
        help="samplesheet: id, sequence or fasta, structure, chain, chains",
    )
    p.add_argument("--fasta", metavar="FASTA", help="proteins as FASTA, instead of --input")
    p.add_argument("--structures", metavar="DIR", help="structures named by protein id")
    p.add_argument(
        "--cj-chunk",
        default="0",
        metavar="N",
        help="positions per Jacobian task; 0 runs each protein in one task (0)",
    )
    p.add_argument(
        "--store",
        metavar="DIR",
        help="folder of the per-protein FASTA files (default: OUTDIR/fasta); the pipeline "
        "keeps one under its work folder, so -resume finds unchanged proteins",
    )
    p.add_argument("-o", "--outdir", required=True, metavar="OUTDIR", help="folder for tables")
    p.set_defaults(func=run_samplesheet)

    p = sub.add_parser(
        "versions",
        help="write versions.yml (contactplug, python, torch) for a pipeline task",
    )
    p.add_argument("--process", default="contactplug", help="the task's process name")
    p.add_argument("-o", "--output", default="versions.yml", help="file to write")
    p.set_defaults(func=run_versions)


def run_samplesheet(args: argparse.Namespace) -> int:
    from contactplug.inputs.samplesheet import read_proteins, write_tables

    chunk = _positions(args.cj_chunk)
    proteins = read_proteins(args.input, args.fasta, args.structures)
    store = Path(args.store) if args.store else Path(args.outdir) / "fasta"
    table, jacobian = write_tables(proteins, args.outdir, store, chunk)
    scored = sum(1 for p in proteins if p.structure)
    tasks = len(jacobian.read_text().splitlines()) - 1
    print(
        f"{len(proteins)} proteins ({scored} with a structure), {tasks} Jacobian tasks: "
        f"{table}, {jacobian}"
    )
    return 0


def _installed(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions_yaml(process: str) -> str:
    """nf-core's versions.yml: the process name, then one `tool: version` line per tool."""
    name = process.replace('"', "'")
    return (
        f'"{name}":\n'
        f"    contactplug: {__version__}\n"
        f"    python: {platform.python_version()}\n"
        f"    torch: {_installed('torch')}\n"  # read from metadata: no torch import
    )


def run_versions(args: argparse.Namespace) -> int:
    from contactplug.files.atomic import write_text

    write_text(args.output, versions_yaml(args.process))
    return 0
