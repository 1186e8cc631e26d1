"""A complex through the readout: its chains joined for each family (linkers), linker positions
left out, APC per block (each chain's own block, each inter-chain block on its own), held to a
float64 reference built from fair-esm's own attention on the same joined token row."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from parity import of

from contactplug.files.errors import ContactplugError
from contactplug.files.sequences import complex_record
from contactplug.models import joining, row_blocks
from contactplug.models.random_weights import random_model
from contactplug.readout import attention

A = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
B = "GSHMSLFDFFKNKGSAAQ"
C = "MQIFVKTLTGKTITLEV"


@pytest.fixture(scope="module")
def esm8m():
    return random_model("esm2_t6_8M_UR50D", seed=4)


@pytest.fixture(params=[None, 2048], ids=["one-block", "many-blocks"])
def block_bytes(request, monkeypatch):
    if request.param is not None:
        monkeypatch.setattr(row_blocks, "ROW_BLOCK_BYTES", request.param)
    return request.param


def block_apc(sym: np.ndarray, lengths: list[int]) -> np.ndarray:
    """APC of each block of a symmetric map on its own (float64), diagonal zeroed."""
    out = sym.copy()
    ends = np.cumsum([0, *lengths])
    for c in range(len(lengths)):
        for d in range(len(lengths)):
            rows, cols = slice(ends[c], ends[c + 1]), slice(ends[d], ends[d + 1])
            blk = sym[rows, cols]
            out[rows, cols] = blk - np.outer(blk.sum(1), blk.sum(0)) / blk.sum()
    np.fill_diagonal(out, 0)
    return out


def reference(model, record, linker, heads):
    """fair-esm's every-head attention on the joined row, residues kept, per-head sym + block
    APC, averaged over the heads."""
    lay = joining.layout(model, record, linker)
    tokens = torch.tensor([lay.tokens])
    with torch.no_grad():
        att = model.esm(tokens, need_head_weights=True)["attentions"][0].double().numpy()
    keep = np.concatenate([np.arange(f, f + n) for f, n in lay.spans])
    maps = []
    for layer, head in heads:
        a = att[layer, head][np.ix_(keep, keep)]
        maps.append(block_apc(0.5 * (a + a.T), list(record.chain_lengths)))
    return np.mean(maps, 0)


def test_linkers_place_every_chain(tiny_model):
    m, cx = tiny_model, complex_record("cx", [A, B], ["H", "L"])
    a = m.alphabet
    special = joining.layout(m, cx, "special")
    assert special.spans == [(1, len(A)), (len(A) + 3, len(B))]
    assert special.tokens[len(A) + 1 : len(A) + 3] == [a.eos_idx, a.cls_idx]  # EOS then CLS
    gly = joining.layout(m, cx, "G25")
    assert gly.spans == [(1, len(A)), (1 + len(A) + 25, len(B))]
    assert set(gly.tokens[1 + len(A) : 1 + len(A) + 25]) == {a.get_idx("G")}
    assert joining.layout(m, cx, "none").tokens == m.tokens([A + B])[0].tolist()
    for lay in (special, gly):  # every residue token sits where its span says
        residues = [lay.tokens[f + k] for f, n in lay.spans for k in range(n)]
        assert residues == m.token_ids(A + B)


@pytest.mark.parametrize("bad", ["G0", "G201", "gly", "", "X5"])
def test_a_bad_linker_is_one_line(bad):
    with pytest.raises(ContactplugError, match="unknown linker"):
        joining.check_linker(bad)


def test_a_complex_over_the_limit_is_refused_with_a_way_out(tiny_model):
    cx = complex_record("big", ["A" * 600, "G" * 500])
    with pytest.raises(ContactplugError, match=r"take 1102 positions.*at most 1022.*--chains"):
        joining.check_fits(tiny_model, cx, "special")


@pytest.mark.parametrize("method", ["attention", "all-heads"])
@pytest.mark.parametrize("linker", ["special", "G25", "none"])
def test_complex_map_is_the_block_apc_of_fair_esm_attention(esm8m, method, linker, block_bytes):
    cx = complex_record("cx", [A, B, C])
    heads = [(5, 3), (2, 11), (5, 0)] if method == "attention" else attention.all_heads(esm8m)
    [got] = attention.batch_maps(esm8m, [cx], method, heads, linker=linker)
    want = reference(esm8m, cx, linker, heads)
    assert got.shape == (len(cx.sequence),) * 2
    np.testing.assert_allclose(got, want, **of(esm8m))
    # the inter-chain block is on its own scale: its own APC leaves it centred
    assert abs(got[: len(A), len(A) : len(A) + len(B)].sum()) < 1e-4


def test_whole_map_apc_would_differ(esm8m):
    """The per-block correction is not the whole map's: the test above would catch a fold
    that applied one APC to the whole complex."""
    cx = complex_record("cx", [A, B])
    heads = [(5, 3), (2, 11)]
    [got] = attention.batch_maps(esm8m, [cx], "attention", heads, linker="special")
    per_block = reference(esm8m, cx, "special", heads)
    lay = joining.layout(esm8m, cx, "special")
    with torch.no_grad():
        att = esm8m.esm(torch.tensor([lay.tokens]), need_head_weights=True)["attentions"][0]
    keep = np.concatenate([np.arange(f, f + n) for f, n in lay.spans])
    maps = []
    for layer, head in heads:
        a = att[layer, head].double().numpy()[np.ix_(keep, keep)]
        maps.append(block_apc(0.5 * (a + a.T), [len(A) + len(B)]))  # one APC, whole map
    assert np.abs(np.mean(maps, 0) - got).max() > 100 * np.abs(per_block - got).max()


def test_complexes_and_single_chains_share_a_batch(esm8m):
    """A padded batch of a complex and single chains gives each what it gets alone."""
    cx = complex_record("cx", [A, C])
    heads = [(5, 3), (1, 7)]
    batched = attention.batch_maps(esm8m, [B, cx, A], "attention", heads)
    for item, got in zip([B, cx, A], batched, strict=True):
        [alone] = attention.batch_maps(esm8m, [item], "attention", heads)
        np.testing.assert_allclose(got, alone, **of(esm8m))


def test_esm_head_on_a_complex_is_the_regression_over_block_apc(esm8m):
    cx = complex_record("cx", [A, B])
    [got] = attention.batch_maps(esm8m, [cx], "esm-head", linker="special")
    weight, bias = esm8m.contact_regression()
    every = attention.all_heads(esm8m)
    # the logistic regression of fair-esm's head over each head's block-APC'd map
    feats = np.stack([reference(esm8m, cx, "special", [h]) for h in every])
    logit = np.tensordot(weight.detach().double().numpy().reshape(-1) * 2, feats, axes=1)
    logit += bias.detach().item()
    want = 1 / (1 + np.exp(-logit))
    np.fill_diagonal(want, 0)
    np.testing.assert_allclose(got, want, **of(esm8m))
