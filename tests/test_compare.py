"""compare.py: the attention-versus-Jacobian report on maps built from real structures."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from scipy import stats

from contactplug.cli import main
from contactplug.evaluation.metrics import METRICS
from contactplug.evaluation.report import bootstrap_ci, compare, paired_test
from contactplug.files.contactmap import ContactMap
from contactplug.files.errors import ContactplugError
from contactplug.inputs.structure import read_chain, true_contacts

DATA = Path(__file__).parent / "data"
PROTEINS = ["1AQT_A", "1CTF_A", "1GUU_A", "1TEN_A", "2BWF_A", "2O9S_A"]
METHODS = [  # folder, method, noise, forward passes, seconds per residue
    ("attn", "attention", 6.0, lambda L: 1, 0.001),
    ("cj", "jacobian", 0.7, lambda L: 20 * L + 1, 0.05),
    ("head", "esm-head", 1.2, lambda L: 1, 0.002),
]


@pytest.fixture(scope="module")
def maps_root(tmp_path_factory) -> Path:
    """Noisy true maps from real structures: the "jacobian" is less noisy than "attention"."""
    root = tmp_path_factory.mktemp("maps")
    rng = np.random.default_rng(7)
    for name in PROTEINS:
        chain = read_chain(DATA / f"{name}.pdb")
        contacts, _ = true_contacts(chain.sequence, chain)
        L = len(chain.sequence)
        for folder, method, noise, forward, per_res in METHODS:
            s = contacts + noise * rng.random((L, L))
            s = 0.5 * (s + s.T)
            np.fill_diagonal(s, 0)
            cmap = ContactMap(
                s, chain.sequence, name, method, "esm2_t6_8M_UR50D", forward(L), per_res * L
            )
            cmap.save(root / folder / f"{name}.npz")
    lonely = ContactMap(
        np.zeros((20, 20)), "ACDEFGHIKLMNPQRSTVWY", "no_structure", "attention", "esm2_t6_8M_UR50D"
    )
    lonely.save(root / "attn" / "no_structure.npz")
    return root


def three_methods(maps_root: Path, out: Path) -> dict:
    extra = [maps_root / "head"]
    return compare(maps_root / "attn", maps_root / "cj", DATA, out, extra, n_boot=500, n_panels=3)


@pytest.fixture(scope="module")
def report(maps_root) -> tuple[Path, dict]:
    out = maps_root / "report"
    return out, three_methods(maps_root, out)


def test_csv_has_one_row_per_protein_and_method(report):
    out, result = report
    with open(out / "comparison.csv") as handle:
        rows = list(csv.DictReader(handle))
    header = list(rows[0])
    assert header[:6] == ["id", "L", "model", "method", "n_forward", "seconds"]
    assert header[6:15] == METRICS
    assert len(rows) == len(PROTEINS) * 3
    assert {(r["id"], r["method"]) for r in rows} == {(p, m[1]) for p in PROTEINS for m in METHODS}
    cj = next(r for r in rows if r["id"] == "1CTF_A" and r["method"] == "jacobian")
    assert int(cj["n_forward"]) == 20 * 68 + 1 and int(cj["L"]) == 68
    assert [s["id"] for s in result["skipped"]] == ["no_structure"]


def test_summary_states_stats_ratios_versions_and_skips(report):
    out, result = report
    md = (out / "summary.md").read_text()
    for text in (
        "95% bootstrap CI",
        "Wilcoxon",
        f"n = {len(PROTEINS)} proteins",
        "attention",
        "jacobian",
        "esm-head",
        "no_structure",
        "fair-esm",
        "gemmi",
        "torch",
        "numpy",
        "contactplug",
        "python",
    ):
        assert text in md, text
    # speed and forward-pass ratios over proteins with both maps: 50 and 20 * L + 1
    assert "Median speed ratio (jacobian seconds / attention seconds): 50.0 over 6" in md
    Ls = sorted(len(read_chain(DATA / f"{p}.pdb").sequence) for p in PROTEINS)
    assert f"{np.median([20 * L + 1 for L in Ls]):.1f} over 6" in md
    assert result["ratios"]["n_forward"][1] == 6
    test = result["test"]
    assert test["n"] == len(PROTEINS)


def test_wilcoxon_matches_scipy_on_the_csv(report):
    out, result = report
    with open(out / "comparison.csv") as handle:
        rows = list(csv.DictReader(handle))
    val = {(r["id"], r["method"]): float(r["long_P@L/2"]) for r in rows}
    a = [val[(p, "attention")] for p in PROTEINS]
    b = [val[(p, "jacobian")] for p in PROTEINS]
    d = np.array(b) - np.array(a)
    assert (d > 0).all()  # the less noisy "jacobian" wins on every protein
    ref = stats.wilcoxon(d, zero_method="wilcox")
    assert result["test"]["p"] == pytest.approx(ref.pvalue, abs=1e-3)
    assert result["test"]["nonzero"] == 6 and result["test"]["b_better"] == 6


def test_html_is_self_contained_and_pngs_are_not_blank(report):
    out, result = report
    html = (out / "summary.html").read_text()
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert "scatter_long_PL2.png" in pngs and "precision_vs_length.png" in pngs
    panels = [p for p in pngs if p.startswith("maps_")]
    assert len(panels) == 3
    assert html.count("data:image/png;base64,") == len(pngs)
    assert 'src="maps_' not in html and "http" not in html
    for name in pngs:
        img = matplotlib.image.imread(out / name)
        assert img.std() > 0.01, name


def test_outputs_are_deterministic(maps_root, report):
    out, _ = report
    again = maps_root / "again"
    three_methods(maps_root, again)
    for name in sorted(p.name for p in out.iterdir()):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


def test_bootstrap_ci_is_seeded_and_brackets_the_mean():
    x = np.random.default_rng(1).random(30)
    mean, lo, hi, n = bootstrap_ci(x, 1000, seed=3)
    assert (mean, lo, hi, n) == bootstrap_ci(x, 1000, seed=3)
    assert lo < mean < hi and n == 30 and mean == pytest.approx(x.mean())
    assert bootstrap_ci([np.nan, 0.5], 100)[0] == 0.5
    assert bootstrap_ci([], 100)[3] == 0


def test_paired_test_edge_cases():
    none = paired_test([], [])
    assert none["p"] is None and "no protein" in none["note"]
    same = paired_test([0.5, 0.7, 0.9], [0.5, 0.7, 0.9])
    assert same["p"] is None and "all 3 paired differences are zero" in same["note"]
    few = paired_test([0.1, 0.2], [0.3, 0.5])
    assert few["n"] == 2 and "too few" in few["note"] and few["p"] == 0.5
    rng = np.random.default_rng(0)
    a = rng.random(20)
    res = paired_test(a, a + 0.1 + 0.01 * rng.random(20))
    assert res["p"] < 0.001 and res["b_better"] == 20


def test_same_method_in_both_folders_is_stated(maps_root, tmp_path):
    result = compare(maps_root / "cj", maps_root / "cj", DATA, tmp_path, n_boot=200, n_panels=0)
    md = (tmp_path / "summary.md").read_text()
    assert "same method" in md and "paired differences are zero" in md
    assert result["test"]["p"] is None


def test_unscorable_folder_is_an_error(maps_root, tmp_path):
    only = tmp_path / "only"
    ContactMap(np.zeros((20, 20)), "ACDEFGHIKLMNPQRSTVWY", "nothing", "attention", "m").save(
        only / "nothing.npz"
    )
    with pytest.raises(ContactplugError, match="could be scored"):
        compare(only, maps_root / "cj", DATA, tmp_path / "out", n_boot=200)


def test_cli_compare(maps_root, tmp_path, capsys):
    code = main(
        [
            "compare",
            str(maps_root / "attn"),
            str(maps_root / "cj"),
            "--structures",
            str(DATA),
            "--n-boot",
            "200",
            "--panels",
            "1",
            "-o",
            str(tmp_path / "rep"),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Wilcoxon" in out and (tmp_path / "rep" / "summary.html").exists()
    code = main(
        [
            "compare",
            str(maps_root / "attn"),
            str(tmp_path / "missing"),
            "--structures",
            str(DATA),
            "-o",
            str(tmp_path / "rep2"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
