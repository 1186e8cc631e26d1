"""Runs that resume (issue 22, item 3): a rerun of `predict` or `jacobian` into the same -o
keeps what is finished there for the same model, method and settings, says how many, and
computes the rest; --force recomputes; a run killed with SIGKILL loses only the maps not yet
written, and its temp files go at the next run. Real runs of the CLI on a tiny random ESM-2."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from contactplug.files.contactmap import load

CLI = [sys.executable, "-m", "contactplug.cli"]
SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ"


def cli(*argv) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([*CLI, *map(str, argv)], capture_output=True, text=True, env=env)


def fasta(path: Path, n: int, length: int = 60) -> Path:
    long = SEQ * (1 + length // len(SEQ))
    path.write_text("".join(f">p{k}\n{long[k : k + length]}\n" for k in range(n)))
    return path


def stamps(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.glob("*.npz"))}


def predict(inputs, out, model, *extra):
    return cli("predict", inputs, "-o", out, "--model", model, "--method", "all-heads", *extra)


def test_a_rerun_keeps_finished_maps_and_computes_the_rest(tmp_path, tiny_model_path):
    out = tmp_path / "out"
    first = predict(fasta(tmp_path / "a.fa", 4), out, tiny_model_path)
    assert first.returncode == 0, first.stderr
    before = stamps(out)
    more = fasta(tmp_path / "b.fa", 6)  # the same four and two new
    again = predict(more, out, tiny_model_path)
    assert again.returncode == 0, again.stderr
    assert "kept 4 finished maps already in the output folder; computing 2" in again.stderr
    after = stamps(out)
    assert {k: after[k] for k in before} == before  # the kept files were not rewritten
    assert sorted(after) == [f"p{k}.npz" for k in range(6)]
    assert "wrote 2 maps" in again.stderr


def test_force_and_other_settings_recompute(tmp_path, tiny_model_path):
    out = tmp_path / "out"
    inputs = fasta(tmp_path / "a.fa", 3)
    assert predict(inputs, out, tiny_model_path).returncode == 0
    before = stamps(out)
    forced = predict(inputs, out, tiny_model_path, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "--force: computing all 3 maps" in forced.stderr
    assert all(stamps(out)[k] != before[k] for k in before)
    assert sorted(stamps(out)) == sorted(before)  # replaced in place, no ~2 copies
    # another window is another setting: those maps are made again, and the line says why
    other = predict(inputs, out, tiny_model_path, "--window", "50")
    assert other.returncode == 0, other.stderr
    assert "kept 0 finished maps" in other.stderr
    assert "3 made with other settings recomputed" in other.stderr
    assert load(out / "p0.npz").meta["settings"]["window"] == 50
    # another method's maps are not this method's: nothing is kept for it
    esm = cli("predict", inputs, "-o", out, "--model", tiny_model_path, "--method", "esm-head")
    assert esm.returncode == 0, esm.stderr
    assert "kept" not in esm.stderr


def test_maps_without_settings_or_not_ours_are_not_kept(tmp_path, tiny_model_path):
    out = tmp_path / "out"
    inputs = fasta(tmp_path / "a.fa", 2)
    assert predict(inputs, out, tiny_model_path).returncode == 0
    old = load(out / "p0.npz")
    del old.meta["settings"]  # a map written before settings were recorded
    old.save(out / "p0.npz")
    (out / "p1.npz").write_bytes(b"not an npz")  # a foreign file with a map's name
    again = predict(inputs, out, tiny_model_path)
    assert again.returncode == 0, again.stderr
    # neither counts as finished; the one without settings is counted as other settings
    assert "kept 0 finished maps" in again.stderr
    assert "1 made with other settings recomputed; computing 2" in again.stderr
    assert "settings" in load(out / "p0.npz").meta
    assert (out / "p1.npz").read_bytes() == b"not an npz"  # kept aside, not replaced
    assert load(out / "p1~2.npz").id == "p1"


def test_sigkill_loses_only_unwritten_maps_and_the_rerun_cleans_up(tmp_path, tiny_model_path):
    inputs = fasta(tmp_path / "many.fa", 40, length=900)
    out = tmp_path / "out"
    argv = ["predict", inputs, "-o", out, "--model", tiny_model_path, "--method", "all-heads",
            "--batch-size", "1"]  # fmt: skip
    proc = subprocess.Popen([*CLI, *map(str, argv)], stderr=subprocess.PIPE,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    end = time.monotonic() + 120
    while time.monotonic() < end and proc.poll() is None:
        names = os.listdir(out) if out.is_dir() else []
        if sum(n.endswith(".npz") for n in names) >= 3 and any(n.endswith(".tmp") for n in names):
            break  # some maps written, one being written now
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "predict ended before it could be killed"
    written = sorted(p.name for p in out.glob("*.npz"))
    assert any(p.name.endswith(".tmp") for p in out.iterdir())  # the killed write's leftover
    again = cli(*argv)
    assert again.returncode == 0, again.stderr
    assert "removed a stale temporary file" in again.stderr
    assert f"kept {len(written)} finished maps" in again.stderr
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert sorted(p.name for p in out.glob("*.npz")) == sorted(f"p{k}.npz" for k in range(40))
    # the resumed maps are the maps of one uninterrupted run
    clean = tmp_path / "clean"
    assert cli(*argv[:3], clean, *argv[4:]).returncode == 0
    for name in ("p0.npz", "p39.npz", written[0]):
        assert np.array_equal(load(out / name).contacts, load(clean / name).contacts)


@pytest.mark.parametrize("positions", [None, "1-20"])
def test_jacobian_resumes_per_protein_and_per_part(tmp_path, tiny_model_path, positions):
    out = tmp_path / "jac"
    inputs = fasta(tmp_path / "a.fa", 2, length=40)
    extra = ["--positions", positions] if positions else []
    base = ["jacobian", inputs, "-o", out, "--model", tiny_model_path, "--fast", *extra]
    assert cli(*base).returncode == 0
    before = stamps(out)
    what = "Jacobian parts" if positions else "Jacobian maps"
    again = cli(*base)
    assert again.returncode == 0, again.stderr
    assert f"kept 2 finished {what}" in again.stderr and stamps(out) == before
    if positions:  # the next part is new work; the first is kept
        nxt = cli(*base[:-1], "21-40")
        assert nxt.returncode == 0 and "kept" not in nxt.stderr
        assert len(list(out.glob("*.part21-40.npz"))) == 2
        gathered = cli("gather-jacobian", *sorted(out.glob("p0.part*")), "-o", tmp_path / "g")
        assert gathered.returncode == 0, gathered.stderr
    forced = cli(*base, "--force")
    assert forced.returncode == 0 and f"--force: computing all 2 {what}" in forced.stderr
    assert all(stamps(out)[k] != before[k] for k in before)
