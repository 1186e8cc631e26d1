"""`evaluate` on complexes, against the real multi-chain 1tii.pdb (gemmi): per chain rows as
for single chains, `inter A-B` rows hand-counted with their random baselines, homo-oligomer
counting, candidate interface contacts of a single chain, bad chains in one line, and a single
chain's output byte for byte what it was before complexes."""

from __future__ import annotations

import itertools
import json
import math
import shutil
from math import comb
from pathlib import Path

import numpy as np
import pytest
from complex_maps import TII, chains, complex_map, distances, single_map

from contactplug.cli import main
from contactplug.evaluation.interface import (
    HOMO_NOTE,
    covered_by_chance,
    interface_candidates,
    interface_recall,
)
from contactplug.evaluation.metrics import evaluate_map, evaluate_maps, evaluate_rows
from contactplug.files.errors import ContactplugError
from contactplug.inputs.chains import write_chain
from contactplug.inputs.complex_structure import match_complex_structure
from contactplug.inputs.structure import index_structures

GOLDEN = Path(__file__).parent / "data" / "single_chain_golden"


def inter_truth(a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
    """(contacts, valid) between two chains, by hand: Cβ-Cβ < 8 Å."""
    ca, cb = chains(a, b)
    d = distances(ca.cb, cb.cb)
    return np.nan_to_num(d, nan=np.inf) < 8.0, np.isfinite(d)


def block_scores(names: str, block: np.ndarray) -> np.ndarray:
    """Whole-complex scores that are zero but for the first-second chain block."""
    la, lb = block.shape
    s = np.zeros((la + lb, la + lb))
    s[:la, la:] = block
    return s + s.T


def hand_top(scores: np.ndarray, truth: np.ndarray, valid: np.ndarray, n: int) -> float:
    pairs = sorted(
        ((-scores[i, j], i, j) for i, j in zip(*np.nonzero(valid), strict=True)),
    )
    return float(np.mean([truth[i, j] for _, i, j in pairs[:n]]))


def row_of(rows: list[dict], chain: str) -> dict:
    [row] = [r for r in rows if r["chain"] == chain]
    return row


def test_hetero_pair_row_matches_a_hand_count():
    truth, valid = inter_truth("A", "C")
    noise = np.random.default_rng(1).random(truth.shape)
    scores = truth * 0.3 + noise  # a weak signal: neither all right nor all wrong
    rows = evaluate_rows(complex_map("AC", block_scores("AC", scores)), TII)
    assert [r["chain"] for r in rows] == ["A", "C", "inter A-C"]
    row = row_of(rows, "inter A-C")
    l_min = min(truth.shape)
    assert row["L"] == l_min == 36 and row["identical_chains"] == "no"
    for label, n in (("5", 5), ("10", 10), ("Lmin/5", l_min // 5)):
        assert row[f"inter_P@{label}"] == pytest.approx(hand_top(scores, truth, valid, n))
    assert row["n_valid_inter"] == valid.sum() and row["n_true_inter"] == truth.sum()
    assert row["inter_base_rate"] == pytest.approx(truth.sum() / valid.sum())
    assert 0 < row["inter_base_rate"] < 0.05  # an interface is a small share of the pairs
    assert "across_P@5" not in row and "note" not in row


def test_perfect_and_reversed_inter_maps():
    truth, _ = inter_truth("A", "C")
    good = row_of(
        evaluate_rows(complex_map("AC", block_scores("AC", truth * 1.0)), TII), "inter A-C"
    )
    bad = row_of(
        evaluate_rows(complex_map("AC", block_scores("AC", -1.0 * truth)), TII), "inter A-C"
    )
    assert good["inter_P@5"] == good["inter_P@10"] == good["inter_P@Lmin/5"] == 1.0
    assert bad["inter_P@5"] == bad["inter_P@10"] == bad["inter_P@Lmin/5"] == 0.0
    assert good["inter_base_rate"] == bad["inter_base_rate"]
    assert good["interface_recall"] > good["interface_recall_base"] > 0


def test_chain_rows_are_each_block_scored_as_a_single_chain():
    cmap = complex_map("AC", seed=3)
    rows = evaluate_rows(cmap, TII)
    for name, first, end in cmap.chain_spans():
        block = cmap.contacts[first:end, first:end]
        alone = evaluate_map(single_map(name, block.astype(np.float64)), TII, name)
        row = row_of(rows, name)
        assert {k: v for k, v in row.items() if k not in ("id", "complex")} == {
            k: v for k, v in alone.items() if k != "id"
        }


def test_recall_baseline_is_the_exact_chance_of_random_pairs():
    assert covered_by_chance(np.array([3.0]), 10, 2)[0] == pytest.approx(
        1 - comb(7, 2) / comb(10, 2)
    )
    # every draw of 2 pairs from a 3 x 3 block, enumerated: the mean recall is the baseline
    truth = np.zeros((3, 3), bool)
    truth[0, 1] = truth[2, 1] = True
    valid = np.ones((3, 3), bool)
    valid[2, 2] = False
    cells = list(zip(*np.nonzero(valid), strict=True))
    recalls = []
    for draw in itertools.combinations(cells, 2):
        i, j = np.array([c[0] for c in draw]), np.array([c[1] for c in draw])
        recalls.append(interface_recall(truth, valid, i, j, homo=False)[0])
    _, base, n_face = interface_recall(truth, valid, np.array([0, 1]), np.array([0, 0]), False)
    assert n_face == 3 and base == pytest.approx(np.mean(recalls))
    # identical chains: a position is one residue, touched from either copy
    homo = [interface_recall(truth, valid, np.array([c[0] for c in draw]),
                             np.array([c[1] for c in draw]), homo=True)[0]
            for draw in itertools.combinations(cells, 2)]  # fmt: skip
    _, base, n_face = interface_recall(truth, valid, np.array([0, 1]), np.array([0, 0]), True)
    assert (
        n_face == 3
        and base == pytest.approx(np.mean(homo))
        and base != pytest.approx(np.mean(recalls))
    )


def own_contacts(name: str) -> np.ndarray:
    [c] = chains(name)
    return np.nan_to_num(distances(c.cb, c.cb), nan=np.inf) < 8.0


SEP6 = np.abs(np.subtract.outer(np.arange(98), np.arange(98))) >= 6


def test_homo_pair_counts_within_either_copy_or_across():
    across, valid = inter_truth("D", "E")
    within = own_contacts("D") | own_contacts("E")
    # scores: D's own long contacts, put in the D-E block: right under homo counting only
    scores = (own_contacts("D") & SEP6 & ~across & ~across.T) * 1.0
    row = row_of(evaluate_rows(complex_map("DE", block_scores("DE", scores)), TII), "inter D-E")
    assert row["identical_chains"] == "yes" and row["note"] == HOMO_NOTE
    assert row["inter_P@10"] == 1.0 and row["across_P@10"] == 0.0
    assert row["across_base_rate"] == pytest.approx(across.sum() / valid.sum())
    lenient = (across | across.T | (within & SEP6)) & valid
    assert row["inter_base_rate"] == pytest.approx(lenient.sum() / valid.sum())
    assert row["inter_base_rate"] > 3 * row["across_base_rate"]
    hetero = row_of(evaluate_rows(complex_map("AC"), TII), "inter A-C")
    assert hetero["identical_chains"] == "no"


def test_candidates_of_a_single_chain_against_its_pentamer():
    copies = chains(*"DEFGH")
    within = np.min([np.nan_to_num(distances(c.cb, c.cb), nan=np.inf) for c in copies], axis=0)
    across = np.min([np.nan_to_num(distances(c.cb, o.cb), nan=np.inf)
                     for c in copies for o in copies if o is not c], axis=0)  # fmt: skip
    across_de, _ = inter_truth("D", "E")
    cmap = single_map("D", (across_de | across_de.T) * 1.0)
    found = interface_candidates(cmap, TII)
    assert found["copies"] == ["D", "E", "F", "G", "H"] and found["chain"] == "D"
    top = cmap.pairs(min_sep=6, top=98)
    expect = [(i, j) for i, j, _ in top if within[i, j] >= 8.0 and across[i, j] < 8.0]
    assert found["candidates"] == len(expect) > 5 and found["top"] == 98
    assert [(int(p["i"]) - 1, int(p["j"]) - 1) for p in found["pairs"]] == expect
    assert found["far_within"] == sum(within[i, j] >= 8.0 for i, j, _ in top)
    pool = np.triu(SEP6) & (within >= 8.0) & np.isfinite(within)
    assert found["base_rate"] == pytest.approx((across[pool] < 8.0).mean())
    own = interface_candidates(single_map("D", own_contacts("D") * 1.0), TII)
    assert own["candidates"] == 0  # a chain's own contacts are never across-copy candidates


def test_no_candidates_without_another_copy(tmp_path):
    alone = write_chain(TII, "D", tmp_path / "1tii_D.cif")
    assert interface_candidates(single_map("D", np.zeros((98, 98))), alone) is None


def test_match_complex_structure(tmp_path):
    shutil.copy(TII, tmp_path / "1TII.pdb")
    index = index_structures(tmp_path)
    for name in ("1tii", "1TII_A_C", "1tii_AC", "1tii.A-C", "1tii_A_C_D"):
        assert match_complex_structure(name, index) == tmp_path / "1TII.pdb"
    assert match_complex_structure("2abc_A_B", index) is None
    shutil.copy(TII, tmp_path / "1tii_A_C.pdb")
    index = index_structures(tmp_path)
    assert match_complex_structure("1tii_A_C", index) == tmp_path / "1tii_A_C.pdb"


def test_folder_of_structures_finds_a_complex_by_its_id(tmp_path):
    (tmp_path / "st").mkdir()
    shutil.copy(TII, tmp_path / "st" / "1tii.pdb")
    maps = [complex_map("AC", map_id="1tii_A_C"), complex_map("DE", map_id="1tii_D_E")]
    rows, skipped = evaluate_maps(maps, tmp_path / "st")
    assert not skipped and [r["chain"] for r in rows if r["chain"].startswith("inter")] == [
        "inter A-C",
        "inter D-E",
    ]


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_writes_inter_rows_with_baselines(tmp_path, capsys):
    complex_map("AC").save(tmp_path / "cx.npz")
    code, out, _ = run(["evaluate", str(tmp_path / "cx.npz"), "--structure", str(TII),
                        "-o", str(tmp_path / "m")], capsys)  # fmt: skip
    assert code == 0 and "inter-chain" in out and "random" in out
    doc = json.loads((tmp_path / "m.json").read_text())
    inter = [r for r in doc["results"] if r["chain"] == "inter A-C"]
    assert len(inter) == 1 and inter[0]["complex"] == "A,C"
    header, *lines = (tmp_path / "m.csv").read_text().splitlines()
    cols = header.split(",")
    assert len(lines) == 3 and "inter_P@Lmin/5" in cols and "inter_base_rate" in cols
    cells = dict(zip(cols, lines[2].split(","), strict=True))
    assert cells["chain"] == "inter A-C" and cells["inter_base_rate"] and cells["long_P@L"] == ""
    assert math.isclose(float(cells["inter_P@10"]), inter[0]["inter_P@10"], abs_tol=1e-4)


def test_cli_fasta_letters_are_renamed_by_chain(tmp_path, capsys):
    complex_map("AC", chain_ids=["A", "B"]).save(tmp_path / "cx.npz")
    args = [
        "evaluate",
        str(tmp_path / "cx.npz"),
        "--structure",
        str(TII),
        "-o",
        str(tmp_path / "m"),
    ]
    code, _, err = run(args, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "chain letters disagree" in err and "matches chain 'C'" in err
    code, out, _ = run([*args, "--chain", "A,C"], capsys)
    assert code == 0 and "A-C" in out


@pytest.mark.parametrize(
    "chain_ids, extra, words",
    [
        (
            ["A", "X"],
            [],
            "disagree: the map's chain 'X' is not in the structure; its sequence "
            "matches chain 'C' there",
        ),
        (["A", "D"], [], "chain letters disagree: the map's chain 'D'"),
        (["A", "C"], ["--chain", "A"], "names 1 chain"),
        (["A", "C"], ["--chain", "A,A"], "names a chain twice"),
    ],
)
def test_cli_bad_chains_are_one_line(tmp_path, capsys, chain_ids, extra, words):
    complex_map("AC", chain_ids=chain_ids).save(tmp_path / "cx.npz")
    code, _, err = run(["evaluate", str(tmp_path / "cx.npz"), "--structure", str(TII),
                        "-o", str(tmp_path / "m"), *extra], capsys)  # fmt: skip
    assert code == 2 and err.startswith("contactplug: error:") and words in err
    assert len(err.strip().splitlines()) == 1 and not list(tmp_path.glob("m.*"))


def test_cli_candidates_are_printed_and_in_the_json(tmp_path, capsys):
    across, _ = inter_truth("D", "E")
    single_map("D", (across | across.T) * 1.0).save(tmp_path / "d.npz")
    args = ["evaluate", str(tmp_path / "d.npz"), "--structure", str(TII)]
    code, out, _ = run([*args, "--interface-candidates", "-o", str(tmp_path / "m.json")], capsys)
    found = json.loads((tmp_path / "m.json").read_text())["results"][0]["interface_candidates"]
    assert code == 0 and found["candidates"] > 0 and "candidate interface contacts" in out


def test_a_single_chain_output_is_byte_for_byte_as_before(tmp_path, capsys):
    """The golden files were written by contactplug before complexes (commit 87c4d7c) from
    these same maps: a chain scored against the homo-oligomer and the A chain."""
    for name in "DA":
        [c] = chains(name)
        single_map(name, np.nan_to_num(-distances(c.cb, c.cb), nan=-100.0)).save(
            tmp_path / f"1tii_{name}.npz"
        )
    code, out, _ = run(["evaluate", str(tmp_path), "--structure", str(TII),
                        "-o", str(tmp_path / "single")], capsys)  # fmt: skip
    assert code == 0 and out == (GOLDEN / "single.txt").read_text()
    for suffix in (".csv", ".json"):
        assert (tmp_path / f"single{suffix}").read_bytes() == (
            GOLDEN / f"single{suffix}"
        ).read_bytes()


def test_complex_rows_refuse_a_single_chain_structure(tmp_path):
    alone = write_chain(TII, "A", tmp_path / "a.cif")
    with pytest.raises(ContactplugError, match="'C' is not a protein chain"):
        evaluate_rows(complex_map("AC"), alone)


def test_a_complex_picture_shows_chain_boundaries_and_each_pairs_top(tmp_path, capsys):
    from matplotlib.figure import Figure

    from contactplug.evaluation.plot import draw_map

    cmap = complex_map("AC", seed=2)
    ax = Figure().add_subplot(1, 1, 1)
    draw_map(ax, cmap)
    lines = {(tuple(line.get_xdata()), tuple(line.get_ydata())) for line in ax.lines}
    assert ((185.5, 185.5), (0, 1)) in lines and ((0, 1), (185.5, 185.5)) in lines
    top = ax.collections[0].get_offsets()  # the top pairs, drawn as (i, j) squares
    assert sum(i < 186 <= j for i, j in top) == 36 // 5
    cmap.save(tmp_path / "cx.npz")
    assert main(["plot", str(tmp_path / "cx.npz"), "--structure", str(TII),
                 "-o", str(tmp_path / "cx.png")]) == 0  # fmt: skip
    assert (tmp_path / "cx.png").stat().st_size > 10_000
    from contactplug.evaluation.plot import _complex_truth

    *_, words = _complex_truth(cmap, TII, None, 8.0)
    assert words[0].startswith("long-range P@L: A ") and "inter A-C P@Lmin/5" in words[1]
    assert "(random 0.011)" in words[1]  # never an inter-chain figure without its baseline


def test_predicted_complexes_from_structure_and_fasta_are_scored(tmp_path, capsys, tiny_model_path):
    """The whole path with fair-esm (a tiny random ESM2): predict --chains writes complex maps
    that evaluate finds by id in a folder of structures; the same complex from FASTA (chains
    lettered A, B) is scored once --chain names 1tii's chains, to the same figures."""
    (tmp_path / "st").mkdir()
    shutil.copy(TII, tmp_path / "st" / "1tii.pdb")
    model = ["--model", str(tiny_model_path)]
    for pick, out in (("A,C", "ac"), ("D,E", "de")):
        argv = ["predict", str(tmp_path / "st" / "1tii.pdb"), "--chains", pick, *model]
        assert main([*argv, "-o", str(tmp_path / out)]) == 0
    a, c = chains("A", "C")
    (tmp_path / "cx.fasta").write_text(f">1tii\n{a.sequence}:{c.sequence}\n")
    assert main(["predict", str(tmp_path / "cx.fasta"), *model, "-o", str(tmp_path / "fa")]) == 0
    capsys.readouterr()
    rows = {}
    for out, extra in (("ac", []), ("de", []), ("fa", ["--chain", "A,C"])):
        argv = ["evaluate", str(tmp_path / out), "--structure", str(tmp_path / "st"), *extra]
        code, printed, err = run([*argv, "-o", str(tmp_path / f"{out}.json")], capsys)
        assert code == 0 and "random" in printed, err
        rows[out] = json.loads((tmp_path / f"{out}.json").read_text())["results"]
    assert [r["chain"] for r in rows["ac"]] == ["A", "C", "inter A-C"]
    assert rows["de"][-1]["chain"] == "inter D-E" and rows["de"][-1]["identical_chains"] == "yes"
    assert [r["chain"] for r in rows["fa"]] == ["A", "C", "inter A-C"]
    for key in ("inter_P@10", "inter_base_rate", "interface_recall_base", "n_valid_inter"):
        assert rows["fa"][-1][key] == pytest.approx(rows["ac"][-1][key], abs=1e-6)
