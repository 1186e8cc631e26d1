"""ProtT5 behind the model interface: a random tiny T5 in the layout of
Rostlab/prot_t5_xl_uniref50 (a whole T5 in HF format whose encoder is read, a sentencepiece
`spiece.model` trained here on spaced residues as ProtT5's vocabulary is: one piece per letter,
</s> = 1, <pad> = 0, 100 extra ids), held to transformers' own T5EncoderModel and tokenizer;
the methods that apply run (attention, all-heads, repr-CJ), the others say why not."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from parity import bf16_both_ways, of
from reference_maps import every_head, folded

from contactplug.files.errors import ContactplugError
from contactplug.files.sequences import Record
from contactplug.jacobian import categorical as jacobian
from contactplug.models.loading import load_model
from contactplug.readout import attention, cache, prediction

transformers = pytest.importorskip("transformers", reason="ProtT5 runs on transformers' T5")
spm = pytest.importorskip("sentencepiece", reason="ProtT5's tokenizer is sentencepiece")
pytest.importorskip("google.protobuf", reason="transformers reads spiece.model with protobuf")

SEQS = [
    "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQ"
    "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG",  # > 128
    "GSHMSLFDFFKNKGSAA",
    "MAXUZOBWC" * 3,  # the rare residues U Z O B are read as X
]


def spiece_model() -> bytes:
    """A sentencepiece model of ProtT5's shape: a word model over spaced letters."""
    rng = random.Random(0)
    letters = "ALGVSREDTIPKFQNYMHWCXBOUZ"
    lines = [" ".join(rng.choice(letters) for _ in range(60)) for _ in range(300)]
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=out,
        vocab_size=28,
        model_type="word",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        character_coverage=1.0,
        minloglevel=2,
    )
    return out.getvalue()


def peaky(model):
    with torch.no_grad():  # sharper attention than the init gives, so a wrong head shows
        for block in model.encoder.block:
            block.layer[0].SelfAttention.q.weight.mul_(6)
    return model


