"""The compact pairs store (issue 22, item 4): `predict --store pairs` writes the best --keep
pairs of every protein into OUT/pairs.parquet, readable by pandas, Polars and DuckDB, in row
groups; it resumes like the npz store; evaluate, export and PyMOL's loadcontacts read it
through the torch-free files layer. Real runs of the CLI on a tiny random ESM-2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from contactplug.files import pair_store
from contactplug.files.contactmap import ContactMap, load, load_dir
from contactplug.files.errors import ContactplugError
from contactplug.files.specs import parse_top

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "contactplug.cli"]
SEQ = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQ"


def cli(*argv, **env) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    return subprocess.run([*CLI, *map(str, argv)], capture_output=True, text=True, env=env)


def fasta(path: Path, n: int, length: int = 60) -> Path:
    long = SEQ * (1 + length // len(SEQ))
    path.write_text("".join(f">p{k}\n{long[k : k + length - k % 7]}\n" for k in range(n)))
    return path


def predict(inputs, out, model, *extra, **env):
    argv = ["predict", inputs, "-o", out, "--model", model, "--method", "all-heads"]
    return cli(*argv, *extra, **env)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model_path):
    """One input, predicted as npz maps and as a pairs store (default --keep and --keep all)."""
    root = tmp_path_factory.mktemp("store")
    inputs = fasta(root / "in.fa", 8)
    for name, extra in (("maps", []), ("pairs", ["--store", "pairs"]),
                        ("all", ["--store", "pairs", "--keep", "all"])):  # fmt: skip
        done = predict(inputs, root / name, tiny_model_path, *extra)
        assert done.returncode == 0, done.stderr
    return root


def test_the_store_holds_each_proteins_best_pairs(runs):
    maps = {m.id: m for m in load_dir(runs / "maps")}
    assert sorted(os.listdir(runs / "pairs")) == ["pairs.parquet"]  # one file, parts merged
    stored = {p["id"]: p for p in pair_store.iter_proteins(runs / "pairs")}
    assert sorted(stored) == sorted(maps)
    for pid, cmap in maps.items():
        want = cmap.pairs(min_sep=6, top=parse_top("5L", cmap.length))
        got = stored[pid]
        assert list(zip(got["i"].tolist(), got["j"].tolist(), strict=True)) == [
            (i, j) for i, j, _ in want
        ]
        assert np.allclose(got["score"], [s for _, _, s in want])
        assert got["sequence"] == cmap.sequence and got["prob"] is None  # no calibration here
        assert got["info"]["meta"]["settings"] == cmap.meta["settings"]


def test_pandas_polars_and_duckdb_read_the_file(runs):
    import duckdb
    import pandas as pd
    import polars as pl

    path = runs / "pairs" / "pairs.parquet"
    frame = pd.read_parquet(path)
    assert list(frame.columns[:5]) == ["id", "i", "j", "score", "prob"]
    counts = frame.groupby("id").size().to_dict()
    lengths = {m.id: m.length for m in load_dir(runs / "maps")}
    assert counts == {pid: 5 * L for pid, L in lengths.items()}
    assert pl.read_parquet(path).height == len(frame)
    best = duckdb.sql(f"select id, max(score) from '{path}' group by id").fetchall()
    assert len(best) == len(lengths)


def test_evaluate_reads_the_store_as_it_reads_npz_maps(tmp_path, tiny_model_path, data_dir):
    structure = data_dir / "1TEN_A.pdb"
    rows = {}
    for name, extra in (("maps", []), ("all", ["--store", "pairs", "--keep", "all"])):
        made = predict(structure, tmp_path / name, tiny_model_path, *extra)
        assert made.returncode == 0, made.stderr
        done = cli(
            "evaluate", tmp_path / name, "--structure", structure, "-o", tmp_path / f"{name}.json"
        )
        assert done.returncode == 0, done.stderr
        found = json.loads((tmp_path / f"{name}.json").read_text())["results"]
        rows[name] = [{k: v for k, v in r.items() if k != "seconds"} for r in found]  # timing
    assert rows["all"] == rows["maps"]  # every pair |i-j| >= 6 kept: the same precisions
    assert rows["maps"] and "long_P@L/5" in rows["maps"][0]


def test_export_from_the_store_writes_what_the_maps_give(runs, tmp_path):
    for name in ("maps", "pairs"):
        done = cli("export", runs / name, "-f", "csv", "-o", tmp_path / name, "--top", "L")
        assert done.returncode == 0, done.stderr
    written = sorted(os.listdir(tmp_path / "maps"))
    assert sorted(os.listdir(tmp_path / "pairs")) == written and len(written) == 8
    for name in written:
        assert (tmp_path / "pairs" / name).read_text() == (tmp_path / "maps" / name).read_text()
    # the store keeps 5L: a deeper ranking is refused by nothing, but it is said in meta
    cmap = next(iter(load_dir(runs / "pairs")))
    assert cmap.meta["store"]["kept"] == 5 * cmap.length


def test_probabilities_come_from_the_whole_map(tmp_path, tiny_model_path):
    from contactplug.readout import cache
    from contactplug.restraints import calibration as cal

    inputs = fasta(tmp_path / "in.fa", 3)
    assert predict(inputs, tmp_path / "maps", tiny_model_path).returncode == 0
    cmap = load(tmp_path / "maps" / "p0.npz")
    fp = cmap.meta["fingerprint"]
    # a calibration for the tiny model: fitted on its own three maps against a made-up truth
    truth = [np.abs(np.subtract.outer(np.arange(m.length), np.arange(m.length))) % 5 == 0
             for m in load_dir(tmp_path / "maps")]  # fmt: skip
    fitted = cal.fit(list(load_dir(tmp_path / "maps")), truth, None, "tiny", "all-heads", fp)
    fitted.save(cache.cached_path(fp, cal.suffix("all-heads")))
    try:
        done = predict(inputs, tmp_path / "pairs", tiny_model_path, "--store", "pairs")
        assert done.returncode == 0, done.stderr
        protein = next(pair_store.iter_proteins(tmp_path / "pairs", {"p0"}))
        whole = fitted.probabilities(cmap)
        assert np.allclose(protein["prob"], whole[protein["i"], protein["j"]], atol=1e-6)
        rr = cli("export", tmp_path / "pairs", "-f", "casp-rr", "-o", tmp_path / "rr")
        assert rr.returncode == 0, rr.stderr
        want = cli("export", tmp_path / "maps" / "p0.npz", "-f", "casp-rr", "-o", tmp_path / "a")
        assert want.returncode == 0, want.stderr
        assert (tmp_path / "rr" / "p0.rr").read_text() == (tmp_path / "a").read_text()
    finally:
        cache.cached_path(fp, cal.suffix("all-heads")).unlink()


def test_a_stopped_store_run_resumes_without_loss_or_repeats(tmp_path, tiny_model_path):
    inputs = fasta(tmp_path / "many.fa", 40, length=700)
    out = tmp_path / "out"
    argv = ["predict", inputs, "-o", out, "--model", tiny_model_path, "--method", "all-heads",
            "--batch-size", "1", "--store", "pairs"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CONTACTPLUG_FLUSH_SECONDS": "0"}
    proc = subprocess.Popen([*CLI, *map(str, argv)], stderr=subprocess.PIPE, env=env)
    parts = out / pair_store.PARTS_NAME
    end = time.monotonic() + 120
    while time.monotonic() < end and proc.poll() is None:
        if parts.is_dir() and len(list(parts.glob("*.parquet"))) >= 3:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "predict ended before it could be killed"
    assert not (out / "pairs.parquet").exists()
    kept = pair_store.stored_proteins(out)  # the parts are whole files: readable as they are
    assert 3 <= len(kept) < 40
    assert len(list(load_dir(out))) == len(kept)  # readers see the parts too
    again = cli(*argv)
    assert again.returncode == 0, again.stderr
    assert f"kept {len(kept)} finished proteins" in again.stderr
    assert sorted(os.listdir(out)) == ["pairs.parquet"]  # parts merged, temp files gone
    ids = [p["id"] for p in pair_store.iter_proteins(out)]
    assert sorted(ids) == sorted(f"p{k}" for k in range(40))  # each protein once
    clean = tmp_path / "clean"
    assert cli(*argv[:3], clean, *argv[4:]).returncode == 0
    a = {p["id"]: p for p in pair_store.iter_proteins(out)}
    for p in pair_store.iter_proteins(clean):
        assert np.array_equal(p["i"], a[p["id"]]["i"]) and np.array_equal(p["j"], a[p["id"]]["j"])


def test_sigterm_writes_what_is_buffered(tmp_path, tiny_model_path):
    inputs = fasta(tmp_path / "many.fa", 40, length=700)
    out = tmp_path / "out"
    argv = ["predict", inputs, "-o", out, "--model", tiny_model_path, "--method", "all-heads",
            "--batch-size", "1", "--store", "pairs"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # 10 s between parts: all still buffered
    proc = subprocess.Popen([*CLI, *map(str, argv)], stderr=subprocess.PIPE, env=env)
    time.sleep(0.5)
    end = time.monotonic() + 120
    seen = b""
    while time.monotonic() < end and b"proteins (" not in seen and proc.poll() is None:
        seen += proc.stderr.read1(4096)  # a progress line: some proteins are done
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err.decode()
    assert b"kept in" in err  # the buffer went into a part on the way out
    kept = pair_store.stored_proteins(out)
    assert len(kept) >= 4
    again = cli(*argv)
    assert again.returncode == 0 and f"kept {len(kept)} finished proteins" in again.stderr


def test_other_settings_are_refused_and_force_replaces(runs, tmp_path, tiny_model_path):
    out = tmp_path / "out"
    inputs = fasta(tmp_path / "in.fa", 2)
    assert predict(inputs, out, tiny_model_path, "--store", "pairs").returncode == 0
    other = predict(inputs, out, tiny_model_path, "--store", "pairs", "--window", "50")
    assert other.returncode == 2
    assert other.stderr.strip().splitlines()[-1].startswith("contactplug: error: ")
    assert "other settings (window 1024 -> 50)" in other.stderr or "window" in other.stderr
    keep = predict(inputs, out, tiny_model_path, "--store", "pairs", "--keep", "L")
    assert keep.returncode == 2 and "--keep" in keep.stderr
    forced = predict(inputs, out, tiny_model_path, "--store", "pairs", "--keep", "L", "--force")
    assert forced.returncode == 0, forced.stderr
    assert pair_store.store_info(out)["keep"] == "L"
    bad = predict(inputs, out, tiny_model_path, "--store", "pairs", "--keep", "many")
    assert bad.returncode == 2 and "--keep" in bad.stderr


def test_best_pairs_matches_the_full_ranking_with_ties():
    rng = np.random.default_rng(1)
    for L in (3, 7, 40, 130):
        c = np.round(rng.random((L, L)), 1).astype(np.float32)  # many ties
        c = (c + c.T) / 2
        cmap = ContactMap(contacts=c, sequence="A" * L, id="x", method="m", model="m")
        for keep in ("5L", "L/5", "2", "all"):
            i, j, s = pair_store.best_pairs(cmap, keep, 6)
            top = parse_top(keep, L)
            assert [(a, b) for a, b in zip(i.tolist(), j.tolist(), strict=True)] == [
                (a, b) for a, b, _ in cmap.pairs(min_sep=6, top=top)
            ]


def test_a_damaged_or_foreign_store_is_one_line(tmp_path):
    (tmp_path / "pairs.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ContactplugError, match="not a readable Parquet file"):
        list(load_dir(tmp_path))
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1]}), tmp_path / "pairs.parquet")
    with pytest.raises(ContactplugError, match="not a contactplug pairs store"):
        pair_store.stored_proteins(tmp_path)


def test_the_files_layer_imports_without_pyarrow():
    code = (
        "import sys\n"
        "sys.modules['pyarrow'] = None\n"
        "import contactplug.files.pair_store as s, contactplug.files.contactmap\n"
        "from contactplug.files.errors import ContactplugError\n"
        "try:\n"
        "    s.stored_proteins(sys.argv[1])\n"
        "except ContactplugError as exc:\n"
        "    print(exc)\n"
    )
    store = ROOT / "tests"  # any folder: the store is looked for before pyarrow is needed
    done = subprocess.run([sys.executable, "-c", code, str(store)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # no store there: nothing to read, pyarrow not needed
    code = code.replace("s.stored_proteins(sys.argv[1])", "s.require_pyarrow()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "needs pyarrow (pip install pyarrow)" in done.stdout


def test_pymol_loadcontacts_reads_one_protein_of_the_store(runs):
    pytest.importorskip("pymol")
    from pymol import CmdException

    sys.path.insert(0, str(ROOT / "plugin"))
    from contactplug_pymol import contact_files

    store = runs / "pairs" / "pairs.parquet"
    cmap = contact_files.read_contacts(f"{store}#p3")
    want = load(runs / "maps" / "p3.npz").pairs(min_sep=6, top=5 * cmap.length)
    got = contact_files.ranked_pairs(cmap)
    assert [(i, j) for i, j, _ in got] == [(i, j) for i, j, _ in want]
    with pytest.raises(CmdException, match="holds 8 proteins: name one as FILE#ID"):
        contact_files.read_contacts(store)
    with pytest.raises(CmdException, match="no protein 'nope'"):
        contact_files.read_contacts(f"{store}#nope")


def test_a_protein_never_spans_row_groups(tmp_path, monkeypatch):
    """Parts over pyarrow's 2^20-row row group stay one row group, through the merge too."""
    import pyarrow.parquet as pq

    monkeypatch.setattr(pair_store, "FLUSH_SECONDS", 1e9)
    rng = np.random.default_rng(0)
    writer = pair_store.PairStoreWriter(tmp_path, {"settings": {}, "keep": "all", "min_sep": 6})
    for n in range(10):  # 124,750 pairs each: a part of 9 (1.12 M rows > 2^20), then one
        x = rng.random((505, 505), dtype=np.float32)
        cmap = ContactMap(contacts=x + x.T, sequence="A" * 505, id=f"p{n}", method="m", model="m")
        writer.add(cmap, pair_store.best_pairs(cmap, "all", 6), None)
    store = writer.close()
    meta = pq.ParquetFile(store).metadata
    assert meta.num_rows == 10 * 124750 and meta.num_row_groups == 2
    assert meta.row_group(0).num_rows == 9 * 124750 > 1 << 20
    assert [p["id"] for p in pair_store.iter_proteins(tmp_path)] == [f"p{n}" for n in range(10)]


