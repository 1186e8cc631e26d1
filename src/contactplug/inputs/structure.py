"""Protein chains from PDB/mmCIF files (gemmi), virtual C-beta, sequence-to-structure alignment
and true contacts over the query sequence."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import gemmi
import numpy as np

from contactplug.files.errors import ContactplugError
from contactplug.files.residues import virtual_cb

log = logging.getLogger("contactplug")

STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif")
PROTEIN_TYPES = (gemmi.PolymerType.PeptideL, gemmi.PolymerType.PeptideD)
MIN_IDENTITY = 0.9


@dataclass
class Chain:
    name: str
    sequence: str
    resnum: np.ndarray  # int, author numbering
    icode: np.ndarray  # str, '' when none
    cb: np.ndarray  # N x 3, NaN where it cannot be had (virtual for Gly and missing CB)
    ca: np.ndarray  # N x 3, NaN where CA is missing

    def label(self, index: int) -> str:
        return f"{self.resnum[index]}{self.icode[index]}"


def is_structure_file(path: str | os.PathLike) -> bool:
    name = str(path).lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return name.endswith(STRUCTURE_SUFFIXES)


def structure_stem(path: str | os.PathLike) -> str:
    """File name without .gz and the structure suffix: 1AQT_A.cif.gz -> 1AQT_A."""
    name = Path(path).name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    return name.rsplit(".", 1)[0] if "." in name else name


def read_model(path: str | os.PathLike) -> gemmi.Model:
    """Model 1 of a PDB or mmCIF file (gzipped or not), with entities set up."""
    path = Path(path)
    if not path.is_file():
        raise ContactplugError(f"{path}: no such structure file")
    if path.stat().st_size == 0:
        raise ContactplugError(f"{path}: empty structure file")
    try:
        st = gemmi.read_structure(str(path), format=gemmi.CoorFormat.Detect)
        st.setup_entities()
    except (RuntimeError, ValueError, OSError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ContactplugError(f"{path}: cannot read structure ({first})") from None
    if len(st) == 0 or st[0].count_atom_sites() == 0:
        raise ContactplugError(f"{path}: not a structure file (no atoms read as PDB or mmCIF)")
    return st[0]


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


def read_chain(path: str | os.PathLike, chain: str | None = None) -> Chain:
    """The polymer residues of one protein chain (default: the first) of model 1."""
    model = read_model(path)
    proteins = [ch for ch in model if _is_protein(ch)]
    if not proteins:
        raise ContactplugError(f"{path}: no protein chain in model 1")
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
    letters, resnum, icode, ca, cb = [], [], [], [], []
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
        if "CB" in pos:
            cb.append(pos["CB"])
        elif all(k in pos for k in ("N", "CA", "C")):
            cb.append(virtual_cb(pos["N"], pos["CA"], pos["C"]))
        else:
            cb.append(nan)
    if not letters:
        raise ContactplugError(f"{path}: chain {picked.name!r} has no amino-acid residues")
    return Chain(
        name=picked.name,
        sequence="".join(letters),
        resnum=np.array(resnum, dtype=np.int32),
        icode=np.array(icode, dtype=str),
        cb=np.array(cb, dtype=np.float64),
        ca=np.array(ca, dtype=np.float64),
    )


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
