"""ESM-1b and ESM-1v behind the model interface: random weights of their layout (learned
positions, emb_layer_norm_before, token dropout) written in fair-esm's official v1 `.pt`
layout (fairseq `args`), loaded by contactplug, held to fair-esm's own forward; the ranking is
made on first use and every method runs once."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from parity import of
from reference_maps import every_head

from contactplug.files.errors import ContactplugError
from contactplug.files.methods import METHODS
from contactplug.files.sequences import Record, check_length
from contactplug.jacobian import categorical as jacobian
from contactplug.models.fair_esm import save_fair_esm_checkpoint
from contactplug.models.loading import load_model
from contactplug.models.random_weights import make_esm1b, make_hf_esm
from contactplug.readout import attention, cache, prediction

SEQS = [
    "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQ",
    "GSHMSLFDFFKNKGSAA",
    "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG",
]


def peaky(module):
    """Sharper attention than the default init gives (a flat map would hide a wrong head), and
    logits of a trained model's size: the tied embedding scaled down (the layer norm after it
    keeps the input as it was)."""
    with torch.no_grad():
        module.embed_tokens.weight.mul_(0.1)
        for layer in module.layers:
            layer.self_attn.q_proj.weight.mul_(4)
            layer.self_attn.k_proj.weight.mul_(4)
    return module


@pytest.fixture(scope="module")
def esm1b_real_width(tmp_path_factory):
    """Two layers of ESM-1b's real width (1280 dim, 20 heads, 5120 FFN, 1024 positions)."""
    path = tmp_path_factory.mktemp("esm1b") / "esm1b_t33_650M_UR50S.pt"
    save_fair_esm_checkpoint(peaky(make_esm1b(2, 1280, 20, seed=3)), path)
    return load_model(str(path), device="cpu")


@pytest.fixture(scope="module")
def esm1b_small(tmp_path_factory):
    path = tmp_path_factory.mktemp("esm1b_small") / "esm1b_small.pt"
    save_fair_esm_checkpoint(make_esm1b(2, 64, 4, seed=5), path)
    return load_model(str(path), device="cpu")


@pytest.fixture(scope="module")
def esm1v(tmp_path_factory):
    """ESM-1v as fair-esm ships it: the ESM-1b layout and no contact regression file."""
    path = tmp_path_factory.mktemp("esm1v") / "esm1v_t33_650M_UR90S_1.pt"
    save_fair_esm_checkpoint(make_esm1b(2, 64, 4, seed=6), path)
    path.with_name(path.stem + "-contact-regression.pt").unlink()
    return load_model(str(path), device="cpu")


def fair_esm(model, tokens, **kw):
    with torch.no_grad():
        return model.esm(tokens, **kw)


def test_the_official_layout_loads_as_esm1b(esm1b_real_width):
    m = esm1b_real_width
    assert m.family == "ESM-1b" and type(m.esm).__name__ == "ProteinBertModel"
    assert (m.num_layers, m.num_heads, m.embed_dim, m.max_length) == (2, 20, 1280, 1022)
    assert m.esm.emb_layer_norm_before is not None and m.esm.args.token_dropout
    assert m.has_lm_head and m.has_contact_head
    assert all(why is None for why in m.methods().values())
    assert "ESM-1b" in m.describe() and m.first_residue == 1 and m.special_tokens == 2


def test_logits_hidden_states_and_every_head_equal_fair_esm(esm1b_real_width):
    m = esm1b_real_width
    tokens = m.tokens(SEQS)  # a padded batch
    want = fair_esm(m, tokens, repr_layers=[m.num_layers], need_head_weights=True)
    got, maps = every_head(m, tokens, representation=True)
    for b, seq in enumerate(SEQS):
        t = len(seq) + 2
        np.testing.assert_allclose(got.logits[b, :t], want["logits"][b, :t], **of(m, t, 1e-4))
        rep = want["representations"][m.num_layers][b, :t]
        np.testing.assert_allclose(got.representation[b, :t], rep, **of(m, t, 1e-4))
        for layer in range(m.num_layers):
            ref = want["attentions"][b, layer, :, :t, :t]
            np.testing.assert_allclose(maps[layer][b, :, :t, :t], ref, **of(m, t))
            assert maps[layer][b, :, :t, t:].sum() == 0  # padded keys get no attention
    assert want["attentions"].amax(-1).mean() > 0.2  # peaky enough to catch a wrong order


def test_some_heads_and_an_early_stop(esm1b_real_width):
    m = esm1b_real_width
    tokens = m.tokens(SEQS[:1])
    want = fair_esm(m, tokens, need_head_weights=True)["attentions"]
    seen = {}
    out = m.forward(tokens, {0: [7, 2]}, lambda n, h, p: seen.update({n: (h, p)}), logits=False)
    assert out.layers_run == 1 and out.logits is None and list(seen) == [0]
    heads, probs = seen[0]
    assert heads == [2, 7]
    np.testing.assert_allclose(probs[0], want[0, 0, [2, 7]], **of(m, tokens.shape[1]))


def test_mask_tokens_follow_token_dropout(esm1b_small):
    m = esm1b_small
    tokens = m.tokens([SEQS[0]] * 3)
    tokens[1, 5] = m.mask_id
    tokens[2, 7:12] = m.mask_id
    aa = m.token_ids(jacobian.AMINO_ACIDS)
    got = m.forward(tokens, columns=aa).logits
    np.testing.assert_allclose(got, fair_esm(m, tokens)["logits"][..., aa], **of(m, 0, 1e-4))