# ---- a store in parts: `predict --part`, one part per pipeline batch, read as one dataset ----


def test_parts_read_as_one_dataset_equal_the_single_file_store(tmp_path, tiny_model_path):
    batches = [fasta(tmp_path / "a.fa", 3), tmp_path / "b.fa"]
    batches[1].write_text("".join(f">q{k}\n{SEQ[k : 40 + 3 * k]}\n" for k in range(2)))
    for k, batch in enumerate(batches):  # as the pipeline's tasks, each into its own part
        done = predict(batch, tmp_path / "parts", tiny_model_path, "--store", "pairs",
                       "--part", f"batch{k}")  # fmt: skip
        assert done.returncode == 0, done.stderr
        # the same batch into one store: predict's own merge, each protein read in the same batch
        done = predict(batch, tmp_path / "whole", tiny_model_path, "--store", "pairs")
        assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(tmp_path / "parts")) == ["batch0.parquet", "batch1.parquet"]
    assert sorted(os.listdir(tmp_path / "whole")) == ["pairs.parquet"]
    parts = {p["id"]: p for p in pair_store.iter_proteins(tmp_path / "parts")}
    whole = {p["id"]: p for p in pair_store.iter_proteins(tmp_path / "whole")}
    assert sorted(parts) == sorted(whole) == ["p0", "p1", "p2", "q0", "q1"]
    for pid, p in parts.items():
        for name in ("i", "j", "score"):
            assert np.array_equal(p[name], whole[pid][name]), (pid, name)
        assert p["file"].name == ("batch0.parquet" if pid[0] == "p" else "batch1.parquet")
    # every reader takes the folder of parts (or a list of them) as it takes the one file
    maps = pair_store.Maps(pair_store.store_files(tmp_path / "parts"), load, ContactMap)
    assert len(maps) == 5 and len(load_dir(tmp_path / "parts")) == 5
    for name in ("parts", "whole"):
        done = cli("export", tmp_path / name, "-f", "csv", "-o", tmp_path / f"rr_{name}")
        assert done.returncode == 0, done.stderr
    written = sorted(os.listdir(tmp_path / "rr_whole"))
    assert sorted(os.listdir(tmp_path / "rr_parts")) == written and len(written) == 5
    for name in written:
        parts_file, whole_file = (tmp_path / folder / name for folder in ("rr_parts", "rr_whole"))
        assert parts_file.read_text() == whole_file.read_text()


