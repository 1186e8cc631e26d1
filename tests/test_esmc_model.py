"""ESM C behind the model interface: the wrapper held to EvolutionaryScale's own outputs
(tests/data/esmc, from scripts/make_esmc_fixtures.py), every spec `load_model` takes, and every
method that applies (attention with its ranking made on first use, all-heads, logit CJ and
repr-CJ, fast variants, windows); esm-head does not apply (no contact regression)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from parity import bf16_both_ways, of
from reference_maps import every_head, folded, read_reference

from contactplug.files.errors import ContactplugError
from contactplug.files.sequences import Record
from contactplug.jacobian import categorical as jacobian
from contactplug.models import esmc, esmc_model, low_linear
from contactplug.models.loading import load_model
from contactplug.readout import attention, cache, prediction

DATA = Path(__file__).parent / "data" / "esmc"
TINY = DATA / "esmc_tiny.pth"
REPO = "models--EvolutionaryScale--esmc-300m-2024-12"
WEIGHTS = "esmc_300m_2024_12_v0.pth"


@pytest.fixture(scope="module")
def ref() -> dict:
    return read_reference(DATA / "reference.npz")


@pytest.fixture(scope="module")
def official(ref):
    """The reference fixture's weights (4 heads of 8: a head count the shapes cannot tell)."""
    state = torch.load(TINY, weights_only=True)
    return esmc_model.from_state(state, "esmc_tiny", str(TINY), "cpu", "float32", heads=4)


@pytest.fixture(scope="module")
def esmc_pth(tmp_path_factory) -> Path:
    """Random weights of a reduced ESM C with the releases' 64-wide heads, as a bare .pth."""
    torch.manual_seed(11)
    net = esmc.ESMC(128, 2, 2)
    with torch.no_grad():  # sharper than the default init, so a wrong head would show
        for block in net.transformer.blocks:
            block.attn.q_ln.weight.mul_(3)
            block.attn.k_ln.weight.mul_(3)
    path = tmp_path_factory.mktemp("esmc") / "weights.pth"
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def small(esmc_pth):
    return load_model(str(esmc_pth), device="cpu")


def test_interface_forward_equals_the_official_modules(official, ref):
    m = official
    sequences = [str(s) for s in ref["sequences"]]
    tokens = m.tokens(sequences)
    assert tokens.tolist() == ref["tokens"].tolist()
    out, maps = every_head(m, tokens, representation=True)
    t = tokens.shape[1]
    np.testing.assert_allclose(out.logits.numpy(), ref["logits"], **of(m, t, 1e-4))
    np.testing.assert_allclose(out.representation.numpy(), ref["embeddings"], **of(m, t, 1e-4))
    for layer in range(m.num_layers):
        np.testing.assert_allclose(maps[layer].numpy(), ref["attention"][layer], **of(m, t))


def test_readout_maps_are_the_official_attention_processed(official, ref):
    """head_maps crops BOS/EOS by the interface's residues(); the reference crops by hand."""
    seq = str(ref["sequences"][0])
    heads = [(2, 3), (0, 1), (1, 0)]
    got = attention.head_maps(official, seq, heads).numpy()
    for k, (layer, head) in enumerate(heads):
        a = ref["attention"][layer, 0, head, 1 : len(seq) + 1, 1 : len(seq) + 1]
        np.testing.assert_allclose(got[k], folded([a]), **of(official))


