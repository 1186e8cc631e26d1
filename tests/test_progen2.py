"""ProGen2 behind the model interface, held to Salesforce's own modeling file on random weights.

How tests/data/progen2 was made (the reference's code and the script that ran it stay out of
the repository): github salesforce/progen (`progen2/models/progen/modeling_progen.py` and
`configuration_progen.py`, imported as the package `models.progen` from `progen2/`), in a
venv of its own with torch 2.13.0 (CPU) and transformers 4.40.2, the last to keep
`transformers.utils.model_parallel_utils`, which the modeling file imports. A `ProGenConfig`
at n_embd 48, 8 heads (the fewest its eight qkv shards allow), 3 layers, rotary_dim 4 (of
heads 6 wide: the pass-through dims are exercised), n_positions 128, vocab_size 32 built a
`ProGenForCausalLM` with random weights far from the init (LayerNorm gains 1 + 0.3 N(0,1),
qkv_proj 0.5 N(0,1)). Salesforce's `progen2/tokenizer.json` (with the `tokenizers` package)
encoded "1" + sequence + "2" for three sequences of different lengths (odd letters
included), right-padded with <|pad|> (0); the forward ran on that padded batch with its
attention_mask, `output_attentions`, `output_hidden_states`, in float32.
  config.json        the config, in Salesforce's names (n_embd, vocab_size, n_positions)
  pytorch_model.bin  `model.state_dict()`, the layout of Salesforce's checkpoint archives
                     (the causal-mask buffers `attn.bias` and `attn.masked_bias` included)
  reference.npz      sequences, tokens, logits (unshifted, as the reference returns them),
                     hidden_states (embedding, each layer, and ln_f of the last), attention
                     (layers x B x heads x T x T) and the tokenizer's vocabulary (JSON)
The reference masks padded keys for padded queries too; real queries never see a padded key
(it comes later), so real rows are compared.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from badinput import refused
from parity import bf16_both_ways, of
from reference_maps import every_head, folded, read_reference

from contactplug.files.errors import ContactplugError
from contactplug.files.sequences import Record
from contactplug.jacobian import categorical as jacobian
from contactplug.models.loading import load_model
from contactplug.readout import attention, cache, prediction

DATA = Path(__file__).parent / "data" / "progen2"
PORT_NAMES = {"n_embd": "embed_dim", "vocab_size": "vocab_size_emb"}


@pytest.fixture(scope="module")
def ref() -> dict:
    return read_reference(DATA / "reference.npz")


def write_tokenizer(folder: Path, ref: dict) -> None:
    """A tokenizers file with the published vocabulary (a BPE without merges, as Salesforce's)."""
    vocab = json.loads(str(ref["vocab"]))
    (folder / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": vocab,
                                                                  "merges": []}}))  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory, ref) -> Path:
    """Salesforce's layout: config.json, pytorch_model.bin, and the tokenizer.json copied in."""
    out = tmp_path_factory.mktemp("progen2") / "progen2-tiny"
    out.mkdir()
    for name in ("config.json", "pytorch_model.bin"):
        shutil.copy(DATA / name, out / name)
    write_tokenizer(out, ref)
    return out


@pytest.fixture(scope="module")
def port(tmp_path_factory, ref) -> Path:
    """The HF ports' layout: config in their names (embed_dim, vocab_size_emb,
    vocab_size_lm_head), model.safetensors, tokenizer.json."""
    from safetensors.torch import save_file

    out = tmp_path_factory.mktemp("hub") / "port"
    out.mkdir()
    config = json.loads((DATA / "config.json").read_text())
    config = {PORT_NAMES.get(k, k): v for k, v in config.items()}
    config["vocab_size_lm_head"] = config["vocab_size_emb"]
    (out / "config.json").write_text(json.dumps(config))
    state = torch.load(DATA / "pytorch_model.bin", weights_only=True)
    save_file({k: v for k, v in state.items() if not k.endswith("bias") or "attn" not in k},
              str(out / "model.safetensors"))  # fmt: skip
    write_tokenizer(out, ref)
    return out


