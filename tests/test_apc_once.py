"""APC written once for numpy (issue 21, item 3): `jacobian.categorical.apc_inplace` serves the
Jacobian's whole map and each block of a complex's, and agrees with the readout's torch APC;
the Jacobian's two meta dicts come from one helper (item 4)."""

from __future__ import annotations

import numpy as np
import torch

from contactplug.files.sequences import Record, complex_record
from contactplug.jacobian import categorical as jacobian
from contactplug.readout.attention import process_heads


def _old_per_block(scores: np.ndarray, chain_lengths: list[int]) -> np.ndarray:
    """finish_map's per-block APC as it was written before it called apc_inplace."""
    scores = scores.copy()
    np.fill_diagonal(scores, 0)
    ends = np.cumsum([0, *chain_lengths])
    for c in range(len(chain_lengths)):
        for d in range(len(chain_lengths)):
            block = scores[ends[c] : ends[c + 1], ends[d] : ends[d + 1]]
            total = block.sum() if block.sum() != 0 else 1
            block -= np.outer(block.sum(-1), block.sum(-2)) / total
    np.fill_diagonal(scores, 0)
    return scores.astype(np.float32)


def test_per_block_apc_is_bit_for_bit_as_before():
    rng = np.random.default_rng(3)
    for lengths in ([5, 4], [7, 3, 6], [300, 20]):  # 300 rows: more than one chunk of 256
        n = sum(lengths)
        scores = rng.random((n, n))
        scores = scores + scores.T
        got = jacobian.finish_map(scores.copy(), True, lengths)
        np.testing.assert_array_equal(got, _old_per_block(scores, lengths))


def test_apc_inplace_is_the_textbook_formula_in_any_chunks():
    rng = np.random.default_rng(4)
    for shape in ((9, 9), (6, 11), (300, 40)):  # square, rectangular blocks, several chunks
        x = rng.random(shape)
        want = x - np.outer(x.sum(1), x.sum(0)) / x.sum()
        for chunk in (1, 4, 256):
            got = jacobian.apc_inplace(x.copy(), chunk)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    zero = np.zeros((4, 4))
    np.testing.assert_array_equal(jacobian.apc_inplace(zero.copy()), zero)  # total 0: no NaN


def test_numpy_apc_agrees_with_the_readouts_torch_apc():
    gen = torch.Generator().manual_seed(5)
    length = 30
    attn = torch.rand(3, length + 2, length + 2, generator=gen).softmax(-1)  # BOS, L, EOS
    got = process_heads(attn, length).numpy()
    crop = attn[:, 1 : length + 1, 1 : length + 1].double().numpy()
    for h in range(3):
        sym = 0.5 * (crop[h] + crop[h].T)  # the readout takes APC before zeroing the diagonal
        want = jacobian.apc_inplace(sym)
        np.fill_diagonal(want, 0)
        np.testing.assert_allclose(got[h], want, rtol=1e-5, atol=1e-7)


def test_single_and_complex_maps_carry_the_same_meta(tiny_model):
    single = jacobian.contact_map(tiny_model, Record("s", "MKTAYIAKQR"), progress=False)
    cx = jacobian.contact_map(
        tiny_model, complex_record("cx", ["MKTAY", "IAKQR"]), progress=False, linker="G5"
    )
    keys = {"device", "dtype", "model_source", "fingerprint", "batch_size", "store"}
    assert set(single.meta) == set(cx.meta) == keys
    for key in keys - {"batch_size"}:
        assert single.meta[key] == cx.meta[key], key
    assert single.meta["fingerprint"] == tiny_model.fingerprint
    fast = jacobian.contact_map(tiny_model, Record("s", "MKTAYIAKQR"), fast=True, progress=False)
    assert "store" not in fast.meta and fast.meta["batch_size"] >= 1