def test_full_length_uses_the_last_learned_position(esm1b_small):
    m = esm1b_small
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), m.max_length))
    tokens = m.tokens([seq])
    assert tokens.shape[1] == 1024
    got = m.forward(tokens, representation=True)
    want = fair_esm(m, tokens, repr_layers=[2])
    np.testing.assert_allclose(got.logits, want["logits"], **of(m, tokens.shape[1], 1e-4))
    with pytest.raises(ContactplugError, match="1022"):
        check_length(Record("long", seq + "A"), m.max_length)


def test_esm_head_equals_fair_esm_contact_head(esm1b_real_width):
    m = esm1b_real_width
    seq = SEQS[2]
    want = fair_esm(m, m.tokens([seq]), return_contacts=True)["contacts"][0].numpy()
    want = 0.5 * (want + want.T)
    np.fill_diagonal(want, 0)
    [got] = attention.batch_maps(m, [seq], "esm-head")
    np.testing.assert_allclose(got, want, **of(m))


def test_esm1v_has_no_contact_regression(esm1v):
    assert esm1v.family == "ESM-1v" and esm1v.has_lm_head and not esm1v.has_contact_head
    methods = esm1v.methods()
    assert methods["esm-head"] is not None and "contact regression" in methods["esm-head"]
    runnable = [m for m, why in methods.items() if why is None]
    assert runnable == [m for m in METHODS if m != "esm-head"]
    with pytest.raises(ContactplugError, match="esm-head"):
        esm1v.require("esm-head")


def test_every_method_runs_and_the_ranking_is_made_on_first_use(esm1b_small):
    m = esm1b_small
    assert not cache.cached_path(m.fingerprint).exists()
    seq = SEQS[0][:40]
    [first] = prediction.predict(m, [Record("q", seq)], "attention")
    assert cache.cached_path(m.fingerprint).exists()  # made once, then cached
    assert 1 <= first.meta["k"] <= m.num_layers * m.num_heads
    for method in ("all-heads", "esm-head"):
        [cmap] = prediction.predict(m, [Record("q", seq)], method)
        assert cmap.contacts.shape == (40, 40) and np.isfinite(cmap.contacts).all()
    short = Record("q", seq[:12])
    for representation in (False, True):
        for fast in (False, True):
            cmap = jacobian.contact_map(m, short, representation, fast, progress=False)
            assert cmap.contacts.shape == (12, 12) and np.isfinite(cmap.contacts).all()
            assert cmap.method == ("repr-" if representation else "") + "jacobian" + (
                "-fast" if fast else ""
            )
    # a long protein is read in windows, with the ranking just made
    [long] = prediction.predict(m, [Record("long", SEQS[0] * 2)], "attention", window=60)
    assert len(long.meta["windows"]) > 1 and long.contacts.shape == (2 * len(SEQS[0]),) * 2


def test_the_cli_says_what_esm1v_is(esm1v, capsys):
    from contactplug.cli import main

    assert main(["-q", "model-info", "--model", esm1v.source]) == 0
    out = capsys.readouterr().out
    assert "ESM-1v, 2 layers x 4 heads, max 1022 residues" in out
    assert "esm-head             unavailable: the checkpoint has no contact regression" in out


@pytest.mark.parametrize("name", ["esm1b_t33_650M_UR50S", "esm1v_t33_650M_UR90S_1"])
def test_hf_folder_with_absolute_positions_equals_transformers(tmp_path, name):
    """facebook/esm1b_* and esm1v_* on the HF hub: absolute positions, emb_layer_norm_before."""
    transformers = pytest.importorskip("transformers", reason="transformers checks HF parity")
    hf = make_hf_esm(2, 64, 4, absolute=True)
    with torch.no_grad():
        for layer in hf.esm.encoder.layer:  # HF's init (std 0.02) gives flat attention
            layer.attention.self.query.weight.mul_(10)
            layer.attention.self.key.weight.mul_(10)
    hf.save_pretrained(tmp_path / name)
    model = load_model(str(tmp_path / name), device="cpu")
    assert model.family == ("ESM-1v" if "esm1v" in name else "ESM-1b")
    assert model.max_length == 1022 and model.esm.emb_layer_norm_before is not None
    tokens = model.tokens(SEQS)
    tokens[0, 4] = model.mask_id
    mask = tokens.ne(1).long()
    got, maps = every_head(model, tokens)
    with torch.no_grad():
        hf = transformers.EsmForMaskedLM.from_pretrained(
            str(tmp_path / name), attn_implementation="eager"
        ).eval()
        want = hf(tokens, attention_mask=mask, output_attentions=True)
    for b, seq in enumerate(SEQS):
        t = len(seq) + 2
        np.testing.assert_allclose(got.logits[b, :t], want.logits[b, :t], **of(model, t, 1e-4))
        for layer in range(2):
            ref = want.attentions[layer][b, :, :t, :t]
            np.testing.assert_allclose(maps[layer][b, :, :t, :t], ref, **of(model, t))
    assert want.attentions[1].amax(-1).mean() > 0.2
