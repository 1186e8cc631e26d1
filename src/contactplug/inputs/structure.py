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

log = logging.getLogger("contactplug")

STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif")
# after .gz: .pdb .ent .cif .mmcif, and the PDB's biological assemblies .pdb1, .pdb2, ...
_SUFFIX = re.compile(r"\.(pdb|ent|cif|mmcif)\d*$", re.IGNORECASE)
PROTEIN_TYPES = (gemmi.PolymerType.PeptideL, gemmi.PolymerType.PeptideD)
MIN_IDENTITY = 0.9
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


def protein_chains(path: str | os.PathLike) -> list[str]:
    """Names of the protein chains in model 1, in file order."""
    return [ch.name for ch in read_model(path) if _is_protein(ch)]


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


# BLOSUM62 over the 20 standard amino acids; any other letter scores -1.
_AA = "ARNDCQEGHILKMFPSTWYV"
_BLOSUM62 = """
 4 -1 -2 -2  0 -1 -1  0 -2 -1 -1 -1 -1 -2 -1  1  0 -3 -2  0
-1  5  0 -2 -3  1  0 -2  0 -3 -2  2 -1 -3 -2 -1 -1 -3 -2 -3
-2  0  6  1 -3  0  0  0  1 -3 -3  0 -2 -3 -2  1  0 -4 -2 -3
-2 -2  1  6 -3  0  2 -1 -1 -3 -4 -1 -3 -3 -1  0 -1 -4 -3 -3
 0 -3 -3 -3  9 -3 -4 -3 -3 -1 -1 -3 -1 -2 -3 -1 -1 -2 -2 -1
-1  1  0  0 -3  5  2 -2  0 -3 -2  1  0 -3 -1  0 -1 -2 -1 -2
-1  0  0  2 -4  2  5 -2  0 -3 -3  1 -2 -3 -1  0 -1 -3 -2 -2
 0 -2  0 -1 -3 -2 -2  6 -2 -4 -4 -2 -3 -3 -2  0 -2 -2 -3 -3
-2  0  1 -1 -3  0  0 -2  8 -3 -3 -1 -2 -1 -2 -1 -2 -2  2 -3
-1 -3 -3 -3 -1 -3 -3 -4 -3  4  2 -3  1  0 -3 -2 -1 -3 -1  3
-1 -2 -3 -4 -1 -2 -3 -4 -3  2  4 -2  2  0 -3 -2 -1 -2 -1  1
-1  2  0 -1 -3  1  1 -2 -1 -3 -2  5 -1 -3 -1  0 -1 -3 -2 -2
-1 -1 -2 -3 -1  0 -2 -3 -2  1  2 -1  5  0 -2 -1 -1 -1 -1  1
-2 -3 -3 -3 -2 -3 -3 -3 -1  0  0 -3  0  6 -4 -2 -2  1  3 -1
-1 -2 -2 -1 -3 -1 -1 -2 -2 -3 -3 -1 -2 -4  7 -1 -1 -4 -3 -2
 1 -1  1  0 -1  0  0  0 -1 -2 -2  0 -1 -2 -1  4  1 -3 -2 -2
 0 -1  0 -1 -1 -1 -1 -2 -2 -1 -1 -1 -1 -2 -1  1  5 -2 -2  0
-3 -3 -4 -4 -2 -2 -3 -2 -2 -3 -2 -3 -1  1 -4 -3 -2 11  2 -3
-2 -2 -2 -3 -2 -1 -2 -3  2 -1 -1 -2 -1  3 -3 -2 -2  2  7 -1
 0 -3 -3 -3 -1 -2 -2 -3 -3  3  1 -2  1 -1 -2 -2  0 -3 -1  4
"""
BLOSUM62 = np.full((21, 21), -1, dtype=np.int64)
BLOSUM62[:20, :20] = np.array(_BLOSUM62.split(), dtype=np.int64).reshape(20, 20)
GAP_OPEN = -12  # a gap of length k costs GAP_OPEN + (k - 1) * GAP_EXTEND (BLAST's 11/1)
GAP_EXTEND = -1
_NEG = -(10**9)


def _codes(seq: str) -> np.ndarray:
    lookup = {a: k for k, a in enumerate(_AA)}
    return np.array([lookup.get(c, 20) for c in seq.upper()], dtype=np.int64)


