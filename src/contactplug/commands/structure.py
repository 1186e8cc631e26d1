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
    p.add_argument(
        "--chains",
        help="a complex (the FASTA record holds SEQA:SEQB): these protein chains, in this order, "
        "written renamed as the record's chains are lettered (A, B, ...), so its map finds them",
    )
    p.add_argument("-o", "--output", required=True, help="folder for <id>.cif")
    p.set_defaults(func=run_structure)


def run_structure(args: argparse.Namespace) -> int:
    from contactplug.inputs.chains import pick_chain, write_chain

    records = read_fasta(args.fasta)
    if len(records) != 1:
        raise ContactplugError(f"{args.fasta}: expected one record, found {len(records)}")
    [record] = records
    if args.chains or record.is_complex:
        return _write_complex(args, record)
    chain = pick_chain(args.structure, record.sequence, args.chain or None)
    out = write_chain(args.structure, chain, Path(args.output) / f"{safe_name(record.id)}.cif")
    print(f"{out}: chain {chain!r} of {args.structure}")
    return 0


def _write_complex(args: argparse.Namespace, record) -> int:
    """A complex's chains, each checked against its own chain of the record."""
    from contactplug.inputs.chains import pick_chain, write_complex
    from contactplug.inputs.queries import parse_chains_option
    from contactplug.inputs.structure import protein_chains

    if args.chain:
        raise ContactplugError("--chain names one chain; a complex takes --chains A,B")
    if not record.is_complex:
        raise ContactplugError(
            f"{args.fasta}: --chains wants a complex record (SEQA:SEQB), not one sequence"
        )
    wanted = parse_chains_option(args.chains) if args.chains else "all"
    chains = protein_chains(args.structure) if wanted == "all" else wanted
    if len(chains) != len(record.chain_lengths):
        raise ContactplugError(
            f"{args.structure}: {len(chains)} chains ({', '.join(chains)}) for a record of "
            f"{len(record.chain_lengths)} chains"
        )
    for name, sequence in zip(chains, record.chains(), strict=True):
        pick_chain(args.structure, sequence, name)  # the chain is there and aligns, or one line
    out = Path(args.output) / f"{safe_name(record.id)}.cif"
    write_complex(args.structure, chains, list(record.chain_ids), out)
    pairs = ", ".join(f"{c} as {n}" for c, n in zip(chains, record.chain_ids, strict=True))
    print(f"{out}: chains {pairs} of {args.structure}")
    return 0