@pytest.fixture(scope="module")
def model(folder):
    return load_model(str(folder), device="cpu")


def test_tokens_logits_hidden_states_and_every_head_equal_the_reference(model, ref):
    sequences = [str(s) for s in ref["sequences"]]
    tokens = model.tokens(sequences)
    assert tokens.tolist() == ref["tokens"].tolist()
    out, maps = every_head(model, tokens, representation=True)
    t = tokens.shape[1]
    for b, seq in enumerate(sequences):
        n = len(seq) + 2
        # logits: row t is the reference's row t - 1 (the prediction of token t)
        assert not out.logits[b, 0].any()
        np.testing.assert_allclose(
            out.logits[b, 1:n].numpy(), ref["logits"][b, : n - 1], **of(model, t, 1e-4)
        )
        np.testing.assert_allclose(
            out.representation[b, :n].numpy(), ref["hidden_states"][-1, b, :n], **of(model, t, 1e-4)
        )
        for layer in range(model.num_layers):
            got = maps[layer][b, :, :n].numpy()
            np.testing.assert_allclose(got, ref["attention"][layer, b, :, :n], **of(model, t))
            assert not np.triu(got[:, :, :n], 1).any()  # causal: j <= i only


@pytest.mark.parametrize("method", ["attention", "all-heads"])
def test_folded_maps_of_a_padded_batch_are_the_reference_attention_processed(
    model, ref, method, monkeypatch
):
    """Symmetrising fills both halves from the one triangle: 0.5 (A + A^T)."""
    from contactplug.models import row_blocks

    monkeypatch.setattr(row_blocks, "ROW_BLOCK_BYTES", 1024)  # many blocks per layer
    seqs = [str(s) for s in ref["sequences"]]
    chosen = [(2, 7), (0, 1), (1, 4)] if method == "attention" else None
    picks = chosen or attention.all_heads(model)
    maps = attention.batch_maps(model, seqs, method, chosen)
    for b, (seq, got) in enumerate(zip(seqs, maps, strict=True)):
        n = len(seq)
        want = folded(
            ref["attention"][layer, b, head, 1 : n + 1, 1 : n + 1] for layer, head in picks
        )
        np.testing.assert_allclose(got, want, **of(model))
        assert np.allclose(got, got.T)


def test_bf16_linears_cast_once_equal_torch_autocasts(model):
    """The bf16 forward's linears on cast-once (packed) copies give the hidden states torch's
    autocast gave, to the bit (parity.bf16_both_ways)."""
    per_call, once = bf16_both_ways(model, ["MKTAYIAKQRQISFVKSHFSRQLEER", "GSHMSLFDFFKN"])
    assert torch.equal(once, per_call)


def test_a_mutation_moves_only_later_positions(model):
    """The causal Jacobian's rows: substituting residue i changes the logits of residues
    j > i only (row j predicts residue j from residues < j) and the hidden states of j >= i."""
    seq, i = "MKTAYIAKQRQISFVKSHFS", 7
    mutant = seq[:i] + ("W" if seq[i] != "W" else "A") + seq[i + 1 :]
    tokens = model.tokens([seq, mutant])
    for representation, first in ((False, i + 1), (True, i)):
        out = jacobian.residue_outputs(model, tokens, representation)
        moved = (out[0] - out[1]).abs().amax(-1).numpy()
        assert (moved[:first] == 0).all() and (moved[first:] > 1e-6).all(), representation


def test_the_port_and_the_name_load_the_same_weights(model, port, tmp_path, monkeypatch):
    tokens = model.tokens(["MKTAYIAKQRQISFVK"])
    want = model.forward(tokens).logits
    got = load_model(str(port), device="cpu")
    assert got.fingerprint == model.fingerprint and torch.equal(got.forward(tokens).logits, want)
    snapshot = tmp_path / "models--hugohrban--progen2-small" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    for f in port.iterdir():
        (snapshot / f.name).symlink_to(f)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    by_name = load_model("progen2-small", device="cpu")
    assert by_name.name == "progen2-small" and by_name.fingerprint == model.fingerprint
    with pytest.raises(ContactplugError, match="hugohrban/progen2-large") as err:
        load_model("progen2-large")
    assert "\n" not in str(err.value)