def test_a_part_resumes_and_a_protein_in_two_parts_is_refused(tmp_path, tiny_model_path):
    inputs = fasta(tmp_path / "in.fa", 3)
    out = tmp_path / "parts"
    first = fasta(tmp_path / "first.fa", 2)
    assert predict(first, out, tiny_model_path, "--store", "pairs", "--part", "b").returncode == 0
    again = predict(inputs, out, tiny_model_path, "--store", "pairs", "--part", "b")
    assert again.returncode == 0 and "kept 2 finished proteins" in again.stderr
    assert sorted(os.listdir(out)) == ["b.parquet"]  # the part grew; no other file
    assert sorted(pair_store.stored_proteins(out / "b.parquet")) == ["p0", "p1", "p2"]
    # a run without --part into the same folder merges its own pairs only: the part stays
    other = tmp_path / "other.fa"
    other.write_text(f">x\n{SEQ[:50]}\n")
    assert predict(other, out, tiny_model_path, "--store", "pairs").returncode == 0
    assert sorted(os.listdir(out)) == ["b.parquet", "pairs.parquet"]
    assert sorted(pair_store.stored_proteins(out)) == ["p0", "p1", "p2", "x"]
    # a part left by an earlier run with other batches: the protein it holds again is refused
    (out / "old.parquet").write_bytes((out / "pairs.parquet").read_bytes())
    for argv in (("evaluate", out, "--structure", out, "-o", tmp_path / "m"),
                 ("export", out, "-f", "csv", "-o", tmp_path / "e")):  # fmt: skip
        done = cli(*argv)
        assert done.returncode == 2, done.stderr
        [line] = done.stderr.strip().splitlines()[-1:]
        assert line.startswith("contactplug: error: 'x' is stored twice, in ") and "old" in line
    for extra in (["--part", "b"], ["--store", "pairs", "--part", "../b"]):
        # a model path that is not there: --part is refused first, before any model is loaded
        bad = predict(other, tmp_path / "bad", tmp_path / "no-such-model.pt", *extra)
        assert bad.returncode == 2, bad.stderr
        assert bad.stderr.strip().splitlines()[-1].startswith("contactplug: error: --part ")
        assert not (tmp_path / "bad").exists() or not list((tmp_path / "bad").iterdir())


