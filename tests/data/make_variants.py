"""Regenerate the derived test structures from the copied PDB files (run from tests/data).

formats/1TEN_A.cif, formats/1TEN_A.pdb.gz  same chain as 1TEN_A.pdb in mmCIF and gzipped PDB
1TEN_A_icode.pdb   1TEN_A renumbered +1000, residues 5-7 given one number with icodes A, B
1AQT_A_mse.pdb     1AQT_A with MET as HETATM MSE (SD -> SE), plus a water and a sulfate
"""

import gzip
from pathlib import Path

import gemmi

here = Path(__file__).parent
st = gemmi.read_structure(str(here / "1TEN_A.pdb"))
st.setup_entities()
(here / "formats").mkdir(exist_ok=True)
doc = st.make_mmcif_document()
doc.write_file(str(here / "formats" / "1TEN_A.cif"))
with gzip.GzipFile(here / "formats" / "1TEN_A.pdb.gz", "wb", mtime=0) as handle:
    handle.write((here / "1TEN_A.pdb").read_bytes())

st = gemmi.read_structure(str(here / "1TEN_A.pdb"))
chain = st[0]["A"]
base = chain[5].seqid.num + 1000
for k, res in enumerate(chain):
    if 5 <= k <= 7:
        res.seqid = gemmi.SeqId(base, " AB"[k - 5])
    elif k > 7:
        res.seqid = gemmi.SeqId(res.seqid.num + 1000 - 2, " ")
    else:
        res.seqid = gemmi.SeqId(res.seqid.num + 1000, " ")
st.write_pdb(str(here / "1TEN_A_icode.pdb"))

st = gemmi.read_structure(str(here / "1AQT_A.pdb"))
chain = st[0]["A"]
for res in chain:
    if res.name == "MET":
        res.name = "MSE"
        res.het_flag = "H"
        for atom in res:
            if atom.name == "SD":
                atom.name = "SE"
                atom.element = gemmi.Element("Se")
last = chain[len(chain) - 1].seqid.num


def hetero(name: str, atom_name: str, element: str, xyz: tuple, num: int) -> gemmi.Residue:
    res = gemmi.Residue()
    res.name, res.het_flag, res.seqid = name, "H", gemmi.SeqId(num, " ")
    atom = gemmi.Atom()
    atom.name, atom.element, atom.pos, atom.occ = (
        atom_name,
        gemmi.Element(element),
        gemmi.Position(*xyz),
        1.0,
    )
    res.add_atom(atom)
    return res


chain.add_residue(hetero("SO4", "S", "S", (5, 5, 5), last + 101))
chain.add_residue(hetero("HOH", "O", "O", (0, 0, 0), last + 100))
st.write_pdb(str(here / "1AQT_A_mse.pdb"))
