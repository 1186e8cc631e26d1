"""`predict` on complexes end to end: `--chains` over PyMOL's shipped 1tii.pdb (heat-labile
enterotoxin IIb: A subunit, A2 chain C, five identical B chains D-H), FASTA records of chains
joined by ':', the same complex from either, linkers recorded, numbering across chains, the
library face, and the bad inputs of a complex in one line each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pymol
import pytest
from badinput import refused, run_cli
from parity import of

from contactplug import api
from contactplug.files.contactmap import load
from contactplug.inputs.structure import read_chain

TII = Path(pymol.__file__).parent / "pymol_path" / "data" / "demo" / "1tii.pdb"


def predict(tmp_path, tiny_model_path, *argv):
    code, _, err = run_cli(["predict", *argv, "-o", tmp_path / "out", "--model", tiny_model_path])
    assert code == 0, err
    return tmp_path / "out"


def test_chains_of_a_structure_make_one_complex(tmp_path, tiny_model_path):
    out = predict(tmp_path, tiny_model_path, TII, "--chains", "C,D")
    cmap = load(out / "1tii_C_D.npz")
    c, d = read_chain(TII, "C"), read_chain(TII, "D")
    assert cmap.chain_ids == ["C", "D"] and cmap.chain_lengths == [len(c.sequence), 98]
    assert cmap.sequence == c.sequence + d.sequence and cmap.chain is None
    assert cmap.linker == "special"  # ESM-2's default, recorded
    np.testing.assert_array_equal(cmap.resnum, np.concatenate([c.resnum, d.resnum]))
    assert cmap.chain_of(len(c.sequence)) == "D" and cmap.label(len(c.sequence)) == "1"
    assert np.allclose(cmap.contacts, cmap.contacts.T) and not np.diag(cmap.contacts).any()


def test_the_same_complex_from_fasta_and_from_structure(tmp_path, tiny_model_path):
    c, d = read_chain(TII, "C").sequence, read_chain(TII, "D").sequence
    fasta = tmp_path / "cx.fa"
    fasta.write_text(f">cx\n{c}:{d}\n>alone\n{d}\n")  # a complex and a single chain, one run
    out = predict(tmp_path, tiny_model_path, fasta, TII, "--chains", "C,D", "--linker", "G25")
    from_fasta, from_pdb = load(out / "cx.npz"), load(out / "1tii_C_D.npz")
    assert from_fasta.chain_ids == ["A", "B"]  # lettered in order: FASTA names no chains
    assert from_fasta.linker == from_pdb.linker == "G25"
    np.testing.assert_allclose(from_fasta.contacts, from_pdb.contacts, atol=1e-6)
    assert not load(out / "alone.npz").is_complex


def test_all_chains_in_file_order_and_the_library_gives_the_same(tmp_path, tiny_model_path):
    out = predict(tmp_path, tiny_model_path, TII, "--chains", "all", "--linker", "none")
    cmap = load(out / "1tii_D_E_F_G_H_A_C.npz")
    assert cmap.chain_ids == list("DEFGHAC") and sum(cmap.chain_lengths) == cmap.length
    seqs = [read_chain(TII, name).sequence for name in "DE"]
    [lib] = api.predict(":".join(seqs), model=str(tiny_model_path), linker="none")
    assert lib.is_complex and lib.chain_lengths == [98, 98] and lib.linker == "none"
    [cli] = api.predict(":".join(seqs), model=str(tiny_model_path), linker="special")
    assert np.abs(cli.contacts - lib.contacts).max() > 1e-4  # the linker changes the map


def test_a_single_chain_file_with_all_falls_back_saying_so(tmp_path, tiny_model_path, data_dir):
    argv = ["predict", data_dir / "1GUU_A.pdb", "--chains", "all", "-o", tmp_path / "out"]
    code, _, err = run_cli([*argv, "--model", tiny_model_path], subprocess=True)
    assert code == 0 and "one protein chain (A); predicted as a single chain" in err
    cmap = load(tmp_path / "out" / "1GUU_A.npz")
    assert not cmap.is_complex and cmap.chain == "A"


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--chains", "C,C"], "chain 'C' is named twice"),
        (["--chains", "C"], "a complex needs two or more chains"),
        (["--chains", "C,Z"], "no protein chain 'Z'; protein chains here"),
        (["--chains", "C,,D"], "an empty chain name"),
        (["--chains", "C,D", "--chain", "C"], "--chain and --chains contradict"),
        (["--chains", "C,D", "--linker", "G0"], "unknown linker 'G0'"),
        (["--chains", "all", "--linker", "G200"], r"take \d+ positions.*reads at most 1022"),
    ],
)
def test_bad_complex_inputs_are_one_line(tmp_path, tiny_model_path, extra, words):
    argv = ["predict", TII, *extra, "-o", tmp_path / "out", "--model", tiny_model_path]
    refused(argv, words, root=tmp_path)


@pytest.mark.parametrize(
    "text, words",
    [(">x\nMKV::GGA\n", "chain 2 of 3 is empty"), (">x\nMKVLL:\n", "chain 2 of 2 is empty")],
)
def test_stray_colons_in_fasta_are_one_line(tmp_path, tiny_model_path, text, words):
    fasta = tmp_path / "x.fa"
    fasta.write_text(text)
    refused(["predict", fasta, "-o", tmp_path / "out", "--model", tiny_model_path], words,
            root=tmp_path)  # fmt: skip


def test_a_complex_in_a_batch_equals_it_alone(tiny_model):
    seqs = ["MKTAYIAKQRQISFVKSHFSRQ:GSHMSLFDFFKNKGSAA", "MQIFVKTLTGKTITLEV"]
    batched = api.predict(seqs, model=tiny_model, method="all-heads")
    alone = api.predict(seqs[0], model=tiny_model, method="all-heads")
    np.testing.assert_allclose(batched[0].contacts, alone[0].contacts, **of(tiny_model))


def test_structure_writes_a_complex_as_its_fasta_map_letters_it(tmp_path, tiny_model_path):
    """The pipeline's scored structure of a FASTA complex: the named chains, renamed A, B in
    order, so that `evaluate` finds the map's chains in it."""
    c, d = read_chain(TII, "C").sequence, read_chain(TII, "D").sequence
    fasta = tmp_path / "cx.fa"
    fasta.write_text(f">cx\n{c}:{d}\n")
    code, out, err = run_cli(["structure", TII, "--fasta", fasta, "--chains", "C,D",
                              "-o", tmp_path / "st"])  # fmt: skip
    assert code == 0 and "chains C as A, D as B" in out, err
    written = tmp_path / "st" / "cx.cif"
    assert read_chain(written, "A").sequence == c and read_chain(written, "B").sequence == d
    np.testing.assert_array_equal(read_chain(written, "B").cb, read_chain(TII, "D").cb)
    maps = predict(tmp_path, tiny_model_path, fasta)
    code, _, err = run_cli(["evaluate", maps, "--structure", tmp_path / "st", "-o", tmp_path / "m"])
    assert code == 0, err
    assert "inter A-B" in (tmp_path / "m.csv").read_text()
    refused(["structure", TII, "--fasta", fasta, "--chains", "D,C", "-o", tmp_path / "bad"],
            "the sequence matches no protein chain", root=tmp_path)  # fmt: skip
