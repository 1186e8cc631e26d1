"""The core CLI end to end on real structures with a tiny model: outputs, schema, exit codes."""

import numpy as np
import pytest

from contactplug.cli import main
from contactplug.files.contactmap import load


def run(capsys, *argv):
    code = main(["-q", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_predict_structure_and_fasta(tmp_path, capsys, tiny_model_path, data_dir):
    fasta = tmp_path / "q.fa"
    fasta.write_text(">q1\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n>q2\nmktayiakqr\n")
    code, _, err = run(
        capsys,
        "predict",
        data_dir / "1GUU_A.pdb",
        fasta,
        "-o",
        tmp_path / "out",
        "--model",
        tiny_model_path,
    )
    assert code == 0, err
    cmap = load(tmp_path / "out" / "1GUU_A.npz")
    assert cmap.chain == "A" and len(cmap.resnum) == cmap.length == 50
    assert cmap.method == "attention" and cmap.n_forward == 1
    assert np.allclose(cmap.contacts, cmap.contacts.T) and not np.diag(cmap.contacts).any()
    assert load(tmp_path / "out" / "q2.npz").sequence == "MKTAYIAKQR"
    assert not list((tmp_path / "out").glob(".*tmp"))  # no half-written files


@pytest.mark.parametrize("method", ["esm-head", "all-heads"])
def test_predict_baselines(tmp_path, capsys, tiny_model_path, data_dir, method):
    code, _, err = run(
        capsys,
        "predict",
        data_dir / "2O9S_A.pdb",
        "-o",
        tmp_path,
        "--model",
        tiny_model_path,
        "--method",
        method,
    )
    assert code == 0, err
    assert load(tmp_path / "2O9S_A.npz").method == method


def test_jacobian_scatter_gather_cli(tmp_path, capsys, tiny_model_path, data_dir):
    pdb = data_dir / "1GUU_A.pdb"
    for span in ("1-17", "18-40", "41-50"):
        code, _, err = run(
            capsys,
            "jacobian",
            pdb,
            "-o",
            tmp_path / "parts",
            "--model",
            tiny_model_path,
            "--positions",
            span,
            "--batch-size",
            "32",
        )
        assert code == 0, err
    assert (
        run(
            capsys,
            "gather-jacobian",
            *sorted((tmp_path / "parts").glob("*.npz")),
            "-o",
            tmp_path / "gathered",
        )[0]
        == 0
    )
    assert (
        run(capsys, "jacobian", pdb, "-o", tmp_path / "whole", "--model", tiny_model_path)[0] == 0
    )
    a, b = load(tmp_path / "gathered" / "1GUU_A.npz"), load(tmp_path / "whole" / "1GUU_A.npz")
    assert np.array_equal(a.contacts, b.contacts)
    assert a.chain == b.chain == "A" and np.array_equal(a.resnum, b.resnum)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", "{data}/nope.fa"], "no such input file"),
        (["predict", "{bad}"], "not amino acids"),
        (["predict", "{data}/1GUU_A.pdb", "--chain", "Z"], "no protein chain 'Z'"),
        (["predict", "{long}", "--window", "0"], "1022-residue window"),
        (["predict", "{data}/1GUU_A.pdb", "--top-k", "99"], "--top-k must be between"),
        (["jacobian", "{data}/1GUU_A.pdb", "--positions", "60-70"], "only 50 residues"),
        (["predict", "{corrupt}"], "cannot read|not a FASTA|before any"),
    ],
)
def test_bad_input_exit_2_one_line(tmp_path, capsys, tiny_model_path, data_dir, argv, message):
    bad = tmp_path / "bad.fa"
    bad.write_text(">x\nMK-TA\n")
    long = tmp_path / "long.fa"
    long.write_text(">x\n" + "A" * 1100 + "\n")
    corrupt = tmp_path / "corrupt.fa"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    argv = [a.format(data=data_dir, bad=bad, long=long, corrupt=corrupt) for a in argv]
    code, _, err = run(capsys, *argv, "-o", tmp_path / "o", "--model", tiny_model_path)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("contactplug: error:")
    import re

    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_long_protein_is_windowed_by_default(tmp_path, capsys, tiny_model_path):
    fasta = tmp_path / "long.fa"
    fasta.write_text(">long\n" + "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ" * 34 + "\n")  # 1122
    code, _, err = run(capsys, "predict", fasta, "-o", tmp_path / "o", "--model", tiny_model_path)
    assert code == 0, err
    cmap = load(tmp_path / "o" / "long.npz")
    assert cmap.length == 1122 and np.allclose(cmap.contacts, cmap.contacts.T)
    assert cmap.n_forward >= 2  # more than one window was read


def test_model_info_and_corrupt_checkpoint(tmp_path, capsys, tiny_model_path):
    code, out, _ = run(capsys, "model-info", "--model", tiny_model_path)
    assert code == 0 and "esm-head" in out and "fingerprint" in out
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"\x00" * 100)
    code, _, err = run(capsys, "model-info", "--model", broken)
    assert code == 2 and "corrupt" in err


def test_select_heads_on_structures(tmp_path, capsys, tiny_model_path, data_dir):
    structures = tmp_path / "s"
    structures.mkdir()
    for name in ("1AQT_A.pdb", "1TEN_A.pdb", "2O9S_A.pdb", "1CTF_A.pdb", "2BWF_A.pdb"):
        (structures / name).write_bytes((data_dir / name).read_bytes())
    code, out, err = run(
        capsys,
        "select-heads",
        "--model",
        tiny_model_path,
        "--structures",
        structures,
        "-o",
        tmp_path / "heads.json",
        "--no-cache",
    )
    assert code == 0, err
    assert "K=" in out
    from contactplug.readout.ranking import read_ranking

    assert len(read_ranking(tmp_path / "heads.json").heads) == 8


def test_select_heads_reuse_copies_known_ranking(tmp_path, capsys, tiny_model, tiny_model_path):
    from contactplug.readout.ranking import get_ranking, read_ranking

    known = get_ranking(tiny_model)
    code, out, _ = run(
        capsys, "select-heads", "--model", tiny_model_path, "--reuse", "-o", tmp_path / "h.json"
    )
    assert code == 0 and "reused" in out
    assert read_ranking(tmp_path / "h.json").heads == known.heads
