"""The Categorical Jacobian: batched code against a naive one-mutant-at-a-time reference."""

import numpy as np
import pytest
import torch

from contactplug.files.errors import ContactplugError
from contactplug.files.sequences import Record
from contactplug.jacobian import categorical as jacobian
from contactplug.jacobian.parts import compute_part, gather, parse_positions

SEQ = "MKTAYIAKQRQISFVKSHFSRQ"
AA = "LAGVSERTIDPKQNFYMHWC"


def naive_jacobian(model, seq, representation=False):
    """One forward per mutant, float64, explicit loops: the authors' recipe written plainly."""
    aa_idx = [model.alphabet.get_idx(a) for a in AA]

    def out(s):
        with torch.no_grad():
            tokens = model.tokens([s])
            if representation:
                r = model.esm(tokens, repr_layers=[model.num_layers])["representations"]
                return r[model.num_layers][0, 1:-1].double().numpy()
            return model.esm(tokens)["logits"][0, 1:-1][:, aa_idx].double().numpy()

    base = out(seq)
    L = len(seq)
    J = np.zeros((L, 20, L, base.shape[1]))
    for i in range(L):
        for a, letter in enumerate(AA):
            J[i, a] = out(seq[:i] + letter + seq[i + 1 :]) - base
    return J


def naive_map(J, symmetric=True):
    if symmetric:
        J = (J + J.transpose(2, 3, 0, 1)) / 2
    for axis in range(4):
        J = J - J.mean(axis, keepdims=True)
    L = J.shape[0]
    M = np.array([[np.linalg.norm(J[i, :, j, :]) for j in range(L)] for i in range(L)])
    np.fill_diagonal(M, 0)
    M = M - np.outer(M.sum(1), M.sum(0)) / M.sum()
    if not symmetric:
        M = (M + M.T) / 2
    np.fill_diagonal(M, 0)
    return M


@pytest.fixture(scope="module")
def naive(tiny_model):
    return naive_jacobian(tiny_model, SEQ)


@pytest.mark.parametrize("batch_size", [1, 7, 20, 64])
def test_batched_rows_equal_naive(tiny_model, naive, batch_size):
    rows, n_forward = jacobian.rows(tiny_model, SEQ, batch_size=batch_size, progress=False)
    assert n_forward == 20 * len(SEQ) + 1
    np.testing.assert_allclose(rows, naive, atol=2e-5)


def test_map_equals_naive(tiny_model, naive):
    cmap = jacobian.contact_map(tiny_model, Record("q", SEQ), batch_size=13, progress=False)
    want = naive_map(naive)
    np.testing.assert_allclose(cmap.contacts, want, atol=1e-4 * np.abs(want).max())
    assert cmap.method == "jacobian" and cmap.n_forward == 20 * len(SEQ) + 1
    assert np.allclose(cmap.contacts, cmap.contacts.T)


def test_wild_type_substitution_is_zero(tiny_model):
    rows, _ = jacobian.rows(tiny_model, SEQ, 0, 3, batch_size=20, progress=False)
    for i in range(3):
        assert np.abs(rows[i, AA.index(SEQ[i])]).max() < 1e-5


def test_representation_jacobian_equals_naive(tiny_model):
    seq = SEQ[:12]
    want = naive_map(naive_jacobian(tiny_model, seq, representation=True), symmetric=False)
    cmap = jacobian.contact_map(tiny_model, Record("q", seq), representation=True, progress=False)
    assert cmap.method == "repr-jacobian"
    np.testing.assert_allclose(cmap.contacts, want, atol=1e-4 * np.abs(want).max())


def test_fast_variant_masks_each_position_once(tiny_model):
    rows, n = jacobian.rows(tiny_model, SEQ, fast=True, progress=False)
    assert rows.shape == (len(SEQ), 1, len(SEQ), 20) and n == len(SEQ) + 1
    tokens = tiny_model.tokens([SEQ])
    masked = tokens.clone()
    masked[0, 5] = tiny_model.alphabet.mask_idx
    aa = [tiny_model.alphabet.get_idx(a) for a in AA]
    with torch.no_grad():
        diff = (
            tiny_model.esm(masked)["logits"][0, 1:-1][:, aa]
            - tiny_model.esm(tokens)["logits"][0, 1:-1][:, aa]
        )
    np.testing.assert_allclose(rows[4, 0], diff.numpy(), atol=1e-5)
    scores = jacobian.to_map(rows)
    assert np.allclose(scores, scores.T) and np.all(np.diag(scores) == 0)


def test_deterministic(tiny_model):
    a = jacobian.contact_map(tiny_model, Record("q", SEQ), progress=False).contacts
    b = jacobian.contact_map(tiny_model, Record("q", SEQ), progress=False).contacts
    assert np.array_equal(a, b)


def test_gathered_parts_equal_unsplit(tiny_model, tmp_path):
    rec = Record("q", SEQ)
    whole = jacobian.contact_map(tiny_model, rec, progress=False)
    parts = [
        compute_part(tiny_model, rec, s, e, tmp_path, progress=False)
        for s, e in [(10, 22), (0, 4), (4, 10)]
    ]
    got = gather(parts)
    assert np.array_equal(got.contacts, whole.contacts)
    assert got.n_forward == 20 * len(SEQ) + 3  # each part pays its own wild-type pass
    with pytest.raises(ContactplugError, match="gap at position 5"):
        gather([parts[0], parts[1]])
    overlap = compute_part(tiny_model, rec, 2, 6, tmp_path / "o", progress=False)
    with pytest.raises(ContactplugError, match="overlap"):
        gather(parts + [overlap])


def test_parts_of_different_variants_refuse_to_mix(tiny_model, tmp_path):
    rec = Record("q", SEQ)
    a = compute_part(tiny_model, rec, 0, 11, tmp_path / "a", progress=False)
    b = compute_part(tiny_model, rec, 11, 22, tmp_path / "b", fast=True, progress=False)
    with pytest.raises(ContactplugError, match="disagree on method"):
        gather([a, b])


@pytest.mark.parametrize("text, want", [("1-5", (0, 5)), ("3-3", (2, 3)), ("10-99", (9, 22))])
def test_parse_positions(text, want):
    assert parse_positions(text, len(SEQ)) == want


@pytest.mark.parametrize("text", ["0-5", "5-1", "a-b", "30-40"])
def test_bad_positions(text):
    with pytest.raises(ContactplugError):
        parse_positions(text, len(SEQ))
