"""AMPLIFY behind the model interface, held to chandar-lab's own model module on random weights.

How tests/data/amplify was made (the reference's code and the script that ran it stay out of
the repository): github chandar-lab/AMPLIFY at 2fd2c08 (`src/amplify/model/amplify.py`,
`rmsnorm.py`, `rotary.py`, `src/amplify/tokenizer/tokenizer.py`), in a venv of its own (torch
2.13.0 CPU, transformers 4.40.2, safetensors, pyyaml). Its package `__init__` imports the
training code (accelerate, ...), so a bare `amplify` package object was put in sys.modules
and only `amplify.model.amplify` and `amplify.tokenizer` imported. The model module imports
xformers, of which on CPU it calls only `xformers.ops.SwiGLU`: a stand-in module of that math
(`w12` = w1 stacked over w2, output w3(silu(x w1^T) * (x w2^T))) took its place;
`memory_efficient_attention`, CUDA only, was never called. An `AMPLIFYConfig` of the released
variant (SwiGLU, RMSNorm, no biases, 27 tokens, max_length 2048) at hidden 32, 4 heads, 3
layers, intermediate_size 48 got random weights far from the init (norm gains 1 + 0.3 N(0,1),
q and k 0.6 N(0,1): peaky attention). The reference tokenizer (`ProteinTokenizer`, the
published `amplify_vocab.txt`) encoded three sequences of different lengths (odd letters
included), right-padded with <pad>; the forward ran on that padded batch with the additive
pad_mask (-inf on padded keys), `output_attentions` and `output_hidden_states`.
  config.json        the config as the HF folders carry it (model_type AMPLIFY, auto_map)
  model.safetensors  `model.state_dict()` (the published tensor names)
  reference.npz      sequences, tokens, logits, representation (`layer_norm_2` of the last
                     hidden state), hidden_states (per layer) and attention (layers x B x
                     heads x T x T, every head)
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
from contactplug.models import amplify
from contactplug.models.loading import load_model
from contactplug.readout import attention, cache, prediction

DATA = Path(__file__).parent / "data" / "amplify"
REPO = "models--chandar-lab--AMPLIFY_120M"


@pytest.fixture(scope="module")
def ref() -> dict:
    return read_reference(DATA / "reference.npz")


@pytest.fixture(scope="module")
def model():
    return load_model(str(DATA), device="cpu")


def test_tokens_logits_hidden_states_and_every_head_equal_the_reference(model, ref):
    sequences = [str(s) for s in ref["sequences"]]
    tokens = model.tokens(sequences)
    assert tokens.tolist() == ref["tokens"].tolist()  # X U Z O are <unk>, B its own token
    out, maps = every_head(model, tokens, representation=True)
    t = tokens.shape[1]
    np.testing.assert_allclose(out.logits.numpy(), ref["logits"], **of(model, t, 1e-4))
    np.testing.assert_allclose(
        out.representation.numpy(), ref["representation"], **of(model, t, 1e-4)
    )
    for layer in range(model.num_layers):  # padded queries too: both mask the keys only
        np.testing.assert_allclose(maps[layer].numpy(), ref["attention"][layer], **of(model, t))
    padded = ref["tokens"] == amplify.PAD
    assert padded.any() and (ref["attention"][:, :, :, :, :][..., padded[1]][:, 1] == 0).all()


def test_bf16_linears_cast_once_equal_torch_autocasts(model):
    """The bf16 forward's linears on cast-once (packed) copies give the hidden states torch's
    autocast gave, to the bit (parity.bf16_both_ways)."""
    per_call, once = bf16_both_ways(model, ["MKTAYIAKQRQISFVKSHFSRQLEER", "GSHMSLFDFFKN"])
    assert torch.equal(once, per_call)


def test_a_head_the_network_lacks_is_one_line(model):
    tokens = model.tokens(["MKTAYIAKQRQ"])
    for heads in ({3: [0]}, {0: [1, 4]}, {-1: [0]}):
        with pytest.raises(ContactplugError, match="AMPLIFY has no head") as err:
            model.forward(tokens, heads, lambda n, h, p: None, logits=False)
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="without an on_heads callback"):
        model.forward(tokens, {0: [0]}, None)


@pytest.mark.parametrize("method", ["attention", "all-heads"])
def test_folded_maps_of_a_padded_batch_are_the_reference_attention_processed(
    model, ref, method, monkeypatch
):
    from contactplug.models import row_blocks

    monkeypatch.setattr(row_blocks, "ROW_BLOCK_BYTES", 1024)  # many blocks per layer
    seqs = [str(s) for s in ref["sequences"]]
    chosen = [(2, 3), (0, 1), (1, 0)] if method == "attention" else None
    picks = chosen or attention.all_heads(model)
    maps = attention.batch_maps(model, seqs, method, chosen)
    for b, (seq, got) in enumerate(zip(seqs, maps, strict=True)):
        n = len(seq)
        want = folded(
            ref["attention"][layer, b, head, 1 : n + 1, 1 : n + 1] for layer, head in picks
        )
        np.testing.assert_allclose(got, want, **of(model))


def test_logit_columns_of_the_jacobian_are_the_reference_logits(model, ref):
    seq = str(ref["sequences"][2])  # the 20 amino acids once each
    aa = model.token_ids(jacobian.AMINO_ACIDS)
    got = jacobian.residue_outputs(model, model.tokens([seq]), representation=False)[0]
    want = ref["logits"][2, 1 : len(seq) + 1][:, aa]
    np.testing.assert_allclose(got.numpy(), want, **of(model, len(seq), 1e-4))


def test_what_amplify_is_and_can_run(model):
    assert model.family == "AMPLIFY" and (model.num_layers, model.num_heads) == (3, 4)
    assert model.embed_dim == 32 and model.max_length == 2046 and model.mask_id == amplify.MASK
    assert model.has_lm_head and not model.has_contact_head and model.name == "amplify_tiny"
    assert [m for m, why in model.methods().items() if why is not None] == ["esm-head"]


def fake_hub(root: Path) -> Path:
    snapshot = root / REPO / "snapshots" / "0123456789abcdef"
    snapshot.mkdir(parents=True)
    for f in DATA.iterdir():
        (snapshot / f.name).symlink_to(f.resolve())
    return snapshot


def test_every_spec_loads_the_same_weights(model, tmp_path, monkeypatch):
    snapshot = fake_hub(tmp_path / "hub")
    tokens = model.tokens(["MKTAYIAKQRQISFVK"])
    want = model.forward(tokens).logits
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    for spec in (snapshot, snapshot.parents[1], "AMPLIFY_120M"):
        got = load_model(str(spec), device="cpu")
        assert got.family == "AMPLIFY" and got.fingerprint == model.fingerprint
        assert torch.equal(got.forward(tokens).logits, want), spec
    assert load_model("AMPLIFY_120M", device="cpu").name == "AMPLIFY_120M"
    with pytest.raises(ContactplugError, match="chandar-lab/AMPLIFY_350M") as err:
        load_model("AMPLIFY_350M")
    assert "\n" not in str(err.value)


def test_every_method_runs_and_batches_equal_one_at_a_time(model):
    seq = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRV"
    assert not cache.cached_path(model.fingerprint).exists()
    [cmap] = prediction.predict(model, [Record("q", seq)], "attention")
    assert cache.cached_path(model.fingerprint).exists()  # the ranking, made on first use
    assert cmap.contacts.shape == (40, 40) and np.isfinite(cmap.contacts).all()
    short = Record("q", seq[:10])
    for representation in (False, True):
        for fast in (False, True):
            got = jacobian.contact_map(model, short, representation, fast, progress=False)
            assert got.contacts.shape == (10, 10) and np.isfinite(got.contacts).all()
    [long] = prediction.predict(model, [Record("long", seq * 3)], "attention", window=50)
    assert len(long.meta["windows"]) > 1
    seqs = [seq[:22], "GSHMSLFD", seq]
    batched = attention.batch_maps(model, seqs, "all-heads")
    for s, got in zip(seqs, batched, strict=True):
        [alone] = attention.batch_maps(model, [s], "all-heads")
        np.testing.assert_allclose(got, alone, **of(model))


def copy_folder(tmp_path: Path, **changes) -> Path:
    folder = tmp_path / "amplify"
    shutil.copytree(DATA, folder)
    config = json.loads((folder / "config.json").read_text()) | changes
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize(
    "changes, says",
    [
        ({"hidden_size": 64}, "not the size its config states"),
        ({"num_hidden_layers": 2}, "not the size its config states"),
        ({"intermediate_size": 96}, "not the size its config states"),
    ],
)
def test_a_checkpoint_of_another_size_than_its_config_is_one_line(tmp_path, changes, says):
    folder = copy_folder(tmp_path, **changes)
    (tmp_path / "q.fa").write_text(">q\nMKTAYIAKQRQ\n")
    argv = ["predict", tmp_path / "q.fa", "-o", tmp_path / "out", "--model", folder]
    refused(argv, says, root=tmp_path)


def test_a_decoder_without_its_bias_is_one_line(tmp_path):
    """The decoder's weight alone had passed the size checks into a strict load's traceback."""
    from safetensors.torch import load_file, save_file

    folder = copy_folder(tmp_path)
    state = load_file(folder / "model.safetensors")
    del state["decoder.bias"]
    save_file(state, str(folder / "model.safetensors"))
    refused(["model-info", "--model", folder], "lacks decoder.bias; corrupt", root=tmp_path)


@pytest.mark.parametrize(
    "changes",
    [{"hidden_act": "GELU"}, {"rms_norm": False}, {"att_bias": True},
     {"layer_norm_after_embedding": True}, {"vocab_size": 33}],
)  # fmt: skip
def test_a_variant_only_its_remote_code_runs_is_one_line(tmp_path, changes):
    folder = copy_folder(tmp_path, **changes)
    key = next(iter(changes))
    says = f"this AMPLIFY variant \\(.*{key}=.*\\) runs only on its own remote code"
    refused(["model-info", "--model", folder], says, root=tmp_path)


def test_the_cli_reads_the_folder_and_bench_times_it(tmp_path, capsys):
    from contactplug.cli import main

    assert main(["-q", "model-info", "--model", str(DATA)]) == 0
    out = capsys.readouterr().out
    assert "AMPLIFY, 3 layers x 4 heads, max 2046 residues" in out
    assert "jacobian-fast        ok" in out
    fasta = tmp_path / "q.fa"
    fasta.write_text(">q\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n")
    assert main(["-q", "predict", str(fasta), "-o", str(tmp_path / "o"), "--model", str(DATA),
                 "--method", "all-heads"]) == 0  # fmt: skip
    args = ["bench", "--model", str(DATA), "--lengths", "12", "--repeats", "1", "--only"]
    assert main(args + ["readout"]) == 0
    out = capsys.readouterr().out
    assert "AMPLIFY, 3 layers x 4 heads, dim 32" in out
    assert "attention readout / bare, fp32" in out and "failed" not in out
