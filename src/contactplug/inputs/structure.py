"""Protein chains from PDB/mmCIF files (gemmi), virtual C-beta, sequence-to-structure alignment
and true contacts over the query sequence."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import gemmi
import numpy as np

from contactplug.files.errors import ContactplugError
from contactplug.files.residues import virtual_cb
from contactplug.inputs.alignment import BLOSUM62, MIN_IDENTITY, align  # noqa: F401 (re-exported)

log = logging.getLogger("contactplug")

STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif")
# after .gz: .pdb .ent .cif .mmcif, and the PDB's biological assemblies .pdb1, .pdb2, ...
_SUFFIX = re.compile(r"\.(pdb|ent|cif|mmcif)\d*$", re.IGNORECASE)
PROTEIN_TYPES = (gemmi.PolymerType.PeptideL, gemmi.PolymerType.PeptideD)
PEPTIDE_BOND_MAX = 2.0  # angstrom, C(i) to N(i+1); a bond is 1.33
CA_STEP_MAX = 4.2  # angstrom, CA(i) to CA(i+1) when C or N is absent; consecutive CAs are 3.8


@dataclass
class ChainBreak:
    """Where a chain read from a structure is not one continuous peptide: `index` is the
    0-based position of the residue after the break; `missing` counts the residues the author
    numbering skips there (None when the numbering does not say)."""

    index: int
    after: str
    before: str
    missing: int | None
    distance: float | None  # C-N (or CA-CA) distance across the break, when both atoms exist

    def to_json(self) -> dict:
        return {
            "index": self.index,
            "after": self.after,
            "before": self.before,
            "missing": self.missing,
            "distance": None if self.distance is None else round(self.distance, 2),
        }


@dataclass
class Chain:
    name: str
    sequence: str
    resnum: np.ndarray  # int, author numbering
    icode: np.ndarray  # str, '' when none
    cb: np.ndarray  # N x 3, NaN where it cannot be had (virtual for Gly and missing CB)
    ca: np.ndarray  # N x 3, NaN where CA is missing
    breaks: list[ChainBreak] = field(default_factory=list)
    model: int = 1  # the MODEL number read

    def label(self, index: int) -> str:
        return f"{self.resnum[index]}{self.icode[index]}"

    def describe_breaks(self) -> str:
        """One clause for a warning: '2 chain breaks (after 45, 12 residues missing; after 80)'."""
        parts = []
        for b in self.breaks[:5]:
            missing = f", {b.missing} residues missing" if b.missing else ""
            parts.append(f"after {b.after}{missing}")
        more = f"; +{len(self.breaks) - 5} more" if len(self.breaks) > 5 else ""
        n = len(self.breaks)
        return f"{n} chain break{'s' if n > 1 else ''} ({'; '.join(parts)}{more})"


def is_structure_file(path: str | os.PathLike) -> bool:
    name = Path(str(path)).name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    return _SUFFIX.search(name) is not None


def structure_stem(path: str | os.PathLike) -> str:
    """File name without .gz and the structure suffix: 1AQT_A.cif.gz -> 1AQT_A, 1abc.pdb1.gz
    -> 1abc."""
    name = Path(path).name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    match = _SUFFIX.search(name)
    if match:
        return name[: match.start()]
    return name.rsplit(".", 1)[0] if "." in name else name


def _looks_like_mmcif(path: Path, text: str) -> bool:
    name = path.name.lower().removesuffix(".gz")
    if re.search(r"\.(cif|mmcif)\d*$", name):
        return True
    if re.search(r"\.(pdb|ent)\d*$", name):
        return False
    head = text.lstrip()[:200]
    return head.startswith(("data_", "#"))


def parse_structure(text: str, source: str, mmcif: bool | None = None) -> gemmi.Structure:
    """A structure from PDB or mmCIF text. A TER record does not end a chain's polymer here
    (ignore_ter): files from other tools put TER mid-chain, and PyMOL reads on past it too."""
    if mmcif is None:
        mmcif = _looks_like_mmcif(Path(source), text)
    try:
        if mmcif:
            doc = gemmi.cif.read_string(text)
            st = gemmi.make_structure_from_block(doc[0])
        else:
            st = gemmi.read_pdb_string(text, ignore_ter=True)
        st.merge_chain_parts()
        st.setup_entities()
    except (RuntimeError, ValueError, OSError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ContactplugError(f"{source}: cannot read structure ({first})") from None
    return st


def read_structure(path: str | os.PathLike) -> gemmi.Structure:
    """A PDB or mmCIF file (gzipped or not, any suffix: the content decides), `-` for stdin."""
    from contactplug.files.sequences import read_text

    if str(path) != "-":
        path = Path(path)
        if not path.is_file():
            raise ContactplugError(f"{path}: no such structure file")
        if path.stat().st_size == 0:
            raise ContactplugError(f"{path}: empty structure file")
    text = read_text(path, "structure")
    source = "<stdin>" if str(path) == "-" else str(path)
    return parse_structure(text, source)


def pick_model(st: gemmi.Structure, source: str) -> gemmi.Model:
    """MODEL 1 wherever it is listed (else the lowest number), saying so when it is not the
    first model in the file."""
    if len(st) == 0 or all(m.count_atom_sites() == 0 for m in st):
        raise ContactplugError(
            f"{source}: not a structure file, cannot read structure (no atoms read as PDB or mmCIF)"
        )
    numbers = [m.num for m in st]
    pick = numbers.index(1) if 1 in numbers else numbers.index(min(numbers))
    if pick != 0:
        first = "MODEL 1" if numbers[pick] == 1 else f"MODEL {numbers[pick]} (there is no 1)"
        log.warning(
            "%s: models are listed as %s; read %s, the %s in the file",
            source,
            ", ".join(map(str, numbers[:4])) + (", ..." if len(numbers) > 4 else ""),
            first,
            _ordinal(pick + 1),
        )
    if st[pick].count_atom_sites() == 0:
        raise ContactplugError(f"{source}: MODEL {numbers[pick]} has no atoms")
    return st[pick]


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


def read_model(path: str | os.PathLike) -> gemmi.Model:
    """Model 1 of a PDB or mmCIF file (gzipped or not), with entities set up."""
    return pick_model(read_structure(path), str(path))


def _is_protein(chain: gemmi.Chain) -> bool:
    polymer = chain.get_polymer()
    return len(polymer) > 0 and polymer.check_polymer_type() in PROTEIN_TYPES


def protein_chains(path: str | os.PathLike, structure: gemmi.Structure | None = None) -> list[str]:
    """Names of the protein chains in model 1, in file order (`structure`: already read)."""
    model = read_model(path) if structure is None else pick_model(structure, str(path))
    names = [ch.name for ch in model if _is_protein(ch)]
    return list(dict.fromkeys(names))  # a name split by TER records counts once


def _letter(name: str) -> str | None:
    """One-letter code of an amino acid (modified ones mapped to their parent), else None."""
    info = gemmi.find_tabulated_residue(name)
    if info is None or not info.found():
        return "X"  # unknown component inside a peptide polymer: keep its place
    if not info.is_amino_acid():
        return None  # caps (ACE, NH2) and other non-amino-acid polymer parts
    code = info.one_letter_code.upper()
    return code if code.isalpha() else "X"


def _positions(res: gemmi.Residue) -> dict[str, np.ndarray]:
    """Atom name -> position, using one conformer: the altloc with the highest occupancy."""
    occupancy: dict[str, float] = {}
    for atom in res:
        if atom.has_altloc():
            occupancy[atom.altloc] = occupancy.get(atom.altloc, 0.0) + atom.occ
    keep = max(occupancy, key=occupancy.get) if occupancy else None  # ties: first seen
    pos: dict[str, np.ndarray] = {}
    for atom in res:
        if atom.has_altloc() and atom.altloc != keep:
            continue
        if atom.name not in pos:
            pos[atom.name] = np.array([atom.pos.x, atom.pos.y, atom.pos.z])
    return pos


def read_chain(
    path: str | os.PathLike, chain: str | None = None, structure: gemmi.Structure | None = None
) -> Chain:
    """The polymer residues of one protein chain (default: the first) of model 1, with the
    places where the chain is broken (unresolved loops). `structure`: already read from path."""
    st = structure if structure is not None else read_structure(path)
    model = pick_model(st, str(path))
    proteins = [ch for ch in model if _is_protein(ch)]
    if not proteins:
        raise ContactplugError(f"{path}: no protein chain in model {model.num}")
    if chain is None:
        picked = proteins[0]
    else:
        matches = [ch for ch in proteins if ch.name == chain]
        if not matches:
            names = ", ".join(repr(ch.name) for ch in proteins)
            raise ContactplugError(
                f"{path}: no protein chain {chain!r}; protein chains here: {names}"
            )
        picked = matches[0]
    letters, resnum, icode, ca, cb, n_atom, c_atom = [], [], [], [], [], [], []
    nan = np.full(3, np.nan)
    for res in picked.get_polymer().first_conformer():
        letter = _letter(res.name)
        if letter is None:
            continue
        pos = _positions(res)
        letters.append(letter)
        resnum.append(res.seqid.num)
        icode.append(res.seqid.icode.strip())
        ca.append(pos.get("CA", nan))
        n_atom.append(pos.get("N", nan))
        c_atom.append(pos.get("C", nan))
        if "CB" in pos:
            cb.append(pos["CB"])
        elif all(k in pos for k in ("N", "CA", "C")):
            cb.append(virtual_cb(pos["N"], pos["CA"], pos["C"]))
        else:
            cb.append(nan)
    if not letters:
        raise ContactplugError(f"{path}: chain {picked.name!r} has no amino-acid residues")
    found = Chain(
        name=picked.name,
        sequence="".join(letters),
        resnum=np.array(resnum, dtype=np.int32),
        icode=np.array(icode, dtype=str),
        cb=np.array(cb, dtype=np.float64),
        ca=np.array(ca, dtype=np.float64),
        model=model.num,
    )
    found.breaks = chain_breaks(found, np.array(n_atom), np.array(c_atom))
    return found


def chain_breaks(chain: Chain, n_xyz: np.ndarray, c_xyz: np.ndarray) -> list[ChainBreak]:
    """Breaks between consecutive residues: no peptide bond (C-N > PEPTIDE_BOND_MAX), or, with
    C or N absent, CA-CA > CA_STEP_MAX; with no usable atoms, a skip in the numbering."""
    breaks = []
    for k in range(1, len(chain.sequence)):
        gap = int(chain.resnum[k]) - int(chain.resnum[k - 1]) - 1
        missing = gap if gap > 0 else None
        c_n = float(np.linalg.norm(c_xyz[k - 1] - n_xyz[k]))
        ca_ca = float(np.linalg.norm(chain.ca[k - 1] - chain.ca[k]))
        if np.isfinite(c_n):
            broken, distance = c_n > PEPTIDE_BOND_MAX, c_n
        elif np.isfinite(ca_ca):
            broken, distance = ca_ca > CA_STEP_MAX, ca_ca
        else:
            broken, distance = missing is not None, None
        if broken:
            breaks.append(
                ChainBreak(k, chain.label(k - 1).strip(), chain.label(k).strip(), missing, distance)
            )
    return breaks


def query_coords(chain: Chain, mapping: np.ndarray, atom: str = "CB") -> np.ndarray:
    """Coordinates over query positions (L x 3), NaN where unaligned or missing."""
    if atom not in ("CB", "CA"):
        raise ContactplugError(f"atom must be CB or CA, not {atom!r}")
    source = chain.cb if atom == "CB" else chain.ca
    out = np.full((len(mapping), 3), np.nan)
    hit = mapping >= 0
    out[hit] = source[mapping[hit]]
    return out


def contacts_from_coords(xyz: np.ndarray, cutoff: float = 8.0) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(xyz).all(axis=1)
    valid = ok[:, None] & ok[None, :]
    filled = np.where(ok[:, None], xyz, 0.0)
    dist = np.sqrt(((filled[:, None, :] - filled[None, :, :]) ** 2).sum(-1))
    contacts = (dist < cutoff) & valid
    np.fill_diagonal(contacts, False)
    return contacts, valid


def true_contacts(
    query: str, chain: Chain, cutoff: float = 8.0, atom: str = "CB"
) -> tuple[np.ndarray, np.ndarray]:
    """(contacts, valid), both L x L bool over query positions: distance < cutoff angstrom."""
    mapping = align(query, chain.sequence)
    return contacts_from_coords(query_coords(chain, mapping, atom), cutoff)


def index_structures(folder: str | os.PathLike) -> dict[str, Path]:
    """Lower-cased stem -> file, for the structure files in a folder (first by name wins)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ContactplugError(f"{folder}: no such folder of structures")
    index: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and is_structure_file(path):
            index.setdefault(structure_stem(path).lower(), path)
    return index


def match_structure(
    map_id: str, index: dict[str, Path], map_chain: str | None = None
) -> tuple[Path, str | None] | None:
    """The structure file (and chain) for a map id: `1AQT_A` -> 1AQT_A.pdb, or 1AQT.pdb chain A."""
    key = map_id.lower()
    if key in index:
        return index[key], map_chain
    m = re.fullmatch(r"(.+)[_.:\-]([A-Za-z0-9]{1,4})", map_id)
    if m and m.group(1).lower() in index:
        return index[m.group(1).lower()], map_chain or m.group(2)
    return None
