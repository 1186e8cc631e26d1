"""The last short classes of bad input (issue 21, item 9), each one line and exit 2 or a
stated fallback: line endings of every kind, a sequence of only unknown letters, a model path
that is not there, contradictory separations."""

from __future__ import annotations

import pytest
from badinput import refused, run_cli

from contactplug.files.contactmap import load
from contactplug.files.specs import parse_sep


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r", "\u2028", "\u2029"])
def test_every_line_ending_reads_the_same(tmp_path, tiny_model_path, end):
    fasta = tmp_path / "q.fa"
    fasta.write_text(end.join([">a desc", "MKTAYIAK", "QRQISF", ">b", "GSHMSL", ""]), "utf-8")
    code, _, err = run_cli(["predict", fasta, "-o", tmp_path / "out", "--model", tiny_model_path])
    assert code == 0, err
    assert load(tmp_path / "out" / "a.npz").sequence == "MKTAYIAKQRQISF"
    assert load(tmp_path / "out" / "b.npz").sequence == "GSHMSL"


def test_only_unknown_letters_is_refused_before_a_map(tmp_path, tiny_model_path):
    fasta = tmp_path / "x.fa"
    fasta.write_text(">x\nXXXXXXXXXXBZ\n")
    refused(["predict", fasta, "-o", tmp_path / "out", "--model", tiny_model_path],
            r"only non-standard letters \(BXZ\); no amino acid", root=tmp_path)  # fmt: skip


@pytest.mark.parametrize("spec", ["./nothere", "nothere/", "~/no/such/esm2.pt.d"])
def test_a_missing_model_path_is_named_as_a_path(tmp_path, spec):
    fasta = tmp_path / "q.fa"
    fasta.write_text(">q\nMKTAYIAK\n")
    refused(["predict", fasta, "-o", tmp_path / "out", "--model", spec],
            "no such model file or folder", root=tmp_path)  # fmt: skip


@pytest.mark.parametrize(
    "text, max_sep, words",
    [
        ("long", 10, "the upper bound 10 is below 24"),
        ("short", 20, "ends at 11, but the maximum separation given is 20"),
        ("6-20", 10, "ends at 20, but the maximum separation given is 10"),
        ("30", 10, "the upper bound 10 is below 30"),
    ],
)
def test_contradictory_separations_are_one_line(text, max_sep, words):
    with pytest.raises(Exception, match=words):
        parse_sep(text, max_sep)


def test_agreeing_separations_still_pass():
    assert parse_sep("short", 11) == (6, 11) and parse_sep("long") == (24, None)
    assert parse_sep("8", 30) == (8, 30) and parse_sep("6-20", 20) == (6, 20)


def test_a_ranking_fitted_on_one_protein_is_said_and_not_cached(tmp_path, tiny_model, data_dir):
    from contactplug.readout.cache import cached_path

    one = tmp_path / "one"
    one.mkdir()
    (one / "1GUU_A.pdb").write_bytes((data_dir / "1GUU_A.pdb").read_bytes())
    cache = cached_path(tiny_model.fingerprint)
    before = cache.read_bytes() if cache.exists() else None  # made by earlier tests, or not
    argv = ["select-heads", "--structures", one, "-o", tmp_path / "r.json"]
    code, _, err = run_cli([*argv, "--model", tiny_model.source], subprocess=True)
    assert code == 0, err
    assert "ranking heads on 1 protein(s) only" in err and "not cached" in err
    assert (tmp_path / "r.json").is_file()
    assert (cache.read_bytes() if cache.exists() else None) == before


def test_a_folder_where_one_map_is_wanted_is_named_a_folder(tmp_path):
    (tmp_path / "maps").mkdir()
    refused(["plot", tmp_path / "maps", "-o", tmp_path / "p.png"], "maps: a folder; give one",
            root=tmp_path)  # fmt: skip
