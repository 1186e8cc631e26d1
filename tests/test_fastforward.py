"""The fused-attention forward against fair-esm's own forward, on the tiny model and on random
weights of the real esm2_t6_8M architecture (6 layers, 320 dim, 20 heads)."""

import numpy as np
import pytest
import torch
from parity import of

from contactplug.models import esm2 as fastforward
from contactplug.models.random_weights import random_model
from contactplug.readout import attention

SEQS = [
    "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQ",
    "GSHMSLFDFFKNKGSAA",
    "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG",
]


@pytest.fixture(scope="module")
def esm8m():
    """Random weights of esm2_t6_8M_UR50D's architecture (no download)."""
    return random_model("esm2_t6_8M_UR50D", seed=1)


@pytest.fixture(params=["tiny", "esm8m"])
def model(request, tiny_model, esm8m):
    return tiny_model if request.param == "tiny" else esm8m


def fair_esm(model, tokens, **kw):
    with torch.no_grad():
        return model.esm(tokens, **kw)


def test_logits_and_representation_equal_fair_esm(model):
    tokens = model.tokens(SEQS)  # padded batch
    want = fair_esm(model, tokens, repr_layers=[model.num_layers])
    got = fastforward.forward(model, tokens, representation=True)
    for b, seq in enumerate(SEQS):
        t = len(seq) + 2
        np.testing.assert_allclose(got.logits[b, :t], want["logits"][b, :t], **of(model, t, 1e-4))
        rep = want["representations"][model.num_layers][b, :t]
        np.testing.assert_allclose(got.representation[b, :t], rep, **of(model, t, 1e-4))


def test_mask_tokens_use_fair_esm_token_dropout(model):
    tokens = model.tokens([SEQS[0]] * 3)
    tokens[1, 5] = model.alphabet.mask_idx
    tokens[2, 7:12] = model.alphabet.mask_idx
    aa = [model.alphabet.get_idx(a) for a in "LAGVSERTIDPKQNFYMHWC"]
    want = fair_esm(model, tokens)["logits"][..., aa]
    got = fastforward.logits(model, tokens, columns=aa)
    np.testing.assert_allclose(got, want, **of(model, 0, 1e-4))


def test_head_probabilities_equal_fair_esm_in_padded_batch(model):
    tokens = model.tokens(SEQS)
    want = fair_esm(model, tokens, need_head_weights=True)["attentions"]
    wanted = {0: [1, 3], model.num_layers - 1: list(range(model.num_heads))}
    seen = {}

    def keep(layer, heads, probs):
        seen[layer] = (heads, probs.clone())

    out = fastforward.forward(model, tokens, wanted, keep, logits=False)
    assert out.layers_run == model.num_layers and set(seen) == set(wanted)
    for layer, (heads, probs) in seen.items():
        assert heads == wanted[layer]
        for b, seq in enumerate(SEQS):
            t = len(seq) + 2  # fair-esm zeroes padded rows; compare the real tokens
            ref = want[b, layer, heads, :t, :t]
            np.testing.assert_allclose(probs[b, :, :t, :t], ref, **of(model, t))
            assert probs[b, :, :t, t:].sum() == 0  # padded keys get no attention


def test_forward_stops_after_last_wanted_layer(esm8m):
    got = fastforward.forward(
        esm8m, esm8m.tokens(SEQS[:1]), {2: [0]}, lambda *a: None, logits=False
    )
    assert got.layers_run == 3 and got.logits is None


def reference_maps(model, seq, heads):
    """fair-esm need_head_weights, crop, 0.5(A+A^T), APC, zero diagonal (float64)."""
    att = fair_esm(model, model.tokens([seq]), need_head_weights=True)["attentions"]
    out = []
    for layer, head in heads:
        a = att[0, layer, head, 1:-1, 1:-1].double().numpy()
        a = 0.5 * (a + a.T)
        a = a - np.outer(a.sum(1), a.sum(0)) / a.sum()
        np.fill_diagonal(a, 0)
        out.append(a)
    return np.stack(out)


def test_readout_maps_equal_fair_esm_on_8m_architecture(esm8m):
    heads = [(5, 3), (2, 11), (5, 0), (0, 19)]
    seq = SEQS[0]
    ref = reference_maps(esm8m, seq, heads)
    np.testing.assert_allclose(attention.head_maps(esm8m, seq, heads).numpy(), ref, **of(esm8m))
    [mean] = attention.batch_maps(esm8m, [seq], "attention", heads)
    np.testing.assert_allclose(mean, ref.mean(0), **of(esm8m))
    every = attention.all_heads(esm8m)
    [all_mean] = attention.batch_maps(esm8m, [seq], "all-heads")
    np.testing.assert_allclose(all_mean, reference_maps(esm8m, seq, every).mean(0), **of(esm8m))


def test_esm_head_equals_fair_esm_on_8m_architecture(esm8m):
    seq = SEQS[2]
    want = fair_esm(esm8m, esm8m.tokens([seq]), return_contacts=True)["contacts"][0].numpy()
    want = 0.5 * (want + want.T)
    np.fill_diagonal(want, 0)
    [got] = attention.batch_maps(esm8m, [seq], "esm-head")
    np.testing.assert_allclose(got, want, **of(esm8m))


def test_bfloat16_autocast_runs_and_stays_close(tiny_model):
    tokens = tiny_model.tokens(SEQS[:1])
    exact = fastforward.logits(tiny_model, tokens)
    low = fastforward.logits(tiny_model, tokens, autocast=torch.bfloat16)
    assert low.dtype == torch.float32 and torch.isfinite(low).all()
    assert (low - exact).abs().max() < 0.1 * exact.abs().max()


def test_heads_without_callback_is_an_error(tiny_model):
    with pytest.raises(ValueError, match="on_heads"):
        fastforward.forward(tiny_model, tiny_model.tokens(["MKT"]), {0: [0]})


def test_esm_cpp_race_weights_are_the_same_network(esm8m, tmp_path):
    """benchmarks/esm_cpp_race.py hands esm-cpp the random weights as an HF folder; read back
    by contactplug's own HF loader it must be the same network (logits equal to fp32)."""
    import sys
    from pathlib import Path

    from contactplug.models.loading import load_model

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import esm_cpp_race
    finally:
        sys.path.pop(0)
    esm_cpp_race.write_hf_folder(esm8m, tmp_path / "hf")
    back = load_model(str(tmp_path / "hf"), device="cpu")
    assert (back.num_layers, back.num_heads, back.embed_dim) == (6, 20, 320)
    tokens = esm8m.tokens(SEQS)
    want = fastforward.logits(esm8m, tokens)
    got = fastforward.logits(back, back.tokens(SEQS))
    np.testing.assert_allclose(got, want, **of(esm8m, len(SEQS[0]) + 2))
