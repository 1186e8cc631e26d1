"""`contactplug export`: every format parsed back (ConKit, our RR reader, PyYAML, csv, the
Rosetta and CNS grammars token by token), author numbering on real PDB files, bad input."""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

import gemmi
import numpy as np
import pytest
import yaml

from contactplug.cli import main
from contactplug.files.contactmap import ContactMap
from contactplug.files.errors import ContactplugError
from contactplug.files.rr import read_rr
from contactplug.files.specs import parse_sep, parse_top
from contactplug.inputs.queries import from_structure
from contactplug.restraints.calibration import Calibration
from contactplug.restraints.pairs import Options, render

DATA = Path(__file__).parent / "data"
SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ"  # 65, has Gly
BUCKET_NAMES = ("local", "short", "medium", "long")
CALIB = Calibration(
    # P rises with the score: index = -log((rank+1)/L), mapped by monotone knots
    coef={name: [0.0, -1.0, 0.0] for name in BUCKET_NAMES},
    knots={name: [[-5.0, 0.01], [0.0, 0.3], [4.0, 0.9]] for name in BUCKET_NAMES},
    method="attention",
)


def scores(L: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(L, L))
    s = s + s.T
    np.fill_diagonal(s, 0)
    return s


def plain_map(seq: str = SEQ, **kw) -> ContactMap:
    return ContactMap(scores(len(seq)), seq, "toy", "attention", "esm2_t6_8M_UR50D", **kw)


def structure_map(path: Path) -> ContactMap:
    q = from_structure(path)
    m = plain_map(q.record.sequence, chain=q.chain, resnum=q.resnum, icode=q.icode)
    m.id = q.record.id
    return m


def run(cmap, fmt, calibration=None, **kw):
    text, n, renum = render(cmap, Options(format=fmt, **kw), calibration)
    return text, n, renum


def gemmi_labels(path: Path) -> list[str]:
    """Author labels of the polymer residues, read independently of contactplug."""
    st = gemmi.read_structure(str(path))
    st.setup_entities()
    return [f"{r.seqid.num}{r.seqid.icode.strip()}" for r in st[0][0].get_polymer()]


# ---------------------------------------------------------------- selection
def test_parse_top_and_sep():
    assert parse_top("L", 100) == 100 and parse_top("L/5", 100) == 20
    assert parse_top("L/2", 65) == 32 and parse_top("2L", 50) == 100
    assert parse_top("17", 100) == 17 and parse_top("all", 100) is None
    assert parse_sep("long") == (24, None) and parse_sep("short") == (6, 11)
    assert parse_sep("medium") == (12, 23) and parse_sep("8", 30) == (8, 30)
    for bad in ("L/0", "x", "-3"):
        with pytest.raises(ContactplugError):
            parse_top(bad, 10)
    with pytest.raises(ContactplugError, match="min-sep"):
        parse_sep("far")


def test_selection_respects_range_top_and_order():
    m = plain_map()
    text, n, _ = run(m, "csv", top="L/5", min_sep="medium")
    rows = list(csv.DictReader(text.splitlines()))
    assert n == len(rows) == len(SEQ) // 5
    seps = [int(r["j"]) - int(r["i"]) for r in rows]
    assert all(12 <= s <= 23 for s in seps)
    got = [float(r["score"]) for r in rows]
    assert got == sorted(got, reverse=True)
    best = max(m.pairs(min_sep=12, max_sep=23), key=lambda t: t[2])
    assert (int(rows[0]["i"]), int(rows[0]["j"])) == (best[0] + 1, best[1] + 1)


def test_min_prob_uses_calibration():
    m = plain_map()
    text, n, _ = run(m, "csv", CALIB, top=None, min_prob=0.5)
    rows = list(csv.DictReader(text.splitlines()))
    assert n > 0 and all(float(r["probability"]) >= 0.5 for r in rows)
    with pytest.raises(ContactplugError, match="no calibration"):
        run(m, "csv", None, min_prob=0.5)


