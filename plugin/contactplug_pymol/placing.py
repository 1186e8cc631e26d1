"""Where a contact file's positions go on the loaded chains (loadcontacts): which chain it
belongs to, position to residue, and which group it is drawn into."""

from __future__ import annotations

import numpy as np
from pymol import CmdException

from .chains import Chain
from .contact_files import Prediction
from .draw import free_group, group_name, is_contact_group

FILE_PREFIX = "lc"  # groups drawn by loadcontacts


def match_chains(pred: Prediction, chains: list[Chain], path: str) -> list[Chain]:
    """Chains the file belongs to: its own chain id, else those whose sequence it is."""
    if len(chains) == 1:
        return chains
    if pred.chain is not None:
        named = [c for c in chains if c.chain == pred.chain]
        if named:
            return named
    if pred.sequence:
        same = [c for c in chains if c.sequence == pred.sequence]
        if same:
            return same
    names = ", ".join(c.title for c in chains)
    raise CmdException(f"{path}: cannot tell which chain it belongs to ({names}); select one")


def map_positions(pred: Prediction, chain: Chain, path: str) -> np.ndarray:
    """File position -> index into chain.residues (-1 where the chain lacks it)."""
    if pred.resnum is not None:
        where = {(r.resv, r.ins): k for k, r in enumerate(chain.residues)}
        icode = pred.icode if pred.icode is not None else [""] * pred.length
        mapping = np.array(
            [
                where.get((int(n), str(c).strip()), -1)
                for n, c in zip(pred.resnum, icode, strict=True)
            ]
        )
        hit = mapping >= 0
        if not hit.any():
            raise CmdException(f"{path}: none of its residue numbers are in {chain.title}")
        if pred.sequence:
            letters = np.array([chain.residues[k].letter for k in mapping[hit]])
            wrong = int((letters != np.array(list(pred.sequence))[hit]).sum())
            if wrong > hit.sum() // 10:
                raise CmdException(
                    f"{path}: {wrong} of {hit.sum()} numbered residues differ from "
                    f"{chain.title}; is this the right structure?"
                )
        return mapping
    n = len(chain.residues)
    if pred.length > n:
        raise CmdException(
            f"{path}: {pred.length} positions but {chain.title} has {n} residues in the selection"
        )
    if pred.sequence and pred.sequence != chain.sequence[: pred.length]:
        differ = sum(a != b for a, b in zip(pred.sequence, chain.sequence, strict=False))
        raise CmdException(
            f"{path}: its sequence differs from {chain.title} at {differ} positions "
            f"(lengths {pred.length} and {n}); select the matching residues"
        )
    return np.arange(pred.length)


def file_group(chain: Chain, name: str, n_chains: int, _self) -> tuple[str, str]:
    """(group, what the summary adds): name= (per chain when several), replaced when it is
    a contact group drawn before (never another object of that name); else
    lc_<object>_<chain>, or the next free lc_..._2 beside it."""
    if name:
        group = name if n_chains == 1 else f"{name}_{chain.chain or 'blank'}"
        if is_contact_group(group, _self):
            return group, f"; replaced the previous {group}"
        if group in (_self.get_names("all") or []):  # a structure, or a group of the user's
            raise CmdException(f"name={group}: an object of that name exists; choose another")
        return group, ""
    base = group_name(FILE_PREFIX, chain.obj, chain.chain)
    group = free_group(base, _self)
    return group, "" if group == base else f"; beside {base}, which is kept"