def write_t5_folder(folder: Path, feed_forward: str = "relu") -> Path:
    """A tiny T5 in ProtT5's folder layout (feed_forward: transformers' feed_forward_proj)."""
    folder.mkdir()
    (folder / "spiece.model").write_bytes(spiece_model())
    config = {"do_lower_case": False, "extra_ids": 100, "tokenizer_class": "T5Tokenizer"}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    t5 = transformers.T5Config(
        vocab_size=128,
        d_model=32,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=1,
        num_heads=4,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=128,
        feed_forward_proj=feed_forward,
        dropout_rate=0.0,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    torch.manual_seed(0)
    peaky(transformers.T5ForConditionalGeneration(t5)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def t5_folder(tmp_path_factory) -> Path:
    return write_t5_folder(tmp_path_factory.mktemp("prot_t5") / "prot_t5_tiny")


@pytest.fixture(scope="module")
def reference(t5_folder):
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(t5_folder))
    encoder = transformers.T5EncoderModel.from_pretrained(
        str(t5_folder), attn_implementation="eager"
    ).eval()
    return tokenizer, encoder


@pytest.fixture(scope="module")
def model(t5_folder):
    return load_model(str(t5_folder), device="cpu")


def spaced(seq: str) -> str:
    return " ".join(seq.translate(str.maketrans("UZOB", "XXXX")))


def test_tokens_are_the_tokenizers(model, reference):
    tokenizer, _ = reference
    want = tokenizer([spaced(s) for s in SEQS], padding=True, return_tensors="pt")
    assert torch.equal(model.tokens(SEQS), want.input_ids)
    assert want.input_ids[1, len(SEQS[1])] == tokenizer.eos_token_id == 1
    assert model.first_residue == 0 and model.special_tokens == 1
    assert model.token_ids("UZOBX") == [tokenizer.convert_tokens_to_ids("▁X")] * 5


def test_hidden_states_and_every_head_equal_transformers(model, reference):
    tokenizer, encoder = reference
    batch = tokenizer([spaced(s) for s in SEQS], padding=True, return_tensors="pt")
    with torch.no_grad():
        want = encoder(**batch, output_attentions=True)
    got, maps = every_head(model, batch.input_ids, logits=False, representation=True)
    for b, seq in enumerate(SEQS):
        t = len(seq) + 1
        np.testing.assert_allclose(
            got.representation[b, :t], want.last_hidden_state[b, :t], **of(model, t)
        )
        for layer in range(model.num_layers):
            ref = want.attentions[layer][b, :, :t, :t]
            np.testing.assert_allclose(maps[layer][b, :, :t, :t], ref, **of(model, t))
            assert maps[layer][b, :, :t, t:].sum() == 0  # padded keys get no attention
    assert want.attentions[0].amax(-1).mean() > 0.2  # peaky enough to catch a wrong order


def test_only_the_wanted_heads_and_an_early_stop(model, reference):
    tokenizer, encoder = reference
    batch = tokenizer([spaced(SEQS[0])], return_tensors="pt")
    with torch.no_grad():
        want = encoder(**batch, output_attentions=True).attentions
    seen = {}
    out = model.forward(batch.input_ids, {0: [3, 1]}, lambda n, h, p: seen.update({n: (h, p)}),
                        logits=False)  # fmt: skip
    assert out.layers_run == 1 and out.representation is None and list(seen) == [0]
    heads, probs = seen[0]
    assert heads == [1, 3]
    np.testing.assert_allclose(probs[0], want[0][0, [1, 3]], **of(model))


def test_a_head_the_encoder_lacks_is_one_line(model):
    """A layer past the last had been an IndexError, a head past a layer's a torch error."""
    tokens = model.tokens(SEQS[1:2])
    for heads in ({2: [0]}, {0: [1, 4]}, {-1: [0]}):
        with pytest.raises(ContactplugError, match="ProtT5 has no head") as err:
            model.forward(tokens, heads, lambda n, h, p: None, logits=False)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("method", ["attention", "all-heads"])
def test_folded_maps_of_a_padded_batch_are_transformers_attention_processed(
    model, reference, method, monkeypatch
):
    """The readout folds ProtT5's probabilities in blocks of query rows, the position bias
    added to each block (`row_blocks`); in a padded batch each map is transformers' own
    attention, symmetrized, APC'd and averaged."""
    from contactplug.models import row_blocks

    monkeypatch.setattr(row_blocks, "ROW_BLOCK_BYTES", 1024)  # many blocks per layer
    seen = []
    blocked = row_blocks.blocked_heads
    monkeypatch.setattr(
        row_blocks, "blocked_heads", lambda *a, **k: seen.append(1) or blocked(*a, **k)
    )
    tokenizer, encoder = reference
    batch = tokenizer([spaced(s) for s in SEQS], padding=True, return_tensors="pt")
    with torch.no_grad():
        want_attn = encoder(**batch, output_attentions=True).attentions
    chosen = [(1, 3), (0, 1), (1, 0)] if method == "attention" else None
    picks = chosen or attention.all_heads(model)
    maps = attention.batch_maps(model, SEQS, method, chosen)
    assert seen  # the row-block path ran, not the whole-map one
    for b, (seq, got) in enumerate(zip(SEQS, maps, strict=True)):
        n = len(seq)
        want = folded(want_attn[layer][b, head, :n, :n].double().numpy() for layer, head in picks)
        np.testing.assert_allclose(got, want, **of(model))


def test_bf16_row_blocks_keep_the_fp32_map(model):
    """Under bf16 autocast every head's scores and P @ v are bf16 matmuls in the row blocks
    (keys centred, the position bias added in fp32): the map stays fp32's."""
    [fp32] = attention.batch_maps(model, SEQS[:1], "all-heads")
    [bf16] = attention.batch_maps(model, SEQS[:1], "all-heads", autocast=torch.bfloat16)
    upper = np.triu_indices(len(SEQS[0]), 6)
    assert np.corrcoef(fp32[upper], bf16[upper])[0, 1] > 0.999
    assert not np.array_equal(fp32, bf16)  # bf16 did run


def test_bf16_linears_cast_once_equal_torch_autocasts(model):
    """The bf16 forward's linears on cast-once (packed) copies give the hidden states torch's
    autocast gave, to the bit (parity.bf16_both_ways)."""
    per_call, once = bf16_both_ways(model, ["MKTAYIAKQRQISFVKSHFSRQLEER", "GSHMSLFDFFKN"])
    assert torch.equal(once, per_call)


def test_a_gated_feed_forward_is_transformers_in_fp32_and_bf16(tmp_path):
    """T5 v1.1's gated GELU feed-forward (wo(gelu(wi_0 x) * wi_1 x)), run by our own
    feed-forward: transformers' hidden states in fp32, and torch.autocast's in bf16."""
    folder = write_t5_folder(tmp_path / "gated", "gated-gelu")
    ours = load_model(str(folder), device="cpu")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    encoder = transformers.T5EncoderModel.from_pretrained(str(folder)).eval()
    batch = tokenizer([spaced(s) for s in SEQS[1:3]], return_tensors="pt", padding=True)
    with torch.no_grad():
        theirs = encoder(**batch).last_hidden_state
    got = ours.forward(ours.tokens(SEQS[1:3]), logits=False, representation=True).representation
    keep = batch["attention_mask"].bool()
    np.testing.assert_allclose(got[keep].numpy(), theirs[keep].numpy(), **of(ours, 30))
    per_call, once = bf16_both_ways(ours, SEQS[1:3])
    assert torch.equal(once, per_call)


def test_what_prot_t5_is_and_can_run(model):
    assert model.family == "ProtT5" and (model.num_layers, model.num_heads) == (2, 4)
    assert not model.has_lm_head and not model.has_contact_head and model.mask_id is None
    methods = model.methods()
    assert [m for m, why in methods.items() if why is None] == [
        "attention",
        "all-heads",
        "repr-jacobian",
    ]
    assert "MLM head" in methods["jacobian"] and "mask token" in methods["repr-jacobian-fast"]
    assert "contact regression" in methods["esm-head"]
    with pytest.raises(ContactplugError, match="no MLM head"):
        model.forward(model.tokens(["MKT"]))


def test_representation_jacobian_rows_are_transformers_mutants(model, reference):
    """Row i of repr-CJ: the encoder on the sequence with residue i substituted (no BOS, so
    residue i is token i), minus the wild type."""
    tokenizer, encoder = reference
    seq = SEQS[1]
    rows, n = jacobian.rows(model, seq, 3, 5, representation=True, progress=False)
    assert rows.shape == (2, 20, len(seq), 32) and n == 2 * 20 + 1

    def hidden(s):
        with torch.no_grad():
            batch = tokenizer([spaced(s)], return_tensors="pt")
            return encoder(**batch).last_hidden_state[0, : len(s)].numpy()

    base = hidden(seq)
    for i in (3, 4):
        for a in ("W", seq[i]):
            mutant = seq[:i] + a + seq[i + 1 :]
            k = jacobian.AMINO_ACIDS.index(a)
            np.testing.assert_allclose(rows[i - 3, k], hidden(mutant) - base, **of(model))


def test_every_method_that_applies_runs(model):
    seq = SEQS[0][:40]
    assert not cache.cached_path(model.fingerprint).exists()
    [cmap] = prediction.predict(model, [Record("q", seq)], "attention")
    assert cache.cached_path(model.fingerprint).exists()  # made once, on first use
    assert cmap.contacts.shape == (40, 40) and np.isfinite(cmap.contacts).all()
    [every] = prediction.predict(model, [Record("q", seq)], "all-heads")
    assert np.isfinite(every.contacts).all()
    cj = jacobian.contact_map(model, Record("q", seq[:12]), representation=True, progress=False)
    assert cj.contacts.shape == (12, 12) and np.isfinite(cj.contacts).all()
    for method in ("esm-head", "jacobian"):
        with pytest.raises(ContactplugError, match=method):
            model.require(method)
    [long] = prediction.predict(model, [Record("long", SEQS[0])], "attention", window=60)
    assert len(long.meta["windows"]) > 1
    batched = attention.batch_maps(model, SEQS, "all-heads")
    for seq, got in zip(SEQS, batched, strict=True):
        [alone] = attention.batch_maps(model, [seq], "all-heads")
        np.testing.assert_allclose(got, alone, **of(model))


def test_the_name_resolves_from_the_hub_cache(t5_folder, model, tmp_path, monkeypatch):
    snap = tmp_path / "models--Rostlab--prot_t5_xl_uniref50" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    for f in t5_folder.iterdir():
        (snap / f.name).symlink_to(f)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    by_name = load_model("prot_t5_xl_uniref50", device="cpu")
    assert by_name.name == "prot_t5_xl_uniref50" and by_name.fingerprint == model.fingerprint
    assert load_model(str(snap.parents[1]), device="cpu").fingerprint == model.fingerprint


def test_a_t5_folder_without_its_tokenizer_is_one_line(t5_folder, tmp_path):
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).symlink_to(t5_folder / name)
    with pytest.raises(ContactplugError, match="tokenizer") as err:
        load_model(str(tmp_path))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "config, named",
    [
        ({"model_type": "amplify", "architectures": ["AMPLIFY"]}, "AMPLIFY"),
        ({"model_type": "progen", "architectures": ["ProGenForCausalLM"]}, "ProGen2"),
        ({"model_type": "esm", "architectures": ["EsmForDPLM"], "vocab_size": 33}, "DPLM"),
        ({"model_type": "esm", "architectures": ["EsmForMaskedLM"], "vocab_size": 446}, "SaProt"),
        ({"model_type": "bert", "architectures": ["BertForMaskedLM"]}, "'bert'"),
    ],
)
def test_other_families_are_refused_in_one_line(tmp_path, config, named):
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ContactplugError) as err:
        load_model(str(tmp_path))
    message = str(err.value)
    assert named in message and "\n" not in message
    assert "ESM-2, ESM-1b, ESM-1v, ESM C, ProtT5" in message


