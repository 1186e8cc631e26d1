"""Where a contact file's positions go on the loaded chains (loadcontacts): which chains it
belongs to, position to residue, and which group it is drawn into."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pymol import CmdException

from .contact_files import ContactMap, known_sequence
from .draw import free_group, group_name, is_contact_group
from .loaded_chains import Chain

FILE_PREFIX = "lc"  # groups drawn by loadcontacts


@dataclass
class Placed:
    """One chain of a map on a loaded chain: the span's k-th position is
    chain.residues[mapping[k]] (-1 where the loaded chain lacks it)."""

    chain: Chain
    mapping: np.ndarray


@dataclass
class Span:
    """One chain's part of a map: its letters (None when the file has none) and numbering."""

    title: str
    length: int
    sequence: str | None
    resnum: np.ndarray | None
    icode: np.ndarray | None


def spans(cmap: ContactMap) -> list[Span]:
    sequence = known_sequence(cmap)
    out = []
    for name, first, end in cmap.chain_spans():
        out.append(
            Span(
                f"chain {name} of the file" if cmap.is_complex else "the file",
                end - first,
                None if sequence is None else sequence[first:end],
                None if cmap.resnum is None else cmap.resnum[first:end],
                None if cmap.icode is None else cmap.icode[first:end],
            )
        )
    return out


def place(cmap: ContactMap, chains: list[Chain], path: str) -> list[list[Placed]]:
    """Each place the map is drawn: one Placed per chain of the map, in map order."""
    if not cmap.is_complex:
        [span] = spans(cmap)
        return [[Placed(c, map_positions(span, c, path))] for c in match_chains(cmap, chains, path)]
    return place_complex(cmap, chains, path)


def match_chains(cmap: ContactMap, chains: list[Chain], path: str) -> list[Chain]:
    """Chains a single-chain file belongs to: its own chain id, else those whose sequence it is."""
    if len(chains) == 1:
        return chains
    if cmap.chain is not None:
        named = [c for c in chains if c.chain == cmap.chain]
        if named:
            return named
    sequence = known_sequence(cmap)
    if sequence:
        same = [c for c in chains if c.sequence == sequence]
        if same:
            return same
    names = ", ".join(c.title for c in chains)
    raise CmdException(f"{path}: cannot tell which chain it belongs to ({names}); select one")


def place_complex(cmap: ContactMap, chains: list[Chain], path: str) -> list[list[Placed]]:
    """A complex's chains on each selected object that holds them all: by chain name, or,
    when the names differ (a FASTA complex is lettered A, B, ...), by order where the object
    has exactly as many chains with the same sequences."""
    objects: dict[str, list[Chain]] = {}
    for chain in chains:
        objects.setdefault(chain.obj, []).append(chain)
    placed, problems = [], []
    for here in objects.values():
        try:
            placed.append(_complex_on(cmap, here, path))
        except CmdException as exc:
            problems.append(str(exc))
    if placed:
        return placed
    if len(problems) == 1:
        raise CmdException(problems[0])
    wanted = ", ".join(
        f"{c} ({n})" for c, n in zip(cmap.chain_ids, cmap.chain_lengths, strict=True)
    )
    raise CmdException(
        f"{path}: a complex of chains {wanted}; no selected object holds them "
        f"({', '.join(c.title for c in chains)})"
    )


def _complex_on(cmap: ContactMap, chains: list[Chain], path: str) -> list[Placed]:
    by_name = {c.chain: c for c in chains}
    parts = spans(cmap)
    if all(name in by_name for name in cmap.chain_ids):
        picked = [by_name[name] for name in cmap.chain_ids]
    elif len(chains) == len(parts) and all(
        s.sequence == c.sequence for s, c in zip(parts, chains, strict=True)
    ):
        picked = chains  # same sequences in the same order, other names
    else:
        have = ", ".join(c.chain or "(blank)" for c in chains)
        raise CmdException(
            f"{path}: a complex of chains {', '.join(cmap.chain_ids)}; {chains[0].obj} has "
            f"chains {have} in the selection (select the complex's chains)"
        )
    return [Placed(c, map_positions(s, c, path)) for s, c in zip(parts, picked, strict=True)]


def map_positions(span: Span, chain: Chain, path: str) -> np.ndarray:
    """File position -> index into chain.residues (-1 where the chain lacks it)."""
    if span.resnum is not None:
        return _by_number(span, chain, path)
    n = len(chain.residues)
    if span.length > n:
        raise CmdException(
            f"{path}: {span.length} positions in {span.title} but {chain.title} has {n} "
            "residues in the selection"
        )
    if span.sequence and span.sequence != chain.sequence[: span.length]:
        differ = sum(a != b for a, b in zip(span.sequence, chain.sequence, strict=False))
        raise CmdException(
            f"{path}: {span.title}'s sequence differs from {chain.title} at {differ} positions "
            f"(lengths {span.length} and {n}); select the matching residues"
        )
    return np.arange(span.length)


def _by_number(span: Span, chain: Chain, path: str) -> np.ndarray:
    where = {(r.resv, r.ins): k for k, r in enumerate(chain.residues)}
    icode = span.icode if span.icode is not None else [""] * span.length
    mapping = np.array(
        [where.get((int(n), str(c).strip()), -1) for n, c in zip(span.resnum, icode, strict=True)]
    )
    hit = mapping >= 0
    if not hit.any():
        raise CmdException(
            f"{path}: none of the residue numbers of {span.title} are in {chain.title}"
        )
    if span.sequence:
        letters = np.array([chain.residues[k].letter for k in mapping[hit]])
        wrong = int((letters != np.array(list(span.sequence))[hit]).sum())
        if wrong > hit.sum() // 10:
            raise CmdException(
                f"{path}: {wrong} of {hit.sum()} numbered residues of {span.title} differ from "
                f"{chain.title}; is this the right structure?"
            )
    return mapping


def file_group(
    chain: Chain, name: str, n_groups: int, _self, partner: Chain | None = None
) -> tuple[str, str]:
    """(group, what the summary adds): name= (per chain, or chain pair, when several), replaced
    when it is a contact group drawn before (never another object of that name); else
    lc_<object>_<chain>[_<chain>], or the next free lc_..._2 beside it."""
    other = partner.chain if partner is not None else ""
    if name:
        suffix = f"{chain.chain or 'blank'}_{other}" if other else chain.chain or "blank"
        group = name if n_groups == 1 else f"{name}_{suffix}"
        if is_contact_group(group, _self):
            return group, f"; replaced the previous {group}"
        if group in (_self.get_names("all") or []):  # a structure, or a group of the user's
            raise CmdException(f"name={group}: an object of that name exists; choose another")
        return group, ""
    base = group_name(FILE_PREFIX, chain.obj, chain.chain, other)
    group = free_group(base, _self)
    return group, "" if group == base else f"; beside {base}, which is kept"
