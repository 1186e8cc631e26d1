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
water = gemmi.Residue()
water.name, water.het_flag, water.seqid = "HOH", "H", gemmi.SeqId(last + 100, " ")
oxygen = gemmi.Atom()
oxygen.name, oxygen.element, oxygen.pos, oxygen.occ = "O", gemmi.Element("O"), gemmi.Position(0, 0, 0), 1.0
water.add_atom(oxygen)
sulfate = gemmi.Residue()
sulfate.name, sulfate.het_flag, sulfate.seqid = "SO4", "H", gemmi.SeqId(last + 101, " ")
sulfur = gemmi.Atom()
sulfur.name, sulfur.element, sulfur.pos, sulfur.occ = "S", gemmi.Element("S"), gemmi.Position(5, 5, 5), 1.0
sulfate.add_atom(sulfur)
chain.add_residue(sulfate)
chain.add_residue(water)
st.write_pdb(str(here / "1AQT_A_mse.pdb"))