def test_what_progen2_is_and_can_run(model):
    assert model.family == "ProGen2" and (model.num_layers, model.num_heads) == (3, 8)
    assert model.max_length == 126 and model.mask_id is None and model.has_lm_head
    methods = model.methods()
    assert [m for m, why in methods.items() if why is None] == [
        "attention", "all-heads", "jacobian", "repr-jacobian",
    ]  # fmt: skip
    assert "mask token" in methods["jacobian-fast"]


def test_every_method_runs_and_batches_equal_one_at_a_time(model):
    seq = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRV"
    assert not cache.cached_path(model.fingerprint).exists()
    [cmap] = prediction.predict(model, [Record("q", seq)], "attention")
    assert cache.cached_path(model.fingerprint).exists()  # the ranking, made on first use
    assert cmap.contacts.shape == (40, 40) and np.isfinite(cmap.contacts).all()
    for representation in (False, True):
        record = Record("q", seq[:10])  # the window: at most this tiny model's 126 residues
        got = jacobian.contact_map(model, record, representation, progress=False, window=100)
        assert got.contacts.shape == (10, 10) and np.isfinite(got.contacts).all()
        assert np.allclose(got.contacts, got.contacts.T)
    [long] = prediction.predict(model, [Record("long", seq * 4)], "attention", window=100)
    assert len(long.meta["windows"]) > 1
    seqs = [seq[:22], "GSHMSLFD", seq]
    batched = attention.batch_maps(model, seqs, "all-heads")
    for s, got in zip(seqs, batched, strict=True):
        [alone] = attention.batch_maps(model, [s], "all-heads")
        np.testing.assert_allclose(got, alone, **of(model))


def test_a_folder_without_its_tokenizer_is_one_line(folder, tmp_path):
    bare = tmp_path / "progen2-small"
    bare.mkdir()
    for name in ("config.json", "pytorch_model.bin"):
        (bare / name).symlink_to(folder / name)
    (tmp_path / "q.fa").write_text(">q\nMKTAYIAKQRQ\n")
    argv = ["predict", tmp_path / "q.fa", "-o", tmp_path / "out", "--model", bare]
    refused(argv, "no tokenizer.json.*salesforce/progen", root=tmp_path)
    (bare / "tokenizer.json").write_text(json.dumps({"model": {"vocab": {"A": 5}}}))
    refused(argv, "no token for 1, 2, .*not ProGen2's", root=tmp_path)


@pytest.mark.parametrize("changes", [{"n_embd": 64}, {"n_layer": 4}, {"n_inner": 96},
                                     {"vocab_size": 30}])  # fmt: skip
def test_a_checkpoint_of_another_size_than_its_config_is_one_line(folder, tmp_path, changes):
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    config = json.loads((bad / "config.json").read_text()) | changes
    (bad / "config.json").write_text(json.dumps(config))
    refused(["model-info", "--model", bad], "not the size its config states", root=tmp_path)


def test_the_cli_reads_the_folder_and_bench_times_it(folder, tmp_path, capsys):
    from contactplug.cli import main

    assert main(["-q", "model-info", "--model", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "ProGen2, 3 layers x 8 heads, max 126 residues" in out
    assert "jacobian             ok" in out
    assert "jacobian-fast        unavailable: the model has no mask token" in out
    fasta = tmp_path / "q.fa"
    fasta.write_text(">q\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n")
    assert main(["-q", "predict", str(fasta), "-o", str(tmp_path / "o"), "--model", str(folder),
                 "--method", "all-heads"]) == 0  # fmt: skip
    args = ["bench", "--model", str(folder), "--lengths", "12", "--repeats", "1", "--only"]
    assert main(args + ["readout"]) == 0
    out = capsys.readouterr().out
    assert "ProGen2, 3 layers x 8 heads, dim 48" in out
    assert "attention readout / bare, fp32" in out and "failed" not in out
