"""Bad input, class 6: signals and concurrent runs, with real signals to real processes.

Decided: SIGTERM unwinds like Ctrl-C (exit 143, one line), so temporary files go as they do
on SIGINT; a later run removes our stale temporary files (this host, writer's pid gone; or the
old undated layout, over an hour old) and nobody else's; two runs writing into one -o at once
choose names under a lock on the folder, so a second method's map never replaces the first's
(it is written as `<id>~2.npz`, with a warning).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from badinput import SEQ, TEMP

from contactplug.files import atomic
from contactplug.files.contactmap import load
from contactplug.files.outputs import folder_lock

CLI = [sys.executable, "-m", "contactplug.cli"]


def _start(*argv, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, *map(str, argv)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw
    )


def _temps(folder: Path) -> list[str]:
    try:
        return [e.name for e in os.scandir(folder) if TEMP.match(e.name)]
    except FileNotFoundError:
        return []


def _wait_for(condition, timeout: float = 120.0, proc=None) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.002)
    return False


@pytest.fixture
def many(tmp_path) -> Path:
    """Enough long proteins that predict is still writing when the signal comes."""
    path = tmp_path / "many.fa"
    long = (SEQ * 16)[:1000]
    path.write_text("".join(f">p{n}\n{long[n:]}\n" for n in range(40)))
    return path


@pytest.mark.parametrize("signum, code, word", [(signal.SIGTERM, 143, "terminated"),
                                                (signal.SIGINT, 130, "interrupted")])  # fmt: skip
def test_a_signal_mid_write_leaves_no_temp_file(
    tmp_path, many, tiny_model_path, signum, code, word
):
    out = tmp_path / "out"
    proc = _start("-q", "predict", many, "-o", out, "--model", tiny_model_path, "--method",
                  "all-heads", "--batch-size", "1")  # fmt: skip
    caught = _wait_for(lambda: _temps(out), proc=proc)  # a map is being written right now
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert caught, f"predict ended before a write was seen: {err.decode()}"
    assert proc.returncode == code, err.decode()
    lines = err.decode().strip().splitlines()
    assert lines == [f"contactplug: {word}"]
    assert not _temps(out)
    for path in out.iterdir():
        assert load(path).length >= 960  # every map there is whole


def test_stale_temp_files_of_ours_are_removed_and_only_those(tmp_path, tiny_model_path):
    out = tmp_path / "out"
    out.mkdir()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = int(gone.stdout)
    host = atomic._HOST
    names = {
        "dead": f".q.npz.{host}-{dead}.abcd1234.tmp",  # SIGKILLed writer of this host
        "old": ".q.npz.k2j4h6g8.tmp",  # the undated layout, hours old
        "live": f".q.npz.{host}-{os.getpid()}.live0000.tmp",  # a writer still running
        "elsewhere": f".q.npz.ffffff-{dead}.abcd1234.tmp",  # another host's: not ours to judge
        "fresh": ".q.npz.fresh000.tmp",  # undated but new: may be a live writer
        "user": ".notes.tmp",  # not our pattern at all
    }
    for name in names.values():
        (out / name).write_bytes(b"")
    hours_ago = time.time() - 3 * 3600
    os.utime(out / names["old"], (hours_ago, hours_ago))
    fasta = tmp_path / "q.fa"
    fasta.write_text(f">q\n{SEQ}\n")
    done = subprocess.run([*CLI, "predict", fasta, "-o", out, "--model", tiny_model_path,
                           "--method", "all-heads"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    left = {p.name for p in out.iterdir()}
    assert names["dead"] not in left and names["old"] not in left
    assert {names[k] for k in ("live", "elsewhere", "fresh", "user")} <= left
    assert done.stderr.count("removed a stale temporary file") == 2
    assert load(out / "q.npz").id == "q"


def test_a_run_waits_for_the_folder_lock_and_keeps_the_other_runs_map(tmp_path, tiny_model_path):
    """Deterministic: while this process holds the folder's lock (as another run choosing a
    name would), a predict into the folder waits with its temp file written; the map the
    other run puts there meanwhile is kept, and predict's goes to <id>~2.npz."""
    out = tmp_path / "out"
    out.mkdir()
    fasta = tmp_path / "q.fa"
    fasta.write_text(f">q\n{SEQ}\n")
    with folder_lock(out):
        proc = _start("predict", fasta, "-o", out, "--model", tiny_model_path, "--method",
                      "all-heads")  # fmt: skip
        assert _wait_for(lambda: _temps(out), proc=proc), proc.communicate()[1].decode()
        time.sleep(1.0)
        assert proc.poll() is None and not (out / "q.npz").exists()  # blocked at the lock
        from badinput import toy_map

        toy_map("q", SEQ, "jacobian").save(out / "q.npz")  # the other run's map
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert load(out / "q.npz").method == "jacobian"
    assert load(out / "q~2.npz").method == "all-heads"
    assert "holds the jacobian map of 'q'" in err.decode()
    assert not _temps(out)


def test_two_methods_into_one_folder_at_once(tmp_path, tiny_model_path, data_dir, tiny_model):
    from contactplug.readout.ranking import get_ranking

    get_ranking(tiny_model)  # made once, before the race, in the shared test cache
    out = tmp_path / "out"
    names = ["1AQT_A", "1CTF_A", "1CZP_A", "1GUU_A", "1PTF_A", "2BWF_A", "2O9S_A", "3MQI_A"]
    inputs = [data_dir / f"{n}.pdb" for n in names]
    argv = ["-q", "predict", *inputs, "-o", out, "--model", tiny_model_path, "--batch-size", "1"]
    runs = [_start(*argv, "--method", method) for method in ("attention", "all-heads")]
    for proc in runs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    maps = {p.name: load(p) for p in out.iterdir()}
    assert len(maps) == 2 * len(names) and not _temps(out)
    for name in names:
        methods = {m.method for m in maps.values() if m.id == name}
        assert methods == {"attention", "all-heads"}, name


class _Stop(Exception):
    pass


def _stop() -> None:
    raise _Stop


def test_a_signal_during_an_npz_write_is_held_until_the_file_is_whole(tmp_path):
    """The CLI's handlers deliver through files.atomic: a signal landing inside np.savez (which
    left its zip half-open, so a ValueError replaced the signal) is raised once the file is
    whole. Alarms at 40 different delays, each interrupting a loop of writes."""
    import numpy as np

    from contactplug.files.contactmap import write_npz

    arrays = {name: np.random.default_rng(0).random((400, 400), dtype=np.float32)
              for name in "abcd"}  # fmt: skip
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: atomic.deliver(_stop))
    try:
        for n in range(40):
            path = tmp_path / f"{n}.npz"
            write_npz(path, arrays, False)  # a whole file before the alarm is set
            signal.setitimer(signal.ITIMER_REAL, 0.0001 * (n + 1))
            with pytest.raises(_Stop):
                while True:  # writes until the alarm's exception
                    write_npz(path, arrays, False)
            with np.load(path) as got:
                assert all(np.array_equal(got[name], arrays[name]) for name in arrays)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
