"""The Categorical Jacobian of a complex: 20 x sum L + 1 forwards over the joined chains, each
mutant a substitution at a residue's own token (linker tokens never mutated nor read), the map's
APC per block as the readout's, `--positions` parts over the joined positions gathered bit for
bit, the chains and linker carried through."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from badinput import refused, run_cli
from parity import of

from contactplug.files.contactmap import load
from contactplug.files.sequences import complex_record
from contactplug.jacobian import categorical as jacobian
from contactplug.models import joining

A, B = "MKTAYIAKQRQI", "GSHMSLFDFF"


def test_rows_are_substitutions_at_each_chains_own_tokens(tiny_model):
    cx = complex_record("cx", [A, B])
    lay = joining.layout(tiny_model, cx, "G5")
    i = len(A) + 3  # the 4th residue of chain B
    jac, n_forward = jacobian.rows(tiny_model, cx, i, i + 1, batch_size=7, progress=False,
                                   linker="G5")  # fmt: skip
    assert n_forward == 21 and jac.shape == (1, 20, len(A) + len(B), 20)
    keep = [f + k for f, n in lay.spans for k in range(n)]
    aa = tiny_model.token_ids(jacobian.AMINO_ACIDS)
    wt = torch.tensor([lay.tokens])
    mutant = wt.clone()
    mutant[0, lay.spans[1][0] + 3] = aa[5]
    with torch.no_grad():
        out = [tiny_model.esm(t)["logits"][0][keep][:, aa].numpy() for t in (wt, mutant)]
    # a difference of two logits computed by other fp32 kernels: the error is relative to the
    # logits, not to their difference (1.3e-5 off at one of 440 on the AMX Xeon)
    tol = of(tiny_model)
    atol = tol["atol"] + tol["rtol"] * float(np.abs(np.stack(out)).max())
    np.testing.assert_allclose(jac[0, 5], out[1] - out[0], rtol=0, atol=atol)


def test_the_map_takes_apc_per_block():
    rng = np.random.default_rng(1)
    scores = rng.random((9, 9))
    scores = scores + scores.T
    got = jacobian.finish_map(scores.copy(), True, [5, 4])
    inter = got[:5, 5:]
    assert abs(inter.sum()) < 1e-5 and abs(inter.sum(0)).max() < 1e-5  # centred on its own
    whole = jacobian.finish_map(scores.copy(), True)
    assert np.abs(whole[:5, 5:] - inter).max() > 1e-3


def test_jacobian_of_a_fasta_complex_and_its_parts(tmp_path, tiny_model_path):
    fasta = tmp_path / "cx.fa"
    fasta.write_text(f">cx\n{A}:{B}\n")
    base = ["jacobian", fasta, "--model", tiny_model_path, "--linker", "G5", "--batch-size", "20"]
    code, _, err = run_cli([*base, "-o", tmp_path / "whole"])
    assert code == 0, err
    whole = load(tmp_path / "whole" / "cx.npz")
    assert whole.chain_ids == ["A", "B"] and whole.chain_lengths == [12, 10]
    assert whole.linker == "G5" and whole.n_forward == 20 * 22 + 1
    for span in ("1-9", "10-22"):  # the second part starts inside chain A, ends in B
        code, _, err = run_cli([*base, "--positions", span, "-o", tmp_path / "parts"])
        assert code == 0, err
    parts = sorted((tmp_path / "parts").glob("*.npz"))
    code, _, err = run_cli(["gather-jacobian", *parts, "-o", tmp_path / "gathered"])
    assert code == 0, err
    gathered = load(tmp_path / "gathered" / "cx.npz")
    assert gathered.chain_lengths == [12, 10] and gathered.linker == "G5"
    np.testing.assert_array_equal(gathered.contacts, whole.contacts)


@pytest.mark.parametrize("extra", [["--linker", "G999"], ["--linker", "G200", "--chains", "all"]])
def test_bad_complex_jacobian_inputs_are_one_line(tmp_path, tiny_model_path, extra):
    from test_complex_predict import TII

    words = "unknown linker" if "G999" in extra else r"take \d+ positions"
    argv = ["jacobian", TII, *extra, "-o", tmp_path / "out", "--model", tiny_model_path]
    if "--chains" not in extra:
        argv += ["--chains", "C,D"]
    refused(argv, words, root=tmp_path)
