"""Bad input, class 5: common inputs that simply work, and their damaged forms in one line.

gzip FASTA and structures (.fa.gz, .pdb.gz, .cif.gz, .ent.gz, the PDB's assemblies .pdb1.gz;
gzip is told by its bytes, not the suffix), a UTF-8 BOM, Latin-1 and CRLF bytes, `-` for
standard input (FASTA or a structure), a folder of inputs, a structure under another suffix
(told by its content), and a CA-only structure in evaluate (refused with --atom CA offered).
"""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
from badinput import SEQ, accepted, refused, structure_map

from contactplug.files.contactmap import load
from contactplug.inputs.structure import read_chain

FASTA = f">q1 first\n{SEQ}\n>q2\n{SEQ[:40]}\n"


def _gz(data: bytes, path):
    with gzip.GzipFile(path, "wb", mtime=0) as handle:
        handle.write(data)
    return path


@pytest.fixture
def predict_run(tmp_path, tiny_model_path):
    def run(*inputs, out="out", **kw):
        argv = ["predict", *inputs, "-o", tmp_path / out, "--model", tiny_model_path]
        accepted([*argv, "--method", "all-heads"], tmp_path, **kw)
        return {p.stem: load(p) for p in (tmp_path / out).glob("*.npz")}

    return run


def test_gzip_fasta_by_suffix_and_by_bytes(tmp_path, predict_run):
    plain = tmp_path / "q.fa"
    plain.write_text(FASTA)
    zipped = _gz(FASTA.encode(), tmp_path / "z.fa.gz")
    hidden = _gz(FASTA.replace(">q", ">h").encode(), tmp_path / "h.fasta")  # gzip, no .gz
    maps = predict_run(plain, out="a")
    assert {k: m.sequence for k, m in predict_run(zipped, out="b").items()} == {
        k: m.sequence for k, m in maps.items()
    }
    assert set(predict_run(hidden, out="c")) == {"h1", "h2"}


def test_gzip_structures_and_assemblies(tmp_path, data_dir, predict_run):
    source = data_dir / "1TEN_A.pdb"
    text = source.read_bytes()
    inputs = [
        _gz(text, tmp_path / "a.pdb.gz"),
        _gz(text, tmp_path / "b.ent.gz"),
        _gz((data_dir / "formats" / "1TEN_A.cif").read_bytes(), tmp_path / "c.cif.gz"),
        _gz(b"MODEL        1\n" + text.replace(b"END", b"") + b"ENDMDL\nMODEL        2\n"
            + text.replace(b"END", b"") + b"ENDMDL\nEND\n", tmp_path / "1ten.pdb1.gz"),
    ]  # fmt: skip
    maps = predict_run(*inputs)
    assert sorted(maps) == ["1ten_A", "a_A", "b_A", "c_A"]
    want = read_chain(source)
    for cmap in maps.values():
        assert cmap.sequence == want.sequence and np.array_equal(cmap.resnum, want.resnum)


def test_bom_latin1_crlf(tmp_path, data_dir, predict_run):
    bom = tmp_path / "bom.fa"
    bom.write_bytes(b"\xef\xbb\xbf" + FASTA.replace(">q", ">b").encode())
    latin = tmp_path / "latin.fa"
    latin.write_bytes(b">l1 prot\xe9ine caf\xe9 \x85 na\xefve\r\n" + SEQ.encode() + b"\r\n")
    crlf = tmp_path / "crlf.fa"
    crlf.write_bytes(FASTA.replace(">q", ">c").replace("\n", "\r\n").encode())
    pdb_bom = tmp_path / "bom.pdb"
    pdb_bom.write_bytes(b"\xef\xbb\xbf" + (data_dir / "1GUU_A.pdb").read_bytes())
    maps = predict_run(bom, latin, crlf, pdb_bom)
    assert sorted(maps) == ["b1", "b2", "bom_A", "c1", "c2", "l1"]
    assert maps["l1"].sequence == SEQ and maps["bom_A"].length == 50


def test_stdin_fasta_and_structure(tmp_path, data_dir, predict_run):
    maps = predict_run("-", subprocess=True, stdin=FASTA.encode(), out="fa")
    assert sorted(maps) == ["q1", "q2"]
    pdb = (data_dir / "1GUU_A.pdb").read_bytes()
    maps = predict_run("-", subprocess=True, stdin=pdb, out="pdb")
    [(name, cmap)] = maps.items()
    assert name == "stdin_A" and cmap.length == 50 and cmap.resnum[0] == 40
    maps = predict_run("-", subprocess=True, stdin=gzip.compress(FASTA.encode()), out="gz")
    assert sorted(maps) == ["q1", "q2"]


