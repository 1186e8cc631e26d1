"""Bad input, class 2: nothing written outside -o, nothing lost.

Decided: one rule makes every file name from an id (`files.atomic.safe_name`); an existing
output is replaced only by the same protein and method made again (exports: by a rerun), and
anything else that would be overwritten (another protein whose id cleans to the same name,
another method's map, an unrelated file, a link, an input of the run) gets the next free
`~N` name with a warning; `.part` files are matched by their exact pattern; an export whose
output is one of its inputs is refused; one map that cannot be exported does not cost the
others their files (the run then fails with one line saying which).
"""

from __future__ import annotations

import logging
import os

import pytest
from badinput import SEQ, accepted, raw_npz, refused, snapshot, toy_map

from contactplug.api import predict
from contactplug.files.atomic import MAX_STEM, safe_name
from contactplug.files.contactmap import load, load_dir
from contactplug.files.outputs import OutputFolder
from contactplug.files.sequences import Record


@pytest.mark.parametrize(
    "raw, name",
    [
        ("../../X", "_.._X"),
        ("/etc/passwd", "_etc_passwd"),
        ("PDB|\x00", "PDB__"),
        ("..", "_"),
        ("", "_"),
        (".hidden", "hidden"),
        ("a b\tc\nd", "a_b_c_d"),
        ("sp|P12345|ABC_HUMAN", "sp_P12345_ABC_HUMAN"),
        ("é", "_"),
        ("1AQT_A", "1AQT_A"),
    ],
)
def test_safe_name(raw, name):
    assert safe_name(raw) == name


def test_long_ids_keep_a_prefix_and_a_hash():
    a, b = "A" * 300, "A" * 299 + "B"
    assert len(safe_name(a)) == MAX_STEM and safe_name(a) != safe_name(b)
    assert safe_name(a).startswith("A" * 100) and safe_name(a) == safe_name("A" * 300)


def test_api_record_ids_cannot_leave_the_folder(tmp_path, tiny_model):
    out = tmp_path / "deep" / "out"
    before = snapshot(tmp_path)
    folder = OutputFolder(out)
    ids = ["../../X", "/tmp/evil", "..", "a/../../b"]
    maps = predict([Record(i, SEQ[:30]) for i in ids], model=tiny_model, method="all-heads")
    paths = [cmap.save_in(folder) for cmap in maps]
    assert all(p.parent == out for p in paths) and len(set(paths)) == 4
    assert {load(p).id for p in paths} == set(ids)  # the id inside is the user's, untouched
    new = set(snapshot(tmp_path)) - set(before)
    assert all(p.startswith(os.path.join("deep", "out") + os.sep) for p in new), new


def test_export_dir_of_maps_with_path_ids(tmp_path):
    for n, pid in enumerate(["../../X", "../escape", "/abs/path", "ok"]):
        raw_npz(tmp_path / "maps" / f"m{n}.npz", base=toy_map(pid, seed=n))
    for fmt in ("casp-rr", "rosetta", "csv", "boltz"):
        extra = ["--pseudo-prob"] if fmt == "casp-rr" else []
        accepted(["export", tmp_path / "maps", "-f", fmt, "-o", tmp_path / fmt, *extra], tmp_path)
        assert len(list((tmp_path / fmt).iterdir())) == 4