def test_pymol_loadcontacts_reads_a_protein_from_a_folder_of_parts(tmp_path):
    pytest.importorskip("pymol")
    from pymol import CmdException

    sys.path.insert(0, str(ROOT / "plugin"))
    from contactplug_pymol import contact_files

    rng = np.random.default_rng(2)
    for part, ids in (("b0", ["a", "b"]), ("b1", ["c"])):  # two batches' parts, no pairs.parquet
        writer = pair_store.PairStoreWriter(tmp_path, {"settings": {}, "keep": "L", "min_sep": 6},
                                            part)  # fmt: skip
        for pid in ids:
            x = rng.random((40, 40), dtype=np.float32)
            cmap = ContactMap(contacts=x + x.T, sequence="A" * 40, id=pid, method="m", model="m")
            writer.add(cmap, pair_store.best_pairs(cmap, "L", 6), None)
        writer.close()
    assert sorted(os.listdir(tmp_path)) == ["b0.parquet", "b1.parquet"]
    cmap = contact_files.read_contacts(f"{tmp_path / 'pairs.parquet'}#c")
    want = next(pair_store.iter_proteins(tmp_path / "b1.parquet"))
    got = contact_files.ranked_pairs(cmap)
    assert [(i, j) for i, j, _ in got] == list(zip(want["i"], want["j"], strict=True))
    with pytest.raises(CmdException, match="no such file"):
        contact_files.read_contacts(f"{tmp_path / 'none'}/pairs.parquet#c")
