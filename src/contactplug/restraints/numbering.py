"""How a restraint names a residue: author numbering (from the npz or from --structure) and
the anchor-atom rule, for single chains and for complexes (each position's own chain)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from contactplug.files.contactmap import ContactMap
from contactplug.files.errors import ContactplugError, arg

log = logging.getLogger("contactplug")
BLANK = ""  # a blank chain id (PDB column 22 ' '), as gemmi reads it: a name, not "unknown"


@dataclass
class Numbering:
    """Per query position (0-based): author resnum/icode and position in the structure chain,
    or absent (-1). `source` says where it came from, for messages. `chains` names each
    position's chain for a complex (None: every position is in `chain`)."""

    resnum: np.ndarray
    icode: np.ndarray
    chain_index: np.ndarray  # query index -> index in the structure chain, -1 when absent
    chain: str
    source: str
    anchored: np.ndarray | None = None  # per query position: the anchor atom is in the file
    chains: np.ndarray | None = None

    def present(self, k: int) -> bool:
        return self.chain_index[k] >= 0

    def label(self, k: int) -> str:
        return f"{self.resnum[k]}{self.icode[k]}"

    def chain_at(self, k: int) -> str:
        return self.chain if self.chains is None else str(self.chains[k])


def numbering_for(cmap: ContactMap, structure: str | None, chain: str | None) -> Numbering | None:
    """Author numbering from --structure (aligned to the map's sequence) or from the npz."""
    if cmap.is_complex and chain is not None:
        raise ContactplugError(
            f"{cmap.id}: a complex's chains are named by the map ({', '.join(cmap.chain_ids)}); "
            f"{arg('chain')} applies to single-chain maps"
        )
    if structure is not None:
        return _from_structure(cmap, structure, chain)
    if cmap.resnum is not None:
        idx = np.arange(cmap.length)
        name = chain or (cmap.chain if cmap.chain is not None else "A")  # BLANK stays blank
        anchored = None
        if "anchor_absent" in cmap.meta:  # recorded by predict / jacobian from the structure
            anchored = np.ones(cmap.length, dtype=bool)
            anchored[[k for k in cmap.meta["anchor_absent"] if 0 <= k < cmap.length]] = False
        chains = _position_chains(cmap)
        if chains is not None:  # complex numbering restarts per chain: index within each chain
            idx = idx - np.array([first for _, first, _ in _spans_at(cmap)])
        return Numbering(cmap.resnum, cmap.icode, idx, name, f"{cmap.id} (npz)", anchored, chains)
    return None


def chain_name(cmap: ContactMap, chain: str | None, num: Numbering | None, fmt: str) -> str:
    """The name a single chain's restraints give it: --chain, else the structure's (BLANK when
    its id is blank), else "A" (a map made from a FASTA). Boltz and Chai-1 name the chain of
    the model's own input (YAML, FASTA), not the structure's: "A" there for a blank one too."""
    name = chain or (num.chain if num is not None else cmap.chain)
    if name is None or (name == BLANK and fmt in ("boltz", "chai")):
        return "A"
    return name


def _position_chains(cmap: ContactMap) -> np.ndarray | None:
    if not cmap.is_complex:
        return None
    return np.array([name for name, a, b in cmap.chain_spans() for _ in range(b - a)])


def _spans_at(cmap: ContactMap) -> list[tuple[str, int, int]]:
    """Each position's chain span (name, first, end)."""
    spans = cmap.chain_spans()
    return [spans[c] for c in cmap.chain_index()]


def _from_structure(cmap: ContactMap, structure: str, chain: str | None) -> Numbering:
    """Each map chain aligned to the structure chain of its name (a single chain: --chain, the
    npz's chain or the first protein chain)."""
    from contactplug.inputs.structure import align, read_chain

    L = cmap.length
    resnum = np.zeros(L, dtype=np.int64)
    icode = np.array([""] * L, dtype=object)
    mapping = np.full(L, -1, dtype=np.int64)
    anchored = np.zeros(L, dtype=bool)
    names = []
    spans = cmap.chain_spans() if cmap.is_complex else [(chain or cmap.chain, 0, L)]
    for name, a, b in spans:
        ch = read_chain(structure, name)
        names.append(ch.name)
        part = align(cmap.sequence[a:b], ch.sequence)
        hit = np.flatnonzero(part >= 0)
        mapping[a + hit] = part[hit]
        resnum[a + hit] = ch.resnum[part[hit]]
        icode[a + hit] = ch.icode[part[hit]]
        present = anchors_present(structure, ch.name, ch.resnum, ch.icode)
        anchored[a + hit] = present[part[hit]]
    source = f"{structure}:{','.join(names)}"
    return Numbering(
        resnum, icode.astype(str), mapping, names[0], source, anchored, _position_chains(cmap)
    )


# ---------------------------------------------------------------- atoms
# One rule, here and in the PyMOL plugin (README, "Missing atoms"): a pair is drawn, and
# exported in the structure's numbering, only when both residues have the atom it joins:
# C-beta, C-alpha for Gly (and for every residue of a C-alpha trace).
def anchors_present(structure, chain: str, resnum, icode) -> np.ndarray:
    """Per residue (author resnum + icode, as read_chain gives them): whether the structure
    file has its anchor atom, in any conformer."""
    from contactplug.inputs.structure import read_model

    atoms: dict[tuple[int, str], tuple[str, set[str]]] = {}
    for ch in read_model(structure):
        if ch.name != chain:
            continue
        for res in ch:
            key = (res.seqid.num, res.seqid.icode.strip())
            names = atoms.setdefault(key, (res.name, set()))[1]
            names.update(atom.name for atom in res)
    ca_trace = not any("CB" in names for _, names in atoms.values())

    def has(key) -> bool:
        resn, names = atoms.get(key, ("", set()))
        return ("CA" if ca_trace or resn == "GLY" else "CB") in names

    return np.array([has((int(n), str(c).strip())) for n, c in zip(resnum, icode, strict=True)])


def anchor_absent(structure, chain: str, resnum, icode) -> list[int]:
    """0-based positions whose residue lacks its anchor atom (for a map's meta)."""
    present = anchors_present(structure, chain, resnum, icode)
    return [int(k) for k in np.flatnonzero(~present)]


def renumber_table(num: Numbering, sequence: str) -> str:
    lines = ["# contactplug renumbering: new number = position in the structure chain (1-based)",
             "new\tchain\tauthor\tresidue"]  # fmt: skip
    for k in range(len(sequence)):
        if num.present(k):
            lines.append(
                f"{num.chain_index[k] + 1}\t{num.chain_at(k)}\t{num.label(k)}\t{sequence[k]}"
            )
    return "\n".join(lines) + "\n"


def report_skipped(cmap, num, picked, rows, missing: set[int], atomless: set[int]) -> None:
    """Say which positions the structure lacks, or lack their anchor atom, and that their
    pairs were skipped."""
    if atomless:
        shown = ", ".join(num.label(k) for k in sorted(atomless)[:20])
        log.warning(
            "%s: residues %s lack the atom a restraint names (CB, CA for Gly) in %s; "
            "their pairs are skipped, as in PyMOL",
            cmap.id, shown, num.source,
        )  # fmt: skip
    if missing:
        shown = ", ".join(str(k + 1) for k in sorted(missing)[:20])
        more = "" if len(missing) <= 20 else f" (+{len(missing) - 20} more)"
        log.warning(
            "%s: positions %s%s are not in %s; %d of %d pairs skipped",
            cmap.id, shown, more, num.source, len(picked) - len(rows), len(picked),
        )  # fmt: skip