@pytest.mark.parametrize("method", ["attention", "all-heads"])
def test_folded_maps_of_a_padded_batch_are_the_official_attention_processed(
    official, ref, method, monkeypatch
):
    """The readout folds row blocks of ESM C's probabilities (as ESM-2's); in a padded batch
    of the three reference sequences, each map is the official attention processed."""
    from contactplug.models import row_blocks

    monkeypatch.setattr(row_blocks, "ROW_BLOCK_BYTES", 1024)  # many blocks per layer
    seqs = [str(s) for s in ref["sequences"]]
    layers, heads = int(ref["n_layers"]), int(ref["n_heads"])
    chosen = [(2, 3), (0, 1), (1, 0)] if method == "attention" else None
    picks = chosen or [(layer, h) for layer in range(layers) for h in range(heads)]
    maps = attention.batch_maps(official, seqs, method, chosen)
    for b, (seq, got) in enumerate(zip(seqs, maps, strict=True)):
        n = len(seq)
        want = folded(
            ref["attention"][layer, b, head, 1 : n + 1, 1 : n + 1] for layer, head in picks
        )
        np.testing.assert_allclose(got, want, **of(official))


def test_logit_columns_of_the_jacobian_are_the_official_logits(official, ref):
    seq = str(ref["sequences"][2])  # the 20 amino acids once each
    aa = official.token_ids(jacobian.AMINO_ACIDS)
    got = jacobian.residue_outputs(official, official.tokens([seq]), representation=False)[0]
    want = ref["logits"][2, 1 : len(seq) + 1][:, aa]
    assert np.abs(got.numpy() - want).max() < 1e-4


def test_bf16_linears_are_cast_once_and_as_close_to_fp32_as_autocast(small):
    """ESM C's bf16 forward runs its linears on cast-once copies (`low_linear`): held by the
    model's own linears after one forward, and about as close to fp32 as torch.autocast's
    per-call casts. Not compared to the bit, as the other families are: the forward asked for
    bf16 also builds its rotary tables in bf16, which an outer autocast does not (here 0.16
    against 0.11 from fp32; a wrong or missing linear moves the states by several units)."""
    seqs = ["MKTAYIAKQRQISFVKSHFSRQLEER", "GSHMSLFDFFKN"]
    per_call, once = bf16_both_ways(small, seqs)
    with torch.no_grad():
        fp32 = small.forward(small.tokens(seqs), logits=False, representation=True)
    error = {n: float((x - fp32.representation).abs().max()) for n, x in
             (("per call", per_call), ("once", once))}  # fmt: skip
    assert 0 < error["once"] <= 2 * error["per call"], error
    ffn = small.net.transformer.blocks[0].ffn[1]
    assert low_linear._copies(ffn, [ffn], torch.bfloat16)[0].dtype == torch.bfloat16


def test_what_esmc_is_and_can_run(small):
    assert small.family == "ESM C" and (small.num_layers, small.num_heads) == (2, 2)
    assert small.embed_dim == 128 and small.max_length == 2046 and small.mask_id == esmc.MASK
    assert small.has_lm_head and not small.has_contact_head
    methods = small.methods()
    assert [m for m, why in methods.items() if why is not None] == ["esm-head"]
    with pytest.raises(ContactplugError, match="contact regression"):
        small.require("esm-head")


def fake_hub(root: Path, weights: Path) -> Path:
    repo = root / REPO
    revision = "0123456789abcdef0123456789abcdef01234567"
    folder = repo / "snapshots" / revision / "data" / "weights"
    folder.mkdir(parents=True)
    (folder / WEIGHTS).symlink_to(weights)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    return repo / "snapshots" / revision


def test_every_spec_loads_the_same_weights(small, esmc_pth, tmp_path, monkeypatch):
    snapshot = fake_hub(tmp_path / "hub", esmc_pth)
    tokens = small.tokens(["MKTAYIAKQRQISFVK"])
    want = small.forward(tokens).logits
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    for spec in (snapshot, tmp_path / "hub" / REPO, "esmc_300m"):
        model = load_model(str(spec), device="cpu")
        assert model.family == "ESM C" and model.fingerprint == small.fingerprint
        assert torch.equal(model.forward(tokens).logits, want), spec
    assert load_model("esmc_300m", device="cpu").name == "esmc_300m"


