"""Protein chains as PyMOL holds them: sequence, author numbering, drawing atoms, C-beta."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from pymol import CmdException

try:
    from contactplug.files.residues import THREE_TO_ONE, virtual_cb
except ImportError:  # PyMOL's Python without the core: the copy carried with the plugin
    from ._files.residues import THREE_TO_ONE, virtual_cb


@dataclass
class Residue:
    resv: int
    ins: str
    resn: str
    letter: str
    atoms: dict  # atom name -> (index in object, xyz)

    @property
    def label(self) -> str:
        return f"{self.resv}{self.ins}"

    def anchor(self, ca_only: bool = False) -> tuple[int, np.ndarray] | None:
        """The atom a contact is drawn to: C-beta, C-alpha for Gly (or a CA-only chain)."""
        name = "CA" if ca_only or self.letter == "G" else "CB"
        return self.atoms.get(name)

    def cb(self, ca_only: bool = False) -> np.ndarray | None:
        """Where truth is measured: real C-beta, virtual C-beta for Gly (and missing CB)."""
        if ca_only:
            return self.atoms["CA"][1] if "CA" in self.atoms else None
        if "CB" in self.atoms and self.letter != "G":
            return self.atoms["CB"][1]
        if all(k in self.atoms for k in ("N", "CA", "C")):
            return virtual_cb(self.atoms["N"][1], self.atoms["CA"][1], self.atoms["C"][1])
        return None


@dataclass
class Chain:
    obj: str
    chain: str
    residues: list[Residue]
    state: int

    @property
    def sequence(self) -> str:
        return "".join(r.letter for r in self.residues)

    @property
    def ca_only(self) -> bool:
        """A C-alpha trace: draw and measure CA-CA since there is no C-beta anywhere."""
        return not any("CB" in r.atoms for r in self.residues)

    @property
    def title(self) -> str:
        return f"{self.obj} chain {self.chain or '(blank)'}"


@contextmanager
def quiet_selector(_self):
    """PyMOL prints its own Selector-Error for a name that does not exist; ours says more
    (the chains that do exist), so PyMOL's is held back while we look."""
    _self.feedback("disable", "selector", "errors")
    try:
        yield
    finally:
        _self.feedback("enable", "selector", "errors")


def _residue_keys(selection: str, state: int, _self) -> dict[tuple[str, str], set]:
    """(object, chain) -> its protein residues (resv, resi) in the selection."""
    keys: dict[tuple[str, str], set] = {}
    expr = "keys.setdefault((model, chain), set()).add((resv, resi))"
    with quiet_selector(_self):
        _self.iterate_state(state, f"({selection}) and polymer.protein", expr, space={"keys": keys})
    return keys


def chains_here(state: int, _self) -> str:
    """The protein chains loaded, for messages: `1ten chain A (90 residues), ...`."""
    found = _residue_keys("all", state, _self)
    if not found:
        return "no protein is loaded"
    listed = [
        f"{obj} chain {chain or '(blank)'} ({len(residues)} residues)"
        for (obj, chain), residues in found.items()
    ]
    return "protein chains loaded: " + ", ".join(listed)


def chain_length(chain: Chain, _self) -> int:
    """Protein residues of the whole chain in its object (the selection may hold part)."""
    found = _residue_keys(f'%{chain.obj} and chain "{chain.chain}"', chain.state, _self)
    return len(found.get((chain.obj, chain.chain), ())) or len(chain.residues)


def protein_chains(selection: str, state: int, _self) -> list[Chain]:
    """Every (object, chain) of protein residues in the selection, residues in atom order."""
    rows: list[tuple] = []
    expr = "rows.append((model, chain, resv, resi, resn, name, alt, q, index, x, y, z))"
    try:
        with quiet_selector(_self):
            _self.iterate_state(
                state, f"({selection}) and polymer.protein", expr, space={"rows": rows}
            )
    except CmdException:
        raise CmdException(
            f"invalid selection {selection!r}; {chains_here(state, _self)}"
        ) from None
    if not rows:
        raise CmdException(
            f"no protein residues in selection {selection!r}; {chains_here(state, _self)}"
        )
    grouped: dict[tuple[str, str], dict[tuple[int, str], list]] = {}
    for row in rows:
        obj, chain, resv, resi = row[:4]
        ins = resi.lstrip("-0123456789")  # resi is resv + insertion code, e.g. 52A
        grouped.setdefault((obj, chain), {}).setdefault((resv, ins.strip()), []).append(row)
    chains = []
    for (obj, chain), residues in grouped.items():
        built = [_residue(resv, ins, atoms) for (resv, ins), atoms in residues.items()]
        chains.append(Chain(obj, chain, built, state))
    return chains


def _residue(resv: int, ins: str, atoms: list[tuple]) -> Residue:
    # One conformer: the altloc with the highest summed occupancy, as the core's gemmi reader.
    occupancy: dict[str, float] = {}
    for row in atoms:
        if row[6]:
            occupancy[row[6]] = occupancy.get(row[6], 0.0) + row[7]
    keep = max(occupancy, key=occupancy.get) if occupancy else ""
    positions: dict[str, tuple[int, np.ndarray]] = {}
    for row in atoms:
        if row[6] and row[6] != keep:
            continue
        positions.setdefault(row[5], (row[8], np.array(row[9:12], dtype=np.float64)))
    resn = atoms[0][4].upper()
    return Residue(resv, ins, resn, THREE_TO_ONE.get(resn, "X"), positions)