def test_the_cli_reads_the_folder(t5_folder, tmp_path, capsys):
    from contactplug.cli import main
    from contactplug.files.contactmap import load

    assert main(["-q", "model-info", "--model", str(t5_folder)]) == 0
    out = capsys.readouterr().out
    assert "ProtT5, 2 layers x 4 heads, max 1022 residues" in out
    assert "repr-jacobian        ok" in out
    assert "jacobian             unavailable: the checkpoint has no MLM head" in out
    assert "repr-jacobian-fast   unavailable: the model has no mask token" in out
    fasta = tmp_path / "q.fa"
    fasta.write_text(">q\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n")
    args = ["-q", "predict", str(fasta), "-o", str(tmp_path / "o"), "--model", str(t5_folder)]
    assert main(args + ["--method", "all-heads"]) == 0
    assert load(tmp_path / "o" / "q.npz").length == 33
    assert main(["-q", "jacobian", "--repr", str(fasta), "-o", str(tmp_path / "j"), "--model",
                 str(t5_folder)]) == 0  # fmt: skip
    assert load(tmp_path / "j" / "q.npz").method == "repr-jacobian"


def test_bench_measures_prot_t5_through_the_interface(t5_folder, capsys):
    """bench times the T5 encoder's bare forward and its readouts; the Jacobian rows time the
    repr-CJ it runs (no MLM head); --only readout leaves the Jacobian out."""
    from contactplug.cli import main

    args = ["bench", "--model", str(t5_folder), "--lengths", "10,14", "--repeats", "1"]
    assert main(args + ["--jacobian", "1", "--throughput", "2"]) == 0
    out = capsys.readouterr().out
    assert "ProtT5, 2 layers x 4 heads, dim 32" in out
    for label in (
        "| metric | L = 10 | L = 14 |",
        "attention readout / bare, fp32",
        "Jacobian forwards (20L+1) | 201 | 281 |",
        "Jacobian rows: repr-jacobian",
        "| readout, one at a time | readout, batched | batched / one at a time |",
    ):
        assert label in out, label
    for absent in ("fair-esm", "esm-head", "failed"):
        assert absent not in out, absent
    assert main(args + ["--only", "readout"]) == 0
    out = capsys.readouterr().out
    assert "all-heads readout / bare, fp32" in out
    assert "Jacobian" not in out
