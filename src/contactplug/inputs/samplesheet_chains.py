"""The samplesheet's complexes: a sequence (or FASTA record) holding chains separated by ':'
(the ColabFold convention), or a structure with a `chains` cell (`A,B` or `all`) whose chains'
sequences are read from it. A complex travels through the pipeline as one ':'-joined sequence;
its structure chains (in the sequence's order) go to the tasks that read the structure."""

from __future__ import annotations

import re

from contactplug.files.errors import ContactplugError
from contactplug.files.sequences import Record
from contactplug.inputs.structure import protein_chains, read_chain

CHAIN_RULE = re.compile(r"[A-Za-z0-9]{1,4}")


def is_remote(value: str) -> bool:
    """A URL rather than a local path: Nextflow stages it into the task that reads it."""
    return "://" in value


def as_text(got: Record | str) -> str:
    """A sequence as the store writes it: a complex's chains joined by ':'."""
    return ":".join(got.chains()) if isinstance(got, Record) else got


def n_chains(sequence: str) -> int:
    return sequence.count(":") + 1


def complex_chains(structure: str, value: str, where: str) -> tuple[str, ...]:
    """The `chains` cell: 'A,B' (two or more distinct protein chains of the structure, in that
    order) or 'all' (every protein chain, in file order)."""
    if is_remote(structure):
        raise ContactplugError(
            f"{where}: chains '{value}' needs a local structure file (its chains are read)"
        )
    try:
        found = protein_chains(structure)
    except ContactplugError as exc:
        raise ContactplugError(f"{where}: {exc.marked}") from None
    if value.lower() == "all":
        names = tuple(found)
    else:
        names = tuple(name.strip() for name in value.split(","))
        bad = [name for name in names if not CHAIN_RULE.fullmatch(name)]
        if bad:
            raise ContactplugError(
                f"{where}: chains '{value}': '{bad[0]}' is not a chain name (1-4 letters or "
                "digits); give them as A,B or all"
            )
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ContactplugError(f"{where}: chains '{value}' names chain {twice[0]} twice")
        absent = [name for name in names if name not in found]
        if absent:
            raise ContactplugError(
                f"{where}: chain '{absent[0]}' is not a protein chain of '{structure}' "
                f"(protein chains: {', '.join(found)})"
            )
    if len(names) < 2:
        raise ContactplugError(
            f"{where}: chains '{value}' gives {len(names)} protein chain of '{structure}'; a "
            "complex needs two or more (for one chain, use the chain column)"
        )
    return names


def chains_sequence(structure: str, chains: tuple[str, ...]) -> str:
    """A complex's sequence read from its structure: the chains' residues joined by ':'."""
    return ":".join(read_chain(structure, name).sequence for name in chains)


def check_complex(sequence: str, chains: tuple[str, ...], where: str) -> None:
    if chains and n_chains(sequence) != len(chains):
        raise ContactplugError(
            f"{where}: the sequence holds {n_chains(sequence)} chain(s) separated by ':', "
            f"but chains names {len(chains)} ({','.join(chains)})"
        )


def default_chains(structure: str, sequence: str, where: str) -> tuple[str, ...]:
    """A ':' complex scored against a structure without a `chains` cell: the structure's
    protein chains in file order, when there are as many of them as the sequence has."""
    if n_chains(sequence) < 2 or not structure or is_remote(structure):
        return ()
    found = tuple(protein_chains(structure))
    if len(found) != n_chains(sequence):
        raise ContactplugError(
            f"{where}: the sequence holds {n_chains(sequence)} chains but '{structure}' has "
            f"{len(found)} protein chains ({', '.join(found)}); name the ones to score against "
            "in the chains column, in the sequence's order (e.g. A,B)"
        )
    return found
