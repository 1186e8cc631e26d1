"""evaluate.py: precision per range against real structures, structure matching, writers, CLI."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from contactplug.cli import main
from contactplug.evaluation.metrics import (
    METRICS,
    evaluate_map,
    evaluate_maps,
    precision,
)
from contactplug.files.contactmap import ContactMap, load
from contactplug.files.errors import ContactplugError
from contactplug.files.specs import RANGES
from contactplug.inputs.structure import (
    index_structures,
    match_structure,
    read_chain,
    true_contacts,
)

DATA = Path(__file__).parent / "data"


def truth(name: str):
    chain = read_chain(DATA / f"{name}.pdb")
    contacts, valid = true_contacts(chain.sequence, chain)
    return chain.sequence, contacts, valid


def make_map(name: str, scores: np.ndarray, method: str = "attention", seq=None) -> ContactMap:
    seq = seq or read_chain(DATA / f"{name}.pdb").sequence
    s = 0.5 * (scores + scores.T)
    np.fill_diagonal(s, 0)
    return ContactMap(s, seq, name, method, "esm2_t6_8M_UR50D", 1, 0.25)


def hand_counts(contacts, valid, lo, hi):
    n = contacts.shape[0]
    total = true = 0
    for i in range(n):
        for j in range(i + 1, n):
            if lo <= j - i and (hi is None or j - i <= hi) and valid[i, j]:
                total += 1
                true += int(contacts[i, j])
    return total, true


def test_perfect_map_scores_one_where_contacts_suffice():
    seq, contacts, valid = truth("1AQT_A")
    res = precision(contacts.astype(float), contacts, valid)
    L = len(seq)
    checked = 0
    for name in RANGES:
        for label, k in (("L", 1), ("L/2", 2), ("L/5", 5)):
            if res[f"n_true_{name}"] >= max(1, L // k):
                assert res[f"{name}_P@{label}"] == 1.0
                checked += 1
    assert checked >= 6
    assert res["long_P@L"] == 1.0  # 146 long-range contacts for L = 135


def test_reversed_map_scores_low():
    seq, contacts, valid = truth("1AQT_A")
    res = precision(-contacts.astype(float), contacts, valid)
    for metric in METRICS:
        assert res[metric] == 0.0, metric
    rng = np.random.default_rng(0)
    noisy = precision(rng.random(contacts.shape), contacts, valid)
    assert noisy["long_P@L"] < 0.2


def test_base_rate_and_counts_match_a_hand_count():
    for name in ("1CTF_A", "1TEN_A"):
        seq, contacts, valid = truth(name)
        res = precision(np.zeros(contacts.shape), contacts, valid)
        for rng_name, (lo, hi) in RANGES.items():
            total, true = hand_counts(contacts, valid, lo, hi)
            assert res[f"n_valid_{rng_name}"] == total
            assert res[f"n_true_{rng_name}"] == true
            assert res[f"{rng_name}_base_rate"] == pytest.approx(true / total)


def test_ties_are_broken_by_position():
    seq, contacts, valid = truth("1CTF_A")
    res = precision(np.ones(contacts.shape), contacts, valid)
    L = len(seq)
    i, j = np.triu_indices(L, k=24)
    keep = valid[i, j]
    first = contacts[i[keep], j[keep]][: L // 2]
    assert res["long_P@L/2"] == pytest.approx(first.mean())


def test_fewer_valid_pairs_than_n_takes_all_and_empty_range_is_nan():
    contacts = np.zeros((30, 30), bool)
    contacts[0, 25] = contacts[25, 0] = True
    valid = np.zeros((30, 30), bool)
    valid[0, 25] = valid[25, 0] = valid[1, 29] = valid[29, 1] = True
    res = precision(np.ones((30, 30)), contacts, valid)
    assert res["long_P@L"] == 0.5  # two valid long pairs, n = 30
    assert res["long_P@L/5"] == 0.5
    assert np.isnan(res["short_P@L"]) and np.isnan(res["short_base_rate"])
    assert res["n_valid_short"] == 0


def test_evaluate_map_with_a_tagged_query():
    seq, contacts, valid = truth("2BWF_A")
    tagged = "HHHHHH" + seq
    scores = np.zeros((len(tagged), len(tagged)))
    scores[6:, 6:] = contacts
    row = evaluate_map(make_map("2BWF_A", scores, seq=tagged), DATA / "2BWF_A.pdb")
    assert row["L"] == len(tagged) and row["aligned"] == len(seq) and row["chain"] == "A"
    assert row["long_P@L/5"] == 1.0
    assert row["id"] == "2BWF_A" and row["n_forward"] == 1 and row["seconds"] == 0.25


def test_match_structure_by_id(tmp_path):
    shutil.copy(DATA / "1CTF_A.pdb", tmp_path / "1CTF_A.pdb")
    with gzip.open(tmp_path / "1TEN.cif.gz", "wb") as handle:
        handle.write((DATA / "formats" / "1TEN_A.cif").read_bytes())
    (tmp_path / "notes.txt").write_text("not a structure")
    index = index_structures(tmp_path)
    assert sorted(index) == ["1ctf_a", "1ten"]
    assert match_structure("1CTF_A", index) == (tmp_path / "1CTF_A.pdb", None)
    assert match_structure("1ctf_a", index, "A") == (tmp_path / "1CTF_A.pdb", "A")
    assert match_structure("1TEN_A", index) == (tmp_path / "1TEN.cif.gz", "A")
    assert match_structure("1TEN", index) == (tmp_path / "1TEN.cif.gz", None)
    assert match_structure("2XYZ_A", index) is None


def test_evaluate_maps_skips_unmatched_with_a_statement(tmp_path, caplog):
    good = make_map("1CTF_A", truth("1CTF_A")[1].astype(float))
    lost = ContactMap(np.zeros((12, 12)), "ACDEFGHIKLMN", "lost", "attention", "m")
    rows, skipped = evaluate_maps([good, lost], DATA)
    assert [r["id"] for r in rows] == ["1CTF_A"]
    assert skipped[0]["id"] == "lost" and "no structure file" in skipped[0]["reason"]
    assert "skipped lost" in caplog.text
    with pytest.raises(ContactplugError, match="no structure file"):
        evaluate_maps([lost], DATA)
    with pytest.raises(ContactplugError, match="no map could be evaluated"):
        evaluate_maps([lost, lost], DATA)


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_evaluate_writes_json_and_csv(tmp_path, capsys):
    maps = tmp_path / "maps"
    for name in ("1CTF_A", "1GUU_A"):
        make_map(name, truth(name)[1].astype(float)).save(maps / f"{name}.npz")
    code, out, err = run_cli(
        ["evaluate", maps, "--structure", DATA, "-o", tmp_path / "res"], capsys
    )
    assert code == 0, err
    assert "1CTF_A" in out and "long_P@L" in out
    doc = json.loads((tmp_path / "res.json").read_text())
    assert doc["settings"] == {"cutoff": 8.0, "atom": "CB"}
    assert [r["id"] for r in doc["results"]] == ["1CTF_A", "1GUU_A"]
    with open(tmp_path / "res.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and float(rows[0]["long_P@L/5"]) == 1.0
    code, _, err = run_cli(
        [
            "evaluate",
            maps / "1CTF_A.npz",
            "--structure",
            DATA / "1CTF_A.pdb",
            "--atom",
            "CA",
            "-o",
            tmp_path / "one.csv",
        ],
        capsys,
    )
    assert code == 0 and (tmp_path / "one.csv").exists() and not (tmp_path / "one.json").exists()


def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys):
    cmap = make_map("1CTF_A", truth("1CTF_A")[1].astype(float))
    npz = cmap.save(tmp_path / "1CTF_A.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    bad_pdb = tmp_path / "bad.pdb"
    bad_pdb.write_text("HELLO\n")
    cases = [
        (["evaluate", npz, "--structure", DATA / "1CTF_A.pdb", "--chain", "Q"], "chain 'Q'"),
        (["evaluate", npz, "--structure", bad_pdb], "cannot read structure"),
        (["evaluate", npz, "--structure", DATA / "1TEN_A.pdb"], "does not match structure"),
        (["evaluate", tmp_path / "other.npz", "--structure", DATA], "not a contactplug map"),
        (["plot", tmp_path / "other.npz"], "not a contactplug map"),
        (["plot", npz, "--structure", DATA / "1CTF_A.pdb", "--chain", "Z"], "chain 'Z'"),
    ]
    for args, message in cases:
        out_flag = ["-o", tmp_path / ("x.png" if args[0] == "plot" else "x.json")]
        code, _, err = run_cli(args + out_flag, capsys)
        assert code == 2, args
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("contactplug: error:"), err
        assert message in lines[0]
        assert not (tmp_path / "x.json").exists() and not (tmp_path / "x.png").exists()


def test_cli_plot_writes_a_png(tmp_path, capsys):
    import matplotlib.image

    cmap = make_map("1GUU_A", truth("1GUU_A")[1].astype(float))
    npz = cmap.save(tmp_path / "1GUU_A.npz")
    assert load(npz).id == "1GUU_A"
    for extra, name in (([], "plain.png"), (["--structure", DATA / "1GUU_A.pdb"], "truth.png")):
        code, _, err = run_cli(["plot", npz, *extra, "-o", tmp_path / name], capsys)
        assert code == 0, err
        img = matplotlib.image.imread(tmp_path / name)
        assert img.shape[0] > 100 and img.std() > 0.01
    # issue 9: SVG and PDF by the suffix; any other suffix is refused in one line
    for name, start in (("map.svg", b"<?xml"), ("map.pdf", b"%PDF")):
        code, _, err = run_cli(["plot", npz, "-o", tmp_path / name], capsys)
        assert code == 0, err
        assert (tmp_path / name).read_bytes().startswith(start)
    code, _, err = run_cli(["plot", npz, "-o", tmp_path / "map.txt"], capsys)
    assert code == 2 and "*.png, *.svg or *.pdf" in err and not (tmp_path / "map.txt").exists()
