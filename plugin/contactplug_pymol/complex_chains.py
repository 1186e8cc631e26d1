"""Which loaded chains are predicted together (attncontacts): each chain alone, or with
complex=1 all protein chains of each object in the selection as one complex, in the order
PyMOL holds them."""

from __future__ import annotations

import itertools

from pymol import CmdException

from .loaded_chains import Chain
from .messages import pymol_words

try:
    from contactplug.files.errors import ContactplugError
    from contactplug.files.sequences import Record, complex_record
except ImportError:  # PyMOL's Python without the core: the copy carried with the plugin
    from ._files.errors import ContactplugError
    from ._files.sequences import Record, complex_record


def prediction_sets(chains: list[Chain], as_complex: bool) -> list[list[Chain]]:
    """The chains of each prediction: one each, or one complex per object."""
    if not as_complex:
        return [[c] for c in chains]
    objects: dict[str, list[Chain]] = {}
    for chain in chains:
        objects.setdefault(chain.obj, []).append(chain)
    for obj, here in objects.items():
        if len(here) < 2:
            raise CmdException(
                f"complex=1: the selection holds one protein chain of {obj} ({here[0].title}); "
                "a complex needs two or more chains: select them, or leave complex out"
            )
        blank = [c for c in here if not c.chain.strip()]
        if blank:
            raise CmdException(
                f"complex=1: {obj} has protein residues with a blank chain name; name that "
                "chain first (alter SELECTION, chain='Z')"
            )
    return list(objects.values())


def record_of(chains: list[Chain]) -> Record:
    """What the core predicts for one set: a chain, or a complex named after its object."""
    if len(chains) == 1:
        [c] = chains
        return Record(f"{c.obj}_{c.chain}" if c.chain else c.obj, c.sequence)
    try:
        return complex_record(
            chains[0].obj, [c.sequence for c in chains], [c.chain for c in chains]
        )
    except ContactplugError as exc:
        raise CmdException(pymol_words(exc)) from None


def chain_pairs(chains: list[str]) -> list[tuple[str, str]]:
    """Every pair of an object's chain names, in order: the inter-chain groups it may have."""
    return list(itertools.combinations(chains, 2))
