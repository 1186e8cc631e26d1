"""structure.py on real PDB/mmCIF files through gemmi."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import gemmi
import numpy as np
import pytest

from contactplug.files.errors import ContactplugError
from contactplug.inputs.structure import (
    BLOSUM62,
    align,
    protein_chains,
    read_chain,
    true_contacts,
    virtual_cb,
)

DATA = Path(__file__).parent / "data"


def same_chain(a, b) -> None:
    assert a.name == b.name
    assert a.sequence == b.sequence
    np.testing.assert_array_equal(a.resnum, b.resnum)
    np.testing.assert_array_equal(a.icode, b.icode)
    np.testing.assert_allclose(a.ca, b.ca, atol=1e-3, equal_nan=True)
    np.testing.assert_allclose(a.cb, b.cb, atol=1e-3, equal_nan=True)


def atoms(path: Path, altloc: str = "A") -> list[dict[str, np.ndarray]]:
    """Per residue of chain A: atom name -> position straight from gemmi (one altloc)."""
    st = gemmi.read_structure(str(path))
    out = []
    for res in st[0]["A"]:
        out.append(
            {
                a.name: np.array(a.pos.tolist())
                for a in res
                if not a.has_altloc() or a.altloc == altloc
            }
        )
    return out


def test_pdb_mmcif_and_gz_give_the_same_chain():
    pdb = read_chain(DATA / "1TEN_A.pdb")
    same_chain(pdb, read_chain(DATA / "formats" / "1TEN_A.cif"))
    same_chain(pdb, read_chain(DATA / "formats" / "1TEN_A.pdb.gz"))
    assert len(pdb.sequence) == 90 and pdb.name == "A"


def test_gzipped_mmcif_and_ent_suffix(tmp_path):
    with gzip.open(tmp_path / "x.cif.gz", "wb") as handle:
        handle.write((DATA / "formats" / "1TEN_A.cif").read_bytes())
    shutil.copy(DATA / "1CTF_A.pdb", tmp_path / "pdb1ctf.ent")
    same_chain(read_chain(DATA / "1TEN_A.pdb"), read_chain(tmp_path / "x.cif.gz"))
    same_chain(read_chain(DATA / "1CTF_A.pdb"), read_chain(tmp_path / "pdb1ctf.ent"))


def test_sequence_numbering_and_coordinates_match_the_file():
    chain = read_chain(DATA / "1CTF_A.pdb")
    raw = atoms(DATA / "1CTF_A.pdb")
    assert len(chain.sequence) == len(raw) == 68
    assert chain.sequence == gemmi.one_letter_code(
        [r.name for r in gemmi.read_structure(str(DATA / "1CTF_A.pdb"))[0]["A"]]
    )
    for k, res in enumerate(raw):
        np.testing.assert_allclose(chain.ca[k], res["CA"], atol=1e-6)
        if "CB" in res:
            np.testing.assert_allclose(chain.cb[k], res["CB"], atol=1e-6)


def test_blank_chain_id_and_protein_chains():
    assert protein_chains(DATA / "1eaz.pdb") == [""]
    chain = read_chain(DATA / "1eaz.pdb")
    fasta = (DATA / "1eaz.fasta").read_text().split()[-1]
    assert chain.sequence == fasta
    assert protein_chains(DATA / "1AQT_A.pdb") == ["A"]


def test_virtual_cb_for_glycine_has_ideal_geometry():
    chain = read_chain(DATA / "1AQT_A.pdb")
    gly = [k for k, c in enumerate(chain.sequence) if c == "G"]
    assert len(gly) == 12
    d = np.linalg.norm(chain.cb[gly] - chain.ca[gly], axis=1)
    # the ideal formula's bond length follows the real N-CA-C geometry: 1.52 +- 0.1
    np.testing.assert_allclose(d, 1.52, atol=0.1)
    assert abs(d.mean() - 1.52) < 0.05


def test_virtual_cb_is_close_to_real_cb():
    dists = []
    for name in ("1AQT_A", "1CTF_A", "2BWF_A"):
        for res in atoms(DATA / f"{name}.pdb"):
            if all(k in res for k in ("N", "CA", "C", "CB")):
                v = virtual_cb(res["N"], res["CA"], res["C"])
                dists.append(np.linalg.norm(v - res["CB"]))
    dists = np.array(dists)
    assert len(dists) > 200
    assert np.median(dists) < 0.15
    assert dists.max() < 0.35


def test_missing_atoms_give_nan_not_a_guess():
    chain = read_chain(DATA / "1TEN_A.pdb")
    # the first residue (ARG 802) has only C and O in the file
    assert chain.resnum[0] == 802 and chain.sequence[0] == "R"
    assert np.isnan(chain.ca[0]).all() and np.isnan(chain.cb[0]).all()
    assert np.isfinite(chain.cb[1:]).all()
    contacts, valid = true_contacts(chain.sequence, chain)
    assert not valid[0].any() and not contacts[0].any()
    assert valid[1:, 1:].all()


def test_altloc_keeps_the_highest_occupancy_conformer():
    chain = read_chain(DATA / "1TEN_A.pdb")
    k = int(np.flatnonzero(chain.resnum == 841)[0])  # CB A 0.71 / B 0.29
    np.testing.assert_allclose(chain.cb[k], [17.240, 61.070, 16.332], atol=1e-3)
    chain = read_chain(DATA / "2O9S_A.pdb")
    k = int(np.flatnonzero(chain.resnum == 829)[0])  # CA A 0.60 / B 0.40
    np.testing.assert_allclose(chain.ca[k], [5.905, 21.103, 10.643], atol=1e-3)
    assert len(set(chain.resnum.tolist())) == len(chain.resnum)  # no residue twice


def test_altloc_prefers_b_when_b_is_more_occupied(tmp_path):
    lines = (DATA / "1TEN_A.pdb").read_text().splitlines(keepends=True)
    swapped = []
    for line in lines:
        if line.startswith("ATOM") and line[22:26].strip() == "841" and line[16] in "AB":
            occ = "0.29" if line[16] == "A" else "0.71"
            line = line[:56] + occ + line[60:]
        swapped.append(line)
    (tmp_path / "swap.pdb").write_text("".join(swapped))
    chain = read_chain(tmp_path / "swap.pdb")
    k = int(np.flatnonzero(chain.resnum == 841)[0])
    np.testing.assert_allclose(chain.cb[k], [17.175, 60.989, 16.385], atol=1e-3)


def test_selenomethionine_maps_to_met_and_hetero_groups_are_dropped():
    text = (DATA / "1AQT_A_mse.pdb").read_text()
    assert "HETATM" in text and "SE   MSE A" in text and "HOH" in text and "SO4" in text
    plain = read_chain(DATA / "1AQT_A.pdb")
    mse = read_chain(DATA / "1AQT_A_mse.pdb")
    assert plain.sequence.count("M") == 3
    same_chain(plain, mse)


def test_insertion_codes_survive():
    plain = read_chain(DATA / "1TEN_A.pdb")
    icode = read_chain(DATA / "1TEN_A_icode.pdb")
    assert icode.sequence == plain.sequence
    assert list(icode.resnum[5:8]) == [1807, 1807, 1807]
    assert list(icode.icode[5:8]) == ["", "A", "B"]
    assert icode.label(6) == "1807A"
    np.testing.assert_allclose(icode.cb, plain.cb, equal_nan=True)


def test_missing_chain_and_unreadable_files_are_one_line_errors(tmp_path):
    with pytest.raises(ContactplugError, match=r"no protein chain 'B'; protein chains here: 'A'"):
        read_chain(DATA / "1TEN_A.pdb", "B")
    bad = tmp_path / "bad.pdb"
    bad.write_text("this is not a structure\n")
    empty = tmp_path / "empty.cif"
    empty.write_text("")
    for path in (bad, empty, DATA / "1eaz.fasta", tmp_path / "nothing.pdb"):
        with pytest.raises(ContactplugError) as err:
            read_chain(path)
        assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_blosum62_table_is_symmetric():
    assert (BLOSUM62 == BLOSUM62.T).all()
    assert BLOSUM62[4, 4] == 9 and BLOSUM62[17, 17] == 11  # C-C, W-W


SEQ = read_chain(DATA / "1AQT_A.pdb").sequence


def test_align_identity():
    np.testing.assert_array_equal(align(SEQ, SEQ), np.arange(len(SEQ)))


def test_align_his_tag_and_missing_termini():
    tagged = "MGSSHHHHHHSSGLVPRGSH" + SEQ
    m = align(tagged, SEQ)
    assert (m[:20] == -1).all()
    np.testing.assert_array_equal(m[20:], np.arange(len(SEQ)))
    # the structure lacks 7 N-terminal and 5 C-terminal residues of the query
    m = align(SEQ, SEQ[7:-5])
    assert (m[:7] == -1).all() and (m[-5:] == -1).all()
    np.testing.assert_array_equal(m[7:-5], np.arange(len(SEQ) - 12))


def test_align_point_mutation_and_missing_loop():
    mutant = SEQ[:50] + ("A" if SEQ[50] != "A" else "G") + SEQ[51:]
    np.testing.assert_array_equal(align(mutant, SEQ), np.arange(len(SEQ)))
    gapped = SEQ[:60] + SEQ[70:]  # ten residues disordered in the crystal
    m = align(SEQ, gapped)
    np.testing.assert_array_equal(m[:60], np.arange(60))
    assert (m[60:70] == -1).all()
    np.testing.assert_array_equal(m[70:], np.arange(60, len(gapped)))


def test_align_refuses_a_wrong_sequence():
    other = read_chain(DATA / "1TEN_A.pdb").sequence
    with pytest.raises(ContactplugError, match="sequence does not match structure"):
        align(other, SEQ)
    with pytest.raises(ContactplugError, match="sequence does not match structure"):
        align(SEQ[:20], SEQ[60:])


def test_align_long_sequences_vectorized():
    rng = np.random.default_rng(0)
    q = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 1500))
    t = q[10:700] + q[720:1490]
    m = align(q, t)
    np.testing.assert_array_equal(m[10:700], np.arange(690))
    np.testing.assert_array_equal(m[720:1490], np.arange(690, 1460))


def test_true_contacts_match_hand_distances():
    chain = read_chain(DATA / "1CTF_A.pdb")
    raw = atoms(DATA / "1CTF_A.pdb")
    contacts, valid = true_contacts(chain.sequence, chain, cutoff=8.0, atom="CB")
    assert (contacts == contacts.T).all() and not contacts.diagonal().any()
    cb = [r.get("CB", virtual_cb(r["N"], r["CA"], r["C"])) for r in raw]
    for i, j in [(0, 10), (5, 30), (12, 40), (20, 21), (33, 60)]:
        assert contacts[i, j] == (np.linalg.norm(cb[i] - cb[j]) < 8.0)
    ca_contacts, _ = true_contacts(chain.sequence, chain, atom="CA")
    assert (ca_contacts != contacts).any()
    with pytest.raises(ContactplugError, match="CB or CA"):
        true_contacts(chain.sequence, chain, atom="N")


def test_true_contacts_over_query_positions_with_a_tag():
    chain = read_chain(DATA / "1CTF_A.pdb")
    base, _ = true_contacts(chain.sequence, chain)
    contacts, valid = true_contacts("HHHHHH" + chain.sequence, chain)
    assert contacts.shape == (74, 74)
    assert not valid[:6].any() and not valid[:, :6].any()
    np.testing.assert_array_equal(contacts[6:, 6:], base)