# ---------------------------------------------------------------- same cleaned name
def test_confold_headers_in_separate_runs_do_not_overwrite(tmp_path, tiny_model_path, caplog):
    out = tmp_path / "out"
    for n, seq in enumerate((SEQ[:30], SEQ[5:40])):
        fasta = tmp_path / f"confold{n}.fa"
        fasta.write_bytes(b">PDB|\x00 chain A\n" + seq.encode() + b"\n")
        with caplog.at_level(logging.WARNING, logger="contactplug"):
            accepted(["predict", fasta, "-o", out, "--model", tiny_model_path], tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["PDB__.npz", "PDB__~2.npz"]
    assert {load(p).sequence for p in out.iterdir()} == {SEQ[:30], SEQ[5:40]}
    assert "PDB__.npz holds the attention map of 'PDB__' (30 residues)" in caplog.text
    caplog.clear()
    # a rerun of the second replaces its own ~2 file (and says again why it is not PDB__.npz)
    accepted(["predict", tmp_path / "confold1.fa", "-o", out, "--model", tiny_model_path], tmp_path)
    assert len(list(out.iterdir())) == 2


def test_ids_cleaning_to_one_name_in_one_run(tmp_path, caplog):
    raw_npz(tmp_path / "maps" / "a.npz", base=toy_map("a/b", seed=1))
    raw_npz(tmp_path / "maps" / "b.npz", base=toy_map("a?b", seed=2))
    raw_npz(tmp_path / "maps" / "c.npz", base=toy_map("same", seed=3))
    raw_npz(tmp_path / "maps" / "d.npz", base=toy_map("same", seed=4))
    with caplog.at_level(logging.INFO, logger="contactplug"):
        accepted(["export", tmp_path / "maps", "-f", "tsv", "-o", tmp_path / "x"], tmp_path)
    names = sorted(p.name for p in (tmp_path / "x").iterdir())
    assert names == ["a_b.tsv", "a_b~2.tsv", "same.tsv", "same~2.tsv"]
    assert "in 4 tsv file(s)" in caplog.text and caplog.text.count("written by this run") == 2


def test_three_hundred_character_ids_write_every_record(tmp_path, tiny_model_path, data_dir):
    long_a, long_b = "A" * 300, "A" * 299 + "B"
    fasta = tmp_path / "long.fa"
    fasta.write_text(f">{long_a}\n{SEQ[:30]}\n>{long_b}\n{SEQ[1:31]}\n>short\n{SEQ[:32]}\n")
    out = tmp_path / "out"
    accepted(
        ["predict", fasta, "-o", out, "--model", tiny_model_path, "--method", "all-heads"], tmp_path
    )
    maps = {load(p).id: load(p) for p in out.iterdir()}
    assert set(maps) == {long_a, long_b, "short"}
    assert all(len(p.name.encode()) <= 255 for p in out.iterdir())
    accepted(["export", out, "-f", "chai", "-o", tmp_path / "chai"], tmp_path)
    assert len(list((tmp_path / "chai").iterdir())) == 3
    parts = tmp_path / "parts"
    accepted(
        ["jacobian", fasta, "-o", parts, "--positions", "1-30", "--model", tiny_model_path],
        tmp_path,
    )
    accepted(
        ["gather-jacobian", *sorted(parts.glob(f"{'A' * 50}*")), "-o", tmp_path / "g"], tmp_path
    )
    gathered = sorted(load(p).id for p in (tmp_path / "g").iterdir())
    assert gathered == [long_a, long_b]


# ---------------------------------------------------------------- what is already there
def test_other_methods_and_other_files_are_kept(tmp_path, tiny_model_path, data_dir, caplog):
    out = tmp_path / "out"
    pdb = data_dir / "1GUU_A.pdb"
    run = ["predict", pdb, "-o", out, "--model", tiny_model_path]
    accepted(run, tmp_path)
    with caplog.at_level(logging.WARNING, logger="contactplug"):
        accepted([*run, "--method", "all-heads"], tmp_path)
    assert {p.name: load(p).method for p in out.iterdir()} == {
        "1GUU_A.npz": "attention",
        "1GUU_A~2.npz": "all-heads",
    }
    assert (
        "holds the attention map of '1GUU_A' (50 residues); wrote the all-heads map" in caplog.text
    )
    accepted(run, tmp_path)  # attention again: its own file replaced, nothing new
    assert len(list(out.iterdir())) == 2
    # a file that is not a map, a folder, a link out of -o: never written into or through
    (tmp_path / "elsewhere.txt").write_text("outside\n")
    other = tmp_path / "o2"
    other.mkdir()
    (other / "1GUU_A.npz").write_text("my notes\n")
    (other / "1GUU_A~2.npz").mkdir()
    os.symlink(tmp_path / "elsewhere.txt", other / "1GUU_A~3.npz")
    accepted(["predict", pdb, "-o", other, "--model", tiny_model_path], tmp_path)
    assert (other / "1GUU_A.npz").read_text() == "my notes\n"
    assert (tmp_path / "elsewhere.txt").read_text() == "outside\n"
    assert load(other / "1GUU_A~4.npz").id == "1GUU_A"


def test_part_filter_is_exact(tmp_path, tiny_model_path):
    fasta = tmp_path / "ids.fa"
    fasta.write_text(
        f">Q9XYZ1.partial\n{SEQ[:30]}\n>x.part7\n{SEQ[:30]}\n>y.part1-2x\n{SEQ[:30]}\n"
    )
    out = tmp_path / "out"
    accepted(
        ["predict", fasta, "-o", out, "--model", tiny_model_path, "--method", "all-heads"], tmp_path
    )
    accepted(
        ["jacobian", fasta, "-o", out, "--model", tiny_model_path, "--positions", "1-5"], tmp_path
    )
    assert len(list(out.glob("*.part1-5.npz"))) == 3  # the real parts, beside the maps
    ids = sorted(m.id for m in load_dir(out))
    assert ids == ["Q9XYZ1.partial", "x.part7", "y.part1-2x"]
    accepted(["export", out, "-f", "csv", "-o", tmp_path / "csv"], tmp_path)
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == [
        "Q9XYZ1.partial.csv",
        "x.part7.csv",
        "y.part1-2x.csv",
    ]
    only_parts = tmp_path / "parts"
    only_parts.mkdir()
    for p in out.glob("*.part1-5.npz"):
        p.rename(only_parts / p.name)
    refused(
        ["export", only_parts, "-f", "csv", "-o", tmp_path / "c2"], r"only Jacobian parts", tmp_path
    )


# ---------------------------------------------------------------- outputs that are inputs
def test_export_output_equal_to_an_input_is_refused(tmp_path, data_dir):
    npz = toy_map().save(tmp_path / "toy.npz")
    os.symlink(npz, tmp_path / "alias.rr")
    merge = tmp_path / "in.yaml"
    merge.write_text(
        "version: 1\nsequences:\n  - protein:\n      id: A\n      sequence: " + SEQ + "\n"
    )
    cases = [
        (["export", npz, "-f", "csv", "-o", npz], r"-o .*toy\.npz is an input of this export"),
        (["export", npz, "-f", "csv", "-o", tmp_path / "alias.rr"], r"is an input of this export"),
        (["export", npz, "-f", "boltz", "--merge", merge, "-o", merge], r"in\.yaml is an input"),
        (["export", npz, "-f", "rosetta", "--numbering", "author", "--structure",
          data_dir / "1GUU_A.pdb", "--renumber-map", npz, "-o", tmp_path / "r.cst"],
         r"--renumber-map .*toy\.npz is an input"),
        (["export", npz, "-f", "rosetta", "-o", tmp_path / "r.cst", "--renumber-map",
          tmp_path / "r.cst"], r"-o and --renumber-map name the same file"),
    ]  # fmt: skip
    for argv, message in cases:
        refused(argv, message, root=tmp_path)
    assert load(npz).id == "toy"


def test_export_into_the_input_folder_writes_beside(tmp_path):
    toy_map().save(tmp_path / "maps" / "toy.npz")
    accepted(["export", tmp_path / "maps", "-f", "csv", "-o", tmp_path / "maps"], tmp_path)
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == ["toy.csv", "toy.npz"]


def test_one_bad_map_does_not_lose_the_others(tmp_path, data_dir):
    from badinput import structure_map

    for name in ("1CTF_A", "1GUU_A"):
        structure_map(data_dir / f"{name}.pdb").save(tmp_path / "maps" / f"{name}.npz")
    toy_map("fasta_made").save(tmp_path / "maps" / "fasta_made.npz")  # no author numbering
    refused(
        [
            "export",
            tmp_path / "maps",
            "-f",
            "rosetta",
            "--numbering",
            "author",
            "-o",
            tmp_path / "x",
        ],
        r"1 of 3 maps not exported \(fasta_made\.npz\); the other 2 were written",
        root=tmp_path,
        partial=True,
    )
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["1CTF_A.cst", "1GUU_A.cst"]


def test_duplicate_ids_across_inputs_are_refused_before_work(tmp_path, tiny_model_path, data_dir):
    a = tmp_path / "a.fa"
    a.write_text(f">same\n{SEQ}\n")
    b = tmp_path / "b.fa"
    b.write_text(f">same\n{SEQ[:20]}\n")
    argv = ["predict", a, b, "-o", tmp_path / "o", "--model", tiny_model_path]
    refused(argv, r"duplicate id 'same' across the inputs", tmp_path)
    assert not (tmp_path / "o").exists()  # -o is made at the first write, not before
