"""CLI subcommand `structure`: write the chain a protein is scored against as DIR/<id>.cif."""

from __future__ import annotations

import argparse
from pathlib import Path

from contactplug.files.atomic import safe_name
from contactplug.files.errors import ContactplugError
from contactplug.files.sequences import read_fasta


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "structure",
        help="write the structure chain a protein is scored against, as <id>.cif",
        description="Keep one protein chain of a structure (model 1, no ligands or waters, "
        "author numbering kept) and write it as DIR/<id>.cif, named by the FASTA record's id. "
        "Without --chain, the protein chain that aligns best to the sequence is taken.",
    )
    p.add_argument("structure", help="PDB or mmCIF file (optionally .gz)")
    p.add_argument("--fasta", required=True, help="FASTA with the protein (one record)")
    p.add_argument("--chain", help="chain to keep (default: the best-aligned protein chain)")
    p.add_argument("-o", "--output", required=True, help="folder for <id>.cif")
    p.set_defaults(func=run_structure)


def run_structure(args: argparse.Namespace) -> int:
    from contactplug.inputs.chains import pick_chain, write_chain

    records = read_fasta(args.fasta)
    if len(records) != 1:
        raise ContactplugError(f"{args.fasta}: expected one record, found {len(records)}")
    [record] = records
    chain = pick_chain(args.structure, record.sequence, args.chain or None)
    out = write_chain(args.structure, chain, Path(args.output) / f"{safe_name(record.id)}.cif")
    print(f"{out}: chain {chain!r} of {args.structure}")
    return 0