def test_a_folder_of_inputs(tmp_path, data_dir, predict_run, tiny_model_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "q.fasta").write_text(FASTA)
    shutil.copy(data_dir / "1GUU_A.pdb", folder)
    _gz((data_dir / "2O9S_A.pdb").read_bytes(), folder / "2O9S_A.pdb.gz")
    (folder / "README.txt").write_text("notes, not an input\n")
    (folder / ".hidden.fa").write_text(">x\nMKT\n")
    (folder / "sub").mkdir()
    maps = predict_run(folder)
    assert sorted(maps) == ["1GUU_A", "2O9S_A", "q1", "q2"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x\n")
    argv = ["predict", empty, "-o", tmp_path / "o", "--model", tiny_model_path]
    refused(argv, r"empty: no FASTA .* or structure .* files", tmp_path)


def test_a_structure_under_another_suffix_is_told_by_its_content(tmp_path, data_dir, predict_run):
    shutil.copy(data_dir / "1GUU_A.pdb", tmp_path / "model.txt")
    shutil.copy(data_dir / "formats" / "1TEN_A.cif", tmp_path / "download")
    maps = predict_run(tmp_path / "model.txt", tmp_path / "download")
    assert sorted(maps) == ["download_A", "model_A"]


def test_damaged_compressed_inputs_are_one_line(tmp_path, data_dir, tiny_model_path):
    good = _gz(FASTA.encode(), tmp_path / "q.fa.gz")
    cut = tmp_path / "cut.fa.gz"
    cut.write_bytes(good.read_bytes()[:20])
    pdb = _gz((data_dir / "1GUU_A.pdb").read_bytes(), tmp_path / "p.pdb.gz")
    cut_pdb = tmp_path / "cut.pdb.gz"
    cut_pdb.write_bytes(pdb.read_bytes()[:40])
    for path, message in (
        (cut, r"cut\.fa\.gz: cannot read input \(damaged gzip data"),
        (cut_pdb, r"cut\.pdb\.gz: cannot read structure \(damaged gzip data"),
    ):
        argv = ["predict", path, "-o", tmp_path / "o", "--model", tiny_model_path]
        refused(argv, message, tmp_path)


def test_ca_only_structure_in_evaluate_offers_atom_ca(tmp_path, data_dir):
    lines = (data_dir / "1CTF_A.pdb").read_text().splitlines()
    ca_only = tmp_path / "1CTF_A.pdb"
    ca_only.write_text(
        "\n".join(x for x in lines if not x.startswith("ATOM") or x[12:16] == " CA ") + "\n"
    )
    npz = structure_map(data_dir / "1CTF_A.pdb").save(tmp_path / "maps" / "1CTF_A.npz")
    argv = ["evaluate", npz, "--structure", ca_only, "-o", tmp_path / "m.json"]
    refused(argv, r"no C-beta positions .*CA-only model\? use --atom CA", tmp_path)
    refused(
        [
            "compare",
            tmp_path / "maps",
            tmp_path / "maps",
            "--structures",
            tmp_path,
            "-o",
            tmp_path / "r",
        ],
        r"use --atom CA|no map could be",
        tmp_path,
    )
    accepted([*argv, "--atom", "CA"], tmp_path)
    assert (tmp_path / "m.json").exists()


def test_more_odd_inputs(tmp_path, data_dir, predict_run, tiny_model_path):
    utf16 = tmp_path / "notepad.fa"
    utf16.write_bytes(FASTA.replace(">q", ">u").encode("utf-16"))
    assert sorted(predict_run(utf16)) == ["u1", "u2"]
    base = ["-o", tmp_path / "o", "--model", tiny_model_path]
    fasta = tmp_path / "q.fa"
    fasta.write_text(FASTA)
    refused(["predict", "-", "-", *base], r"'-' \(standard input\) is given twice", tmp_path)
    refused(
        ["predict", "-", *base], r"<stdin>: no FASTA records", tmp_path, subprocess=True, stdin=b""
    )
    nul = tmp_path / "nul.fa"
    nul.write_bytes(b">n\nMKT\x00AYI\n")
    refused(["predict", nul, *base], r"nul\.fa:n: characters '\\x00' are not amino acids", tmp_path)
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(data_dir / "1GUU_A.pdb", folder)
    (folder / "broken.pdb").write_text("HELLO\n")
    refused(["predict", folder, *base], r"broken\.pdb: not a structure file", tmp_path)