def _nw(q: str, t: str) -> tuple[np.ndarray, int]:
    """Affine-gap global alignment with free end gaps; returns (q index -> t index or -1, score).

    Rows run over q, the inner loop over t is vectorized: a gap in q (a run along the row)
    is a running maximum, exact because opening costs at least as much as extending.
    """
    n, m = len(q), len(t)
    sub = BLOSUM62[_codes(q)][:, _codes(t)]
    cols = np.arange(m + 1)
    H = np.zeros((n + 1, m + 1), dtype=np.int64)  # best score ending at (i, j), any state
    V = np.full(m + 1, _NEG, dtype=np.int64)  # gap in t (q residue unaligned), current row
    state = np.zeros((n + 1, m + 1), dtype=np.int8)  # 0 diagonal, 1 vertical, 2 horizontal
    v_open = np.zeros((n + 1, m + 1), dtype=bool)  # vertical gap opened here (vs extended)
    h_from = np.zeros((n + 1, m + 1), dtype=np.int32)  # column the horizontal gap opened from
    hm_state = np.zeros((n + 1, m + 1), dtype=np.int8)  # state of the max(diag, vertical)
    for i in range(1, n + 1):
        prev = H[i - 1]
        opened = prev + GAP_OPEN
        extended = V + GAP_EXTEND
        v_open[i] = opened >= extended
        V = np.maximum(opened, extended)
        V[0] = _NEG
        D = np.full(m + 1, _NEG, dtype=np.int64)
        D[1:] = prev[:-1] + sub[i - 1]
        HM = np.maximum(D, V)
        HM[0] = 0  # leading gap in t is free
        hm_state[i] = np.where(D >= V, 0, 1)
        A = HM - GAP_EXTEND * cols
        run = np.maximum.accumulate(A)
        arg = np.maximum.accumulate(np.where(A == run, cols, 0))
        Hz = np.full(m + 1, _NEG, dtype=np.int64)
        Hz[1:] = run[:-1] + GAP_OPEN + GAP_EXTEND * (cols[1:] - 1)
        h_from[i, 1:] = arg[:-1]
        H[i] = np.maximum(HM, Hz)
        H[i, 0] = 0
        state[i] = np.where(HM >= Hz, hm_state[i], 2)
    # trailing gaps are free: end anywhere on the last row or column
    i_end = int(np.argmax(H[:, m]))
    j_end = int(np.argmax(H[n, :]))
    if H[i_end, m] >= H[n, j_end]:
        i, j, score = i_end, m, int(H[i_end, m])
    else:
        i, j, score = n, j_end, int(H[n, j_end])
    mapping = np.full(n, -1, dtype=np.int64)
    s = int(state[i, j]) if i > 0 and j > 0 else 0
    while i > 0 and j > 0:
        if s == 0:
            mapping[i - 1] = j - 1
            i, j = i - 1, j - 1
            s = int(state[i, j])
        elif s == 1:
            was_open = v_open[i, j]
            i -= 1
            s = int(state[i, j]) if was_open else 1
        else:
            j = int(h_from[i, j])
            s = int(hm_state[i, j])
    return mapping, score


def align(query: str, chain_seq: str) -> np.ndarray:
    """Query index -> chain index (or -1). Refuses a structure whose sequence does not match."""
    if not query or not chain_seq:
        raise ContactplugError("sequence does not match structure (empty sequence)")
    mapping, _ = _nw(query, chain_seq)
    hit = mapping >= 0
    n_aligned = int(hit.sum())
    same = sum(query[k] == chain_seq[mapping[k]] for k in np.flatnonzero(hit))
    identity = same / n_aligned if n_aligned else 0.0
    shorter = min(len(query), len(chain_seq))
    if n_aligned < 0.5 * shorter or identity < MIN_IDENTITY:
        raise ContactplugError(
            f"sequence does not match structure ({n_aligned} of {len(query)} query residues "
            f"aligned to {len(chain_seq)} structure residues, identity {identity:.0%}; "
            f"need >= {MIN_IDENTITY:.0%} over at least half)"
        )
    if n_aligned < 0.5 * len(query):
        log.warning(
            "only %d of %d query residues are in the structure; the rest are not scored",
            n_aligned,
            len(query),
        )
    return mapping


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
