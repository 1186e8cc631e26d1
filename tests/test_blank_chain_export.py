"""A structure whose chain id is blank (PDB column 22 ' ', which gemmi reads as ''), predicted
and exported in author numbering (issue 21, item 9). The blank id had been taken for "no chain"
and replaced by "A", a chain such structures do not have (Rosetta 838A, ChimeraX /A:838). Now
each format follows its own rule: CNS names residues by resid only, ChimeraX without a chain
part, Rosetta refuses (its PDB numbering needs a chain letter; --renumber-map gives pose
numbering), CASP RR, Boltz and Chai-1 number by sequence position (author refused, as for any
chain; their index files name no chain or the model input's chain A)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import gemmi
import pytest
import yaml
from badinput import refused, run_cli

from contactplug.files.contactmap import load
from contactplug.files.rr import read_rr

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "1TEN_A.pdb"


@pytest.fixture(scope="module")
def blank(tmp_path_factory, tiny_model_path):
    """(folder, blank.pdb, its map, gemmi's author label per map position)."""
    folder = tmp_path_factory.mktemp("blank")
    st = gemmi.read_structure(str(EXAMPLE))
    for model in st:
        for chain in model:
            chain.name = ""
    st.setup_entities()
    pdb = folder / "blank.pdb"
    st.write_pdb(str(pdb))
    assert gemmi.read_structure(str(pdb))[0][0].name == ""  # blank in the file as written
    code, _, err = run_cli(["predict", pdb, "-o", folder / "maps", "--model", tiny_model_path])
    assert code == 0, err
    [npz] = (folder / "maps").glob("*.npz")
    assert npz.name == "blank.npz"  # the blank chain adds no `_` to the id
    residues = [r for r in gemmi.read_structure(str(pdb))[0][0] if r.name != "HOH"]
    labels = [f"{r.seqid.num}{r.seqid.icode.strip()}" for r in residues]
    return folder, pdb, npz, labels


def export(blank, fmt: str, numbering: str = "author", *extra) -> tuple[int, str, Path]:
    folder, _, npz, _ = blank
    out = folder / f"{fmt}-{numbering}-{len(extra)}"
    code, _, err = run_cli(["export", npz, "-f", fmt, "--numbering", numbering, "-o", out, *extra])
    return code, err, out


def csv_rows(blank, numbering: str = "author") -> list[dict]:
    code, err, out = export(blank, "csv", numbering)
    assert code == 0, err
    with open(out, newline="") as handle:
        return list(csv.DictReader(handle))


def author_pairs(blank) -> list[tuple[str, str]]:
    return [(r["author_i"], r["author_j"]) for r in csv_rows(blank)]


def test_the_map_keeps_the_blank_chain_and_the_structures_numbering(blank):
    _, _, npz, labels = blank
    cmap = load(npz)
    assert cmap.chain == "" and len(labels) == cmap.length
    assert [f"{n}{c}" for n, c in zip(cmap.resnum, cmap.icode, strict=True)] == labels


def test_csv_author_columns_are_the_structures_numbers(blank):
    _, _, _, labels = blank
    rows = csv_rows(blank)
    assert rows and all(r["author_i"] == labels[int(r["i"]) - 1] for r in rows)
    assert all(r["author_j"] == labels[int(r["j"]) - 1] for r in rows)


def test_cns_names_residues_by_resid_only(blank):
    code, err, out = export(blank, "cns")
    assert code == 0, err
    text = out.read_text()
    got = re.findall(r"^assign \(resid (\S+) and name \w+\) \(resid (\S+) and name", text, re.M)
    assert got == author_pairs(blank)
    assert "segid" not in text and " A)" not in text


def test_chimerax_specs_have_no_chain_part(blank):
    code, err, out = export(blank, "chimerax")
    assert code == 0, err
    lines = [ln.split() for ln in out.read_text().splitlines() if ln and not ln.startswith(";")]
    spec = re.compile(r"^:(\d+)@(CA|CB)$")
    got = [(spec.match(a).group(1), spec.match(b).group(1)) for a, b, _ in lines]
    assert got == author_pairs(blank)
    assert "/" not in out.read_text().replace("; colour", "")
    show = [ln for ln in out.with_suffix(".cxc").read_text().splitlines() if ln.startswith("show")]
    assert show and all(w.startswith(":") for w in show[0].split()[1:-1])


def test_chimerax_with_the_structure_colours_by_truth(blank):
    _, pdb, _, _ = blank
    code, err, out = export(blank, "chimerax", "author", "--structure", pdb)
    assert code == 0, err
    assert "truth against blank.pdb" in out.read_text()


def test_chimerax_refuses_a_blank_chain_beside_other_chains(blank):
    folder, pdb, npz, _ = blank
    st = gemmi.read_structure(str(pdb))
    copy = st[0][0].clone()
    copy.name = "B"
    st[0].add_chain(copy)
    st.setup_entities()
    two = folder / "two.pdb"
    st.write_pdb(str(two))
    argv = ["export", npz, "-f", "chimerax", "--numbering", "author", "--structure", two]
    refused([*argv, "-o", folder / "two-out"], r"chain id is blank and two.pdb has other "
            r"protein chains \(B\); ChimeraX cannot name a blank chain", root=folder)  # fmt: skip


def test_rosetta_refuses_author_numbering_and_renumbers_on_request(blank):
    folder, _, npz, labels = blank
    argv = ["export", npz, "-f", "rosetta", "--numbering", "author"]
    refused([*argv, "-o", folder / "ros"], r"chain id is blank .*Rosetta's PDB numbering names "
            r"a residue by number and chain letter .*--renumber-map FILE", root=folder)  # fmt: skip
    code, err, out = export(blank, "rosetta", "author", "--renumber-map", folder / "map.tsv")
    assert code == 0, err
    got = re.findall(r"^AtomPair \w+ (\S+) \w+ (\S+) ", out.read_text(), re.M)
    # pose numbering: each residue's 1-based place in the structure chain (all present here)
    want = [(str(labels.index(a) + 1), str(labels.index(b) + 1)) for a, b in author_pairs(blank)]
    assert got == want


@pytest.mark.parametrize("fmt", ["casp-rr", "boltz", "chai"])
def test_sequence_indexed_formats_refuse_author_numbering(blank, fmt):
    folder, _, npz, _ = blank
    argv = ["export", npz, "-f", fmt, "--numbering", "author", "-o", folder / f"{fmt}-refused"]
    argv += ["--pseudo-prob"] if fmt == "casp-rr" else []  # the tiny model has no calibration
    refused(argv, rf"{fmt} numbers residues by their position in the sequence", root=folder)


def test_sequence_indexed_formats_in_index_numbering(blank):
    _, _, npz, _ = blank
    want = [(int(r["i"]), int(r["j"])) for r in csv_rows(blank, "index")]
    code, err, out = export(blank, "casp-rr", "index", "--pseudo-prob")
    assert code == 0, err
    rr = read_rr(out)  # one chain: RR lines carry no chain letter
    assert [(i, j) for i, j, *_ in rr.pairs] == want
    assert not re.search(r"^[A-Za-z]\d", out.read_text(), re.M)
    code, err, out = export(blank, "boltz", "index")
    assert code == 0, err
    doc = yaml.safe_load(out.read_text())
    assert doc["sequences"][0]["protein"]["id"] == "A"  # the model input's chain, not blank
    got = [(c["contact"]["token1"], c["contact"]["token2"]) for c in doc["constraints"]]
    assert got == [(["A", i], ["A", j]) for i, j in want]
    code, err, out = export(blank, "chai", "index")
    assert code == 0, err
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["chainA"] for r in rows} == {r["chainB"] for r in rows} == {"A"}
    assert [(int(r["res_idxA"][1:]), int(r["res_idxB"][1:])) for r in rows] == want
