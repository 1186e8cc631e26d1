"""Residues: the one table of three-letter names and one-letter codes, and the virtual C-beta.

Structures read by gemmi use gemmi's own component table (`inputs.structure`); this table is
for everything without gemmi: the PyMOL plugin's chains and the restraint writers' names.
"""

from __future__ import annotations

import numpy as np

ONE_TO_THREE: dict[str, str] = {
    "A": "ALA", "C": "CYS", "D": "ASP", "E": "GLU", "F": "PHE", "G": "GLY", "H": "HIS",
    "I": "ILE", "K": "LYS", "L": "LEU", "M": "MET", "N": "ASN", "P": "PRO", "Q": "GLN",
    "R": "ARG", "S": "SER", "T": "THR", "V": "VAL", "W": "TRP", "Y": "TYR",
}  # fmt: skip

THREE_TO_ONE: dict[str, str] = {
    **{three: one for one, three in ONE_TO_THREE.items()},
    # common modified residues, as their parent amino acid
    "MSE": "M", "SEC": "U", "PYL": "O", "HSD": "H", "HSE": "H", "HSP": "H", "HIE": "H",
    "HID": "H", "HIP": "H", "CYX": "C", "CSO": "C", "SEP": "S", "TPO": "T", "PTR": "Y",
    "MLY": "K", "KCX": "K", "ASX": "B", "GLX": "Z", "UNK": "X",
}  # fmt: skip


def virtual_cb(n: np.ndarray, ca: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Ideal C-beta from the backbone N, CA, C (works on N x 3 arrays too): the contact
    definition's C-beta for glycine, and for residues whose C-beta is not in the file."""
    b = ca - n
    c_ = c - ca
    a = np.cross(b, c_)
    return -0.58273431 * a + 0.56802827 * b - 0.54067466 * c_ + ca
