"""`contactplug compare` writes MultiQC custom content (evaluation/multiqc.py), and the real
MultiQC (PyPI) turns it into sections: real maps from a tiny random ESM-2 (attention and the
Jacobian, two single chains and a complex of PyMOL's 1tii.pdb), the real compare, the real
MultiQC command, then its HTML and parsed data read back against compare's own figures."""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from complex_maps import TII

from contactplug.cli import main
from contactplug.commands.samplesheet import versions_yaml
from contactplug.evaluation.multiqc import series_order
from contactplug.files.sequences import read_fasta

DATA = Path(__file__).parent / "data"
SECTIONS = {  # section id -> its title, as compare names the methods here
    "contactplug_precision": "Precision per method",
    "contactplug_attention_vs_jacobian": "all-heads vs jacobian-fast",
    "contactplug_cost": "Cost",
    "contactplug_interchain": "Inter-chain contacts",
}


def cli(*argv) -> None:
    assert main(["-q", *map(str, argv)]) == 0, argv


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """compare's folder on real maps: all-heads attention (no ranking needed) and the
    mask-token Jacobian (L+1 passes), for 1GUU_A, 2O9S_A and the complex 1tii chains A and C."""
    root = tmp_path_factory.mktemp("mqc")
    structures = root / "structures"
    structures.mkdir()
    for name in ("1GUU_A.pdb", "2O9S_A.pdb"):
        shutil.copy(DATA / name, structures / name)
    shutil.copy(TII, structures / "1tii.pdb")
    fasta = root / "singles.fasta"
    records = read_fasta(DATA / "nf" / "proteins.fasta")
    fasta.write_text("".join(f">{r.id}\n{r.sequence}\n" for r in records if r.id != "1CTF_A"))
    cli("tiny-model", "-o", root / "tiny.pt", "--seed", "0")
    model = ["--model", root / "tiny.pt", "--device", "cpu"]
    for source in ([fasta], [structures / "1tii.pdb", "--chains", "A,C"]):
        cli("predict", *source, "--method", "all-heads", "-o", root / "attention", *model)
        cli("jacobian", *source, "--fast", "-o", root / "jacobian", *model)
    out = root / "report"
    cli("compare", root / "attention", root / "jacobian", "--structures", structures,
        "-o", out, "--n-boot", 200)  # fmt: skip
    return out


@pytest.fixture(scope="module")
def multiqc_run(report) -> Path:
    out = report.parent / "multiqc"
    config = Path(__file__).parents[1] / "nf" / "assets" / "multiqc_config.yml"  # MULTIQC's
    versions = report.parent / "versions" / "software_mqc_versions.yml"  # as MULTIQC stages it
    versions.parent.mkdir()
    versions.write_text(versions_yaml("CONTACTPLUG:EVALUATION:COMPARE"))
    cmd = [sys.executable, "-m", "multiqc", "--force", "--no-ansi", "--config", config, "-o", out,
           report, versions.parent]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return out


def read_table(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    key = next(iter(rows[0]))
    return {r[key]: r for r in rows}


def test_compare_writes_the_custom_content_files(report):
    found = sorted(p.name for p in report.glob("*_mqc.*"))
    assert found == [
        "contactplug_attention_vs_jacobian_mqc.json", "contactplug_cost_mqc.tsv",
        "contactplug_interchain_mqc.tsv", "contactplug_precision_mqc.tsv",
    ]  # fmt: skip
    doc = json.loads((report / "contactplug_attention_vs_jacobian_mqc.json").read_text())
    assert doc["plot_type"] == "scatter" and set(doc["data"]) >= {"1GUU_A", "2O9S_A"}
    # the figures are the report's: the scatter's points are comparison.csv's long P@L/2
    with open(report / "comparison.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    by = {(r["id"], r["method"]): float(r["long_P@L/2"]) for r in rows if r["id"] == "1GUU_A"}
    assert doc["data"]["1GUU_A"] == {"x": by[("1GUU_A", "all-heads")],
                                     "y": by[("1GUU_A", "jacobian-fast")]}  # fmt: skip


def test_multiqc_shows_every_section_with_compares_figures(report, multiqc_run):
    page = (multiqc_run / "multiqc_report.html").read_text()
    found = re.findall(r'<h2[^>]*id="([a-z_]+)"[^>]*>\s*([^<]+)', page)
    titles = {section: html.unescape(title).strip() for section, title in found}
    for section, title in SECTIONS.items():
        assert titles.get(section) == title, (section, titles)
    # the pipeline's multiqc_config.yml orders them: the precision table first, versions last
    assert [section for section, _ in found] == [
        "contactplug_precision", "contactplug_attention_vs_jacobian", "contactplug_interchain",
        "contactplug_cost", "multiqc_software_versions",
    ]  # fmt: skip
    data = multiqc_run / "multiqc_data"
    precision = read_table(data / "multiqc_contactplug_precision_table.txt")
    summary = (report / "summary.md").read_text()
    row = next(line for line in summary.splitlines() if line.startswith("| long_P@L/2 |"))
    means = [float(cell.split()[0]) for cell in row.strip("|").split("|")[1:]]
    assert [round(float(precision[m]["long_P@L/2"]), 3) for m in ("all-heads", "jacobian-fast")] \
        == pytest.approx(means, abs=1e-3)  # fmt: skip
    inter = read_table(data / "multiqc_contactplug_interchain_table.txt")
    [(pair, cells)] = [(k, v) for k, v in inter.items() if "jacobian" in k]
    assert pair == "1tii_A_C A-C jacobian-fast"
    with open(report / "interchain.csv", newline="") as handle:
        truth = next(r for r in csv.DictReader(handle) if r["method"] == "jacobian-fast")
    for column in ("inter_P@10", "inter_base_rate"):
        mine = "inter_P@10" if column == "inter_P@10" else "random (pair fraction in contact)"
        assert float(cells[mine]) == pytest.approx(float(truth[column]), abs=1e-4)
    versions = read_table(data / "multiqc_software_versions.txt")
    assert set(versions) == {"CONTACTPLUG:EVALUATION:COMPARE"}
    cost = read_table(data / "multiqc_contactplug_cost_table.txt")
    assert float(cost["jacobian-fast"]["median forward passes"]) > float(
        cost["all-heads"]["median forward passes"]
    )


def test_without_complexes_there_is_no_inter_chain_section(report, tmp_path):
    """A single-chain report has no inter-chain file, so MultiQC shows no such section."""
    singles = tmp_path / "singles"
    for folder in ("attention", "jacobian"):
        (singles / folder).mkdir(parents=True)
        for npz in (report.parent / folder).glob("*.npz"):
            if not npz.name.startswith("1tii"):
                shutil.copy(npz, singles / folder / npz.name)
    out = singles / "report"
    cli("compare", singles / "attention", singles / "jacobian", "--structures",
        report.parent / "structures", "-o", out, "--n-boot", 200)  # fmt: skip
    assert not (out / "contactplug_interchain_mqc.tsv").exists()
    assert (out / "contactplug_precision_mqc.tsv").is_file()


def test_series_order_is_the_reports_with_a_side_missing_for_some_proteins():
    rows = [
        {"id": "P1", "chain": "", "series": "jacobian"},
        {"id": "P1", "chain": "", "series": "esm-head"},  # P1 has no attention map
        {"id": "P2", "chain": "", "series": "attention"},
        {"id": "P2", "chain": "", "series": "jacobian"},
        {"id": "P2", "chain": "", "series": "esm-head"},
    ]
    assert series_order(rows) == ["attention", "jacobian", "esm-head"]