def test_a_missing_name_and_foreign_files_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    for spec, expected in [
        ("esmc_600m", "EvolutionaryScale/esmc-600m-2024-12"),
        (str(tmp_path / "nothing.pth"), "no such checkpoint file"),
    ]:
        with pytest.raises(ContactplugError, match=expected) as err:
            load_model(spec)
        assert "\n" not in str(err.value)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pth")
    with pytest.raises(ContactplugError, match="ESM C") as err:
        load_model(str(tmp_path / "foreign.pth"))
    assert "\n" not in str(err.value) and "neither a fair-esm checkpoint" in str(err.value)


def test_every_method_runs_and_the_ranking_is_made_on_first_use(small):
    seq = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRV"
    assert not cache.cached_path(small.fingerprint).exists()
    [cmap] = prediction.predict(small, [Record("q", seq)], "attention")
    assert cache.cached_path(small.fingerprint).exists()
    assert cmap.contacts.shape == (len(seq),) * 2 and np.isfinite(cmap.contacts).all()
    [every] = prediction.predict(small, [Record("q", seq)], "all-heads")
    assert np.isfinite(every.contacts).all()
    with pytest.raises(ContactplugError, match="esm-head"):
        list(prediction.predict(small, [Record("q", seq)], "esm-head"))
    short = Record("q", seq[:10])
    for representation in (False, True):
        for fast in (False, True):
            got = jacobian.contact_map(small, short, representation, fast, progress=False)
            assert got.contacts.shape == (10, 10) and np.isfinite(got.contacts).all()
    [long] = prediction.predict(small, [Record("long", seq * 3)], "attention", window=50)
    assert len(long.meta["windows"]) > 1


def test_padded_batches_equal_one_at_a_time(small):
    seqs = ["MKTAYIAKQRQISFVKSHFSRQ", "GSHMSLFD", "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQ"]
    heads = [(1, 1), (0, 0)]
    batched = attention.batch_maps(small, seqs, "attention", heads)
    for seq, got in zip(seqs, batched, strict=True):
        [alone] = attention.batch_maps(small, [seq], "attention", heads)
        np.testing.assert_allclose(got, alone, **of(small))


def test_the_bare_pth_is_told_from_a_fair_esm_pt_by_its_contents(tmp_path, esmc_pth, tiny_model):
    odd = tmp_path / "model.pt"  # an ESM C state dict under a fair-esm-looking name
    odd.write_bytes(esmc_pth.read_bytes())
    assert load_model(str(odd), device="cpu").family == "ESM C"
    assert tiny_model.family == "ESM-2"
    assert os.path.exists(tiny_model.source)


def test_the_cli_reads_the_pth(esmc_pth, capsys):
    from contactplug.cli import main

    assert main(["-q", "model-info", "--model", str(esmc_pth)]) == 0
    out = capsys.readouterr().out
    assert "ESM C, 2 layers x 2 heads, max 2046 residues" in out
    assert "jacobian-fast        ok" in out
    assert "esm-head             unavailable: the checkpoint has no contact regression" in out


def test_bench_measures_esm_c_through_the_interface(esmc_pth, capsys):
    """bench times ESM C's own bare forward and its readouts; no fair-esm rows for it."""
    from contactplug.cli import main

    args = ["bench", "--model", str(esmc_pth), "--lengths", "12", "--repeats", "1"]
    assert (
        main(args + ["--jacobian", "1", "--memory", "--paths", "fast_bare,readout,fair_bare"]) == 0
    )
    out = capsys.readouterr().out
    assert "ESM C, 2 layers x 2 heads, dim 128" in out
    for label in (
        "bare forward (no LM head), fp32, ms",
        "attention readout / bare, fp32",
        "all-heads readout / bare, fp32",
        "Jacobian forwards (20L+1) | 241 |",  # logit CJ: ESM C has a sequence head
        "| fast_bare |",
        "| readout |",
    ):
        assert label in out, label
    for absent in ("fair-esm", "| fair_bare |", "esm-head", "repr-jacobian", "failed"):
        assert absent not in out, absent