# ---------------------------------------------------------------- CASP RR
def test_casp_rr_read_by_conkit_and_by_us(tmp_path):
    conkit_io = pytest.importorskip("conkit.io", reason="ConKit (pip install --no-deps conkit)")
    m = plain_map()
    text, n, _ = run(m, "casp-rr", CALIB, top="L/2")
    path = tmp_path / "toy.rr"
    path.write_text(text)
    ours = read_rr(path)
    assert ours.sequence == SEQ and len(ours.pairs) == n == len(SEQ) // 2
    ps = [p for _, _, p in ours.pairs]
    assert ps == sorted(ps, reverse=True) and all(0 <= p <= 1 for p in ps)
    assert all(i < j and j - i >= 6 for i, j, _ in ours.pairs)
    P = CALIB.probabilities(m)
    for i, j, p in ours.pairs:
        assert p == pytest.approx(P[i - 1, j - 1], abs=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Bio.pairwise2 deprecation inside ConKit
        hierarchy = conkit_io.read(str(path), "casprr")
    cmap = hierarchy.top_map
    assert cmap.sequence.seq == SEQ
    theirs = [(c.res1_seq, c.res2_seq, c.raw_score, c.distance_bound) for c in cmap]
    assert [(i, j) for i, j, _, _ in theirs] == [(i, j) for i, j, _ in ours.pairs]
    assert [p for _, _, p, _ in theirs] == pytest.approx(ps, abs=1e-6)
    assert all(tuple(b) == (0.0, 8.0) for *_, b in theirs)
    # and the other way: ConKit writes it back (with ENDMDL), our reader reads that
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conkit_io.write(str(tmp_path / "conkit.rr"), "casprr", hierarchy)
    again = read_rr(tmp_path / "conkit.rr")
    assert again.sequence == SEQ
    assert [(i, j) for i, j, _ in again.pairs] == [(i, j) for i, j, _ in ours.pairs]
    assert [p for *_, p in again.pairs] == pytest.approx(ps, abs=1e-6)
    assert text.splitlines()[0] == "PFRMAT RR" and text.rstrip().endswith("END")
    assert all(len(line) <= 50 for line in text.split("MODEL  1\n")[1].splitlines()[:2])


def test_casp_rr_needs_probabilities_or_pseudo():
    m = plain_map()
    with pytest.raises(ContactplugError, match="--pseudo-prob"):
        run(m, "casp-rr")
    text, n, _ = run(m, "casp-rr", pseudo_prob=True, top="5")
    assert "PSEUDO-PROBABILITIES" in text and "NOT calibrated" in text
    assert [p for *_, p in read_rr_text(text)] == [1.0, 0.8, 0.6, 0.4, 0.2]
    with pytest.raises(ContactplugError, match="author"):
        run(plain_map(), "casp-rr", CALIB, numbering="author")


def read_rr_text(text: str):
    from contactplug.files.rr import parse_rr

    return parse_rr(text).pairs


# ---------------------------------------------------------------- Rosetta
FLOAT = r"-?\d+(?:\.\d+)?"


def rosetta_func_tokens(tokens: list[str]) -> list[str]:
    """Consume one FUNC as Rosetta's read_data does; returns leftover tokens."""
    name, rest = tokens[0], tokens[1:]
    if name == "SCALARWEIGHTEDFUNC":
        w = float(rest[0])
        assert 0 <= w <= 1
        return rosetta_func_tokens(rest[1:])
    if name == "SIGMOID":  # x0 slope
        float(rest[0]), float(rest[1])
        return rest[2:]
    if name == "BOUNDED":  # lb ub sd [rswitch] tag
        lb, ub, sd = map(float, rest[:3])
        assert lb < ub and sd > 0
        tag = rest[3]
        if re.fullmatch(FLOAT, tag):  # an rswitch; then the tag follows
            tag, rest = rest[4], rest[1:]
        assert not re.fullmatch(FLOAT, tag)
        return rest[4:]
    if name == "FADE":  # lb ub d wd [wo]
        lb, ub, d, wd = map(float, rest[:4])
        assert lb < ub and 0 < d <= (ub - lb) / 2 and wd < 0
        return rest[4:]
    raise AssertionError(f"unexpected function {name}")


@pytest.mark.parametrize("func", ["sigmoid", "bounded", "fade"])
@pytest.mark.parametrize("weighted", [False, True])
def test_rosetta_grammar(func, weighted):
    m = plain_map()
    text, n, _ = run(m, "rosetta", CALIB, rosetta_func=func, weight="prob" if weighted else "none")
    lines = text.splitlines()
    assert len(lines) == n == len(SEQ)
    for line in lines:
        tok = line.split()
        assert tok[0] == "AtomPair"
        a1, r1, a2, r2 = tok[1:5]
        i, j = int(r1), int(r2)
        assert a1 == ("CA" if SEQ[i - 1] == "G" else "CB")
        assert a2 == ("CA" if SEQ[j - 1] == "G" else "CB")
        assert tok[5] == ("SCALARWEIGHTEDFUNC" if weighted else func.upper())
        assert rosetta_func_tokens(tok[5:]) == []
    if weighted:
        P = CALIB.probabilities(m)
        i, j = int(lines[0].split()[2]), int(lines[0].split()[4])
        assert float(lines[0].split()[6]) == pytest.approx(P[i - 1, j - 1], abs=1e-4)
    assert any(line.split()[1] == "CA" or line.split()[3] == "CA" for line in lines)


def test_rosetta_weights_need_calibration():
    with pytest.raises(ContactplugError, match="no calibration"):
        run(plain_map(), "rosetta", None, weight="prob")


# ---------------------------------------------------------------- CNS
CNS_LINE = re.compile(
    r"assign \((?:segid (\w+) and )?resid (-?\d+) and name (CA|CB)\) "
    r"\((?:segid (\w+) and )?resid (-?\d+) and name (CA|CB)\) "
    rf"({FLOAT}) ({FLOAT}) ({FLOAT})( ! .*)?$"
)


def test_cns_selections_and_bounds():
    text, n, _ = run(plain_map(), "cns", CALIB, lower=4.0, upper=7.5, segid="B")
    lines = [ln for ln in text.splitlines() if not ln.startswith("!")]
    assert len(lines) == n
    for line in lines:
        m = CNS_LINE.match(line)
        assert m, line
        seg1, i, a1, seg2, j, a2, d, dm, dp, _ = m.groups()
        assert seg1 == seg2 == "B"
        assert a1 == ("CA" if SEQ[int(i) - 1] == "G" else "CB")
        assert a2 == ("CA" if SEQ[int(j) - 1] == "G" else "CB")
        # CNS: allowed range is [d - d-, d + d+]
        assert float(d) - float(dm) == pytest.approx(4.0)
        assert float(d) + float(dp) == pytest.approx(7.5)
    with pytest.raises(ContactplugError, match="lower < upper"):
        run(plain_map(), "cns", upper=3.0)


# ---------------------------------------------------------------- Boltz
def check_boltz(doc: dict, seq: str, chain: str) -> list:
    """The Boltz docs' schema for a contact constraint."""
    ids = {}
    for entry in doc["sequences"]:
        ((kind, body),) = entry.items()
        for cid in body["id"] if isinstance(body["id"], list) else [body["id"]]:
            ids[cid] = body.get("sequence")
    assert ids[chain] == seq
    contacts = [c["contact"] for c in doc["constraints"] if "contact" in c]
    for c in contacts:
        assert set(c) <= {"token1", "token2", "max_distance", "force"}
        for tok in (c["token1"], c["token2"]):
            cid, res = tok
            assert cid in ids and isinstance(res, int) and 1 <= res <= len(ids[cid])
        assert 4.0 <= c["max_distance"] <= 20.0
        assert isinstance(c["force"], bool)
    return contacts


def test_boltz_yaml_schema():
    text, n, _ = run(plain_map(), "boltz", chain="C", upper=6.0, force=True)
    doc = yaml.safe_load(text)
    assert doc["version"] == 1
    contacts = check_boltz(doc, SEQ, "C")
    assert len(contacts) == n and all(c["force"] for c in contacts)
    assert all(c["max_distance"] == 6.0 for c in contacts)
    with pytest.raises(ContactplugError, match=r"\[4, 20\]"):
        run(plain_map(), "boltz", upper=25.0)


def test_boltz_merge_keeps_user_keys(tmp_path):
    user = {
        "version": 1,
        "sequences": [
            {"protein": {"id": ["A", "B"], "sequence": SEQ, "msa": "./x.a3m"}},
            {"ligand": {"id": "L", "ccd": "SAH"}},
        ],
        "constraints": [{"pocket": {"binder": "L", "contacts": [["A", 5]], "max_distance": 6}}],
        "templates": [{"cif": "t.cif"}],
        "properties": [{"affinity": {"binder": "L"}}],
    }
    src = tmp_path / "in.yaml"
    src.write_text(yaml.safe_dump(user, sort_keys=False))
    text, n, _ = run(plain_map(), "boltz", chain="B", merge=str(src))
    doc = yaml.safe_load(text)
    for key in ("templates", "properties", "version"):
        assert doc[key] == user[key]
    assert doc["sequences"] == user["sequences"]
    assert doc["constraints"][0] == user["constraints"][0]
    assert len(check_boltz(doc, SEQ, "B")) == n == len(doc["constraints"]) - 1
    assert yaml.safe_load(src.read_text()) == user  # the input is not touched
    with pytest.raises(ContactplugError, match="no polymer chain 'Z'"):
        run(plain_map(), "boltz", chain="Z", merge=str(src))
    with pytest.raises(ContactplugError, match="differs"):
        run(plain_map(SEQ[:-1]), "boltz", chain="A", merge=str(src))


# ---------------------------------------------------------------- Chai-1
def test_chai_csv_round_trip():
    text, n, _ = run(plain_map(), "chai", CALIB, chain="A", upper=10.0)
    rows = list(csv.DictReader(text.splitlines()))
    assert text.splitlines()[0] == (
        "chainA,res_idxA,chainB,res_idxB,connection_type,confidence,"
        "min_distance_angstrom,max_distance_angstrom,comment,restraint_id"
    )
    assert len(rows) == n and len({r["restraint_id"] for r in rows}) == n
    for r in rows:
        for key in ("res_idxA", "res_idxB"):
            letter, pos = r[key][0], int(r[key][1:])
            assert SEQ[pos - 1] == letter
        assert r["connection_type"] == "contact" and r["chainA"] == r["chainB"] == "A"
        assert 0 <= float(r["confidence"]) <= 1
        assert float(r["min_distance_angstrom"]) <= float(r["max_distance_angstrom"]) == 10.0
    # uncalibrated: confidence left empty (Chai reads 1.0), never a raw score
    text, _, _ = run(plain_map(), "chai", None)
    assert all(r["confidence"] == "" for r in csv.DictReader(text.splitlines()))


# ---------------------------------------------------------------- author numbering
def test_author_numbering_offset_structure():
    """1TEN_A is numbered from 802: CSV, CNS and Rosetta use the file's numbers."""
    path = DATA / "1TEN_A.pdb"
    labels = gemmi_labels(path)
    assert labels[0] != "1"
    m = structure_map(path)
    text, n, _ = run(m, "csv", top="10")
    for r in csv.DictReader(text.splitlines()):
        assert r["author_i"] == labels[int(r["i"]) - 1]
        assert r["author_j"] == labels[int(r["j"]) - 1]
    text, _, _ = run(m, "cns", top="10", numbering="author")
    for line in text.splitlines()[2:]:
        g = CNS_LINE.match(line).groups()
        assert g[1] in labels and g[4] in labels
    text, _, _ = run(m, "rosetta", top="10", numbering="author")
    for line in text.splitlines():
        tok = line.split()
        assert tok[2].endswith("A") and tok[2][:-1] in labels  # PDB numbering: "830A"
        assert rosetta_func_tokens(tok[5:]) == []


def test_insertion_codes_refused_or_renumbered(tmp_path):
    path = DATA / "1TEN_A_icode.pdb"
    labels = gemmi_labels(path)
    with_icode = [k for k, lab in enumerate(labels) if not lab.lstrip("-").isdigit()]
    assert with_icode
    m = structure_map(path)
    everything = dict(top=None, min_sep="1")
    for fmt in ("rosetta", "cns"):
        with pytest.raises(ContactplugError, match="insertion codes"):
            run(m, fmt, numbering="author", **everything)
    text, n, renum = run(
        m, "cns", numbering="author", renumber_map=str(tmp_path / "map.tsv"), **everything
    )
    table = [ln.split("\t") for ln in renum.splitlines()[2:]]
    assert [t[2] for t in table] == labels and [int(t[0]) for t in table] == list(
        range(1, len(labels) + 1)
    )
    # csv carries the insertion codes as they are
    text, _, _ = run(m, "csv", **everything)
    authors = {r["author_i"] for r in csv.DictReader(text.splitlines())}
    assert {labels[k] for k in with_icode} <= authors


def test_structure_option_aligns_and_skips_missing(tmp_path, caplog):
    """A map made from a FASTA, numbered through --structure; residues the file lacks are
    reported and their pairs skipped."""
    st = gemmi.read_structure(str(DATA / "1TEN_A.pdb"))
    chain = st[0][0]
    # residues 34-36 (LTY): the letters either side differ, so the gap has one alignment
    removed = [chain[k].seqid.num for k in (33, 34, 35)]
    for k in (35, 34, 33):
        del chain[k]
    gap = tmp_path / "gap.pdb"
    st.write_pdb(str(gap))
    full = from_structure(DATA / "1TEN_A.pdb").record.sequence
    m = plain_map(full)  # no resnum: made from a sequence
    text, n, _ = run(m, "csv", top=None, min_sep="1", numbering="author", structure=str(gap))
    rows = list(csv.DictReader(text.splitlines()))
    labels = gemmi_labels(DATA / "1TEN_A.pdb")
    assert rows and all(r["author_i"] == labels[int(r["i"]) - 1] for r in rows)
    assert not {int(r["author_i"]) for r in rows} & set(removed)
    assert not {int(r["author_j"]) for r in rows} & set(removed)
    assert "34, 35, 36" in caplog.text and "skipped" in caplog.text
    with pytest.raises(ContactplugError, match="--structure"):
        run(m, "cns", numbering="author")


# ---------------------------------------------------------------- CLI and bad input
def test_cli_formats_and_folder(tmp_path):
    a, b = plain_map(), plain_map(SEQ[:40])
    b.id = "short"
    a.save(tmp_path / "in" / "toy.npz")
    b.save(tmp_path / "in" / "short.npz")
    out = tmp_path / "out"
    assert main(["-q", "export", str(tmp_path / "in"), "-f", "rosetta", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["short.cst", "toy.cst"]
    assert len((out / "short.cst").read_text().splitlines()) == 40  # top L
    assert not list(out.glob(".*tmp"))
    # one map into an existing folder: <folder>/<id><ext>
    assert (
        main(["-q", "export", str(tmp_path / "in" / "toy.npz"), "-f", "tsv", "-o", str(out)]) == 0
    )
    assert (out / "toy.tsv").read_text().startswith("i\tj\tresname_i")


def test_cli_bad_input_one_line_exit_2(tmp_path, capsys):
    plain_map().save(tmp_path / "toy.npz")
    src = str(tmp_path / "toy.npz")
    cases = [
        (["-f", "pdbx"], "unknown format"),
        (["-f", "csv", "--min-prob", "0.5"], "no calibration"),
        (["-f", "casp-rr"], "--pseudo-prob"),
        (["-f", "boltz", "--numbering", "author"], "position in the sequence"),
        (["-f", "csv", "--top", "L/x"], "--top"),
        (["-f", "csv", "--calibration", str(tmp_path / "none.json")], "cannot read"),
        (["-f", "csv", "--renumber-map", str(tmp_path / "m.tsv")], "--renumber-map applies"),
    ]
    for extra, words in cases:
        out = tmp_path / "o.txt"
        rc = main(["export", src, "-o", str(out), *extra])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and words in err, (extra, err)
        assert len(err.splitlines()) == 1 and err.startswith("contactplug: error:")
        assert not out.exists()


def test_empty_selection_writes_valid_empty_files(tmp_path, caplog):
    plain_map().save(tmp_path / "toy.npz")
    for fmt in ("casp-rr", "boltz", "chai", "rosetta", "cns", "tsv"):
        out = tmp_path / f"empty.{fmt}"
        extra = ["--pseudo-prob"] if fmt == "casp-rr" else []
        rc = main(["export", str(tmp_path / "toy.npz"), "-f", fmt, "-o", str(out),
                   "--min-sep", "500", *extra])  # fmt: skip
        assert rc == 0 and out.exists()
    assert "no pair passes" in caplog.text
    assert read_rr(tmp_path / "empty.casp-rr") == (SEQ, [])
    assert yaml.safe_load((tmp_path / "empty.boltz").read_text())["constraints"] == []
    assert (tmp_path / "empty.rosetta").read_text() == ""
    assert len((tmp_path / "empty.chai").read_text().splitlines()) == 1


def test_cli_with_calibration_file(tmp_path):
    plain_map().save(tmp_path / "toy.npz")
    CALIB.save(tmp_path / "c.json")
    out = tmp_path / "toy.rr"
    args = ["-q", "export", str(tmp_path / "toy.npz"), "-f", "casp-rr", "-o", str(out)]
    assert main([*args, "--calibration", str(tmp_path / "c.json"), "--top", "L/5"]) == 0
    rr = read_rr(out)
    assert len(rr.pairs) == len(SEQ) // 5 and "calibrated" in out.read_text()
