"""`compare` with complexes (real 1tii.pdb): the inter-chain section and interchain.csv, every
inter-chain figure beside its random baseline, identical chains marked, complexes' chains as
rows of comparison.csv, costs counted once per map; and a report of single chains byte for
byte what it was before complexes."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from complex_maps import TII, complex_map, distance_map, other_method

from contactplug.cli import main
from contactplug.evaluation.metrics import evaluate_rows
from contactplug.evaluation.report import compare

GOLDEN = Path(__file__).parent / "data" / "single_chain_golden"


def folders(root: Path, with_complexes: bool) -> Path:
    """attn/ and cj/ (the names the golden report was written with) and st/1tii.pdb."""
    for name in ("attn", "cj", "st"):
        (root / name).mkdir(parents=True)
    shutil.copy(TII, root / "st" / "1tii.pdb")
    maps = [distance_map(n) for n in "DA"]
    if with_complexes:
        maps += [complex_map("AC", map_id="1tii_A_C"), complex_map("DE", map_id="1tii_D_E")]
    for m in maps:
        m.seconds = 1.0
        m.save(root / "attn" / f"{m.id}.npz")
        other_method(m, "jacobian", 1, 20.0).save(root / "cj" / f"{m.id}.npz")
    return root


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, dict]:
    root = folders(tmp_path_factory.mktemp("cx"), with_complexes=True)
    result = compare(root / "attn", root / "cj", root / "st", root / "out", n_boot=200)
    return root, result


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_interchain_csv_has_each_pair_and_method_with_baselines(report):
    root, result = report
    rows = read_csv(root / "out" / "interchain.csv")
    assert [(r["id"], r["chain"], r["method"]) for r in rows] == [
        ("1tii_A_C", "inter A-C", "attention"),
        ("1tii_D_E", "inter D-E", "attention"),
        ("1tii_A_C", "inter A-C", "jacobian"),
        ("1tii_D_E", "inter D-E", "jacobian"),
    ]
    assert all(r["inter_base_rate"] and r["interface_recall_base"] for r in rows)
    homo = {r["chain"]: r["identical_chains"] for r in rows}
    assert homo == {"inter A-C": "no", "inter D-E": "yes"}
    assert rows[1]["across_base_rate"] and not rows[0]["across_base_rate"]
    # the same figures evaluate gives for that map
    [direct] = [r for r in evaluate_rows(complex_map("DE", map_id="1tii_D_E"), TII)
                if r["chain"] == "inter D-E"]  # fmt: skip
    for key in ("inter_P@5", "inter_P@10", "inter_P@Lmin/5", "inter_base_rate"):
        assert float(rows[1][key]) == pytest.approx(direct[key], abs=1e-4)


def test_summary_prints_no_inter_figure_without_its_baseline(report):
    root, _ = report
    md = (root / "out" / "summary.md").read_text()
    section = md.split("## Inter-chain contacts (complexes)")[1].split("## Figures")[0]
    tables = [line for line in section.splitlines() if line.startswith("| ")]
    means = [line for line in tables if line.startswith(("| P@", "| interface recall"))]
    assert len(means) == 4 and all(line.count("random") == 2 for line in means)
    header = next(line for line in tables if line.startswith("| id | pair"))
    assert header.split(" | ")[7:] == ["random", "recall", "random", "across only: P@L_min/5",
                                        "random |"]  # fmt: skip
    pairs = [line for line in tables if line.startswith("| 1tii_")]
    assert len(pairs) == 4 and sum("D-E *" in line for line in pairs) == 2
    for line in pairs:  # the strict figures beside the homo pairs' only
        assert (line.split(" | ")[-1] == " |") != ("D-E *" in line)
    assert "marked * are identical chains: a single-sequence model cannot tell" in section
    html = (root / "out" / "summary.html").read_text()
    assert "Inter-chain contacts (complexes)" in html and "D-E *" in html


def test_complex_chains_are_rows_and_costs_count_each_map_once(report):
    root, result = report
    rows = read_csv(root / "out" / "comparison.csv")
    chains = sorted({(r["id"], r["chain"]) for r in rows})
    assert chains == [("1tii_A", "A"), ("1tii_A_C", "A"), ("1tii_A_C", "C"), ("1tii_D", "D"),
                      ("1tii_D_E", "D"), ("1tii_D_E", "E")]  # fmt: skip
    assert not any(r["chain"].startswith("inter") for r in rows)
    md = (root / "out" / "summary.md").read_text()
    assert "4 proteins, 8 maps scored" in md and "20.0 over 4 proteins" in md
    assert result["test"]["n"] == 6  # each chain of a complex is a protein in the paired test
    assert len(result["inter"]) == 4


def test_a_single_chain_report_is_as_before(tmp_path):
    root = folders(tmp_path, with_complexes=False)
    compare(root / "attn", root / "cj", root / "st", root / "out", n_boot=200)
    assert not (root / "out" / "interchain.csv").exists()
    got = (root / "out" / "comparison.csv").read_bytes()
    assert got == (GOLDEN / "comparison.csv").read_bytes()
    md = (root / "out" / "summary.md").read_text().split("## Software")[0]
    assert md == (GOLDEN / "summary_before_software.md").read_text()


def test_cli_compare_names_the_inter_chain_rows(tmp_path, capsys):
    root = folders(tmp_path, with_complexes=True)
    args = ["compare", str(root / "attn"), str(root / "cj"), "--structures", str(root / "st")]
    assert main([*args, "--n-boot", "200", "-o", str(root / "out")]) == 0
    out = capsys.readouterr().out
    assert "8 maps scored" in out and "4 inter-chain rows (with random baselines)" in out
