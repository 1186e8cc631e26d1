"""ESM C: our forward against EvolutionaryScale's own modules, and loading the official layouts.

The fixtures in tests/data/esmc/ come from scripts/make_esmc_fixtures.py, run with
EvolutionaryScale's package in a venv of its own (it cannot sit beside fair-esm): a reduced
ESM C (d_model 32, 4 heads, 3 layers) with random weights in the official .pth layout, and
what the official forward gave for a padded batch of three sequences. Nothing here imports
their package.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from contactplug.files.errors import ContactplugError
from contactplug.models import esmc, esmc_weights

DATA = Path(__file__).parent / "data" / "esmc"
TINY = DATA / "esmc_tiny.pth"
REPO = "models--EvolutionaryScale--esmc-300m-2024-12"
WEIGHTS = "esmc_300m_2024_12_v0.pth"


@pytest.fixture(scope="module")
def ref() -> dict:
    with np.load(DATA / "reference.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def model(ref) -> esmc.ESMC:
    return esmc_weights.load(TINY, heads=int(ref["n_heads"]))


def run_all(model: esmc.ESMC, tokens: torch.Tensor) -> tuple[esmc.Output, dict]:
    maps: dict[int, torch.Tensor] = {}

    def keep(layer, heads, probs):
        assert heads == list(range(model.n_heads))
        maps[layer] = probs.clone()

    every = {layer: range(model.n_heads) for layer in range(model.n_layers)}
    out = esmc.forward(
        model, tokens, heads=every, on_heads=keep, representation=True,
        hidden_layers=range(model.n_layers),
    )  # fmt: skip
    return out, maps


def gap(a: torch.Tensor, b: np.ndarray) -> float:
    return float(np.abs(a.float().numpy() - b).max())


def test_tokenizer_matches_the_official_one():
    official = json.loads((DATA / "tokenizer.json").read_text())
    assert {token: i for i, token in enumerate(esmc.VOCAB)} == official["vocab"]
    for text, ids in official["cases"].items():
        assert esmc.tokenize(text) == ids, text
    assert esmc.letter_ids("LAX") == [4, 5, 24]


def test_forward_matches_the_official_modules(model, ref):
    tokens = esmc.batch_tokens([str(s) for s in ref["sequences"]])
    assert tokens.tolist() == ref["tokens"].tolist()
    out, maps = run_all(model, tokens)
    assert out.layers_run == 3
    assert gap(out.logits, ref["logits"]) < 1e-4
    assert gap(out.representation, ref["embeddings"]) < 1e-4
    for layer in range(3):
        assert gap(out.hidden[layer], ref["hidden_states"][layer]) < 1e-4
        assert gap(maps[layer], ref["attention"][layer]) < 1e-5  # every head of every layer
    # the maps are not degenerate: the check above would catch a wrong head order
    assert ref["attention"].max(-1).mean() > 0.2


def test_single_sequences_match_their_rows_of_the_padded_batch(model, ref):
    for row, sequence in enumerate(ref["sequences"]):
        tokens = esmc.batch_tokens([str(sequence)])
        n = tokens.shape[1]
        out, maps = run_all(model, tokens)
        assert gap(out.logits[0], ref["logits"][row, :n]) < 1e-4
        assert gap(out.representation[0], ref["embeddings"][row, :n]) < 1e-4
        for layer in range(3):
            assert gap(maps[layer][0], ref["attention"][layer, row, :, :n, :n]) < 1e-5


def test_stops_after_the_last_wanted_layer_and_gives_only_those_heads(model, ref):
    tokens = torch.as_tensor(ref["tokens"])
    got = {}
    ran_last = []
    hook = model.transformer.blocks[2].ffn[1].register_forward_hook(lambda *a: ran_last.append(1))
    try:
        out = esmc.forward(
            model, tokens, heads={1: [2, 0]}, on_heads=lambda n, h, p: got.update({(n, *h): p}),
            logits=False, hidden_layers=[0],
        )  # fmt: skip
    finally:
        hook.remove()
    assert out.layers_run == 2 and not ran_last
    assert out.logits is None and out.representation is None
    assert list(got) == [(1, 0, 2)]
    assert gap(got[(1, 0, 2)], ref["attention"][1][:, [0, 2]]) < 1e-5
    assert gap(out.hidden[0], ref["hidden_states"][0]) < 1e-4


def test_logit_columns_are_a_slice_of_the_full_logits(model, ref):
    tokens = torch.as_tensor(ref["tokens"])
    amino = esmc.letter_ids("ACDEFGHIKLMNPQRSTVWY")
    some = esmc.forward(model, tokens, columns=amino).logits
    assert gap(some, ref["logits"][..., amino]) < 1e-4


def test_unknown_heads_are_refused(model):
    with pytest.raises(ContactplugError, match="no head"):
        esmc.forward(model, esmc.batch_tokens(["ACD"]), heads={0: [4]}, on_heads=print)


def fake_hub(root: Path) -> Path:
    """A hub cache laid out as huggingface_hub leaves it: blobs, a snapshot of links, refs/main."""
    repo = root / REPO
    data = TINY.read_bytes()
    blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True)
    blob.write_bytes(data)
    revision = "0123456789abcdef0123456789abcdef01234567"
    weights = repo / "snapshots" / revision / "data" / "weights"
    weights.mkdir(parents=True)
    (weights / WEIGHTS).symlink_to(os.path.relpath(blob, weights))
    (repo / "snapshots" / revision / "README.md").write_text("ESM C 300M\n")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    return repo / "snapshots" / revision


def check_parity(model: esmc.ESMC, ref) -> None:
    assert (model.d_model, model.n_heads, model.n_layers) == (32, 4, 3)
    assert gap(esmc.forward(model, torch.as_tensor(ref["tokens"])).logits, ref["logits"]) < 1e-4


def test_loads_the_snapshot_folder_the_repo_folder_and_the_name(tmp_path, monkeypatch, ref):
    snapshot = fake_hub(tmp_path / "hub")
    check_parity(esmc_weights.load(snapshot, heads=4), ref)
    check_parity(esmc_weights.load(tmp_path / "hub" / REPO, heads=4), ref)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    by_name = esmc_weights.load("esmc_300m", heads=4)
    check_parity(by_name, ref)
    assert by_name.name == "esmc_300m" and by_name.source.endswith(WEIGHTS)
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # HF_HOME/hub when HF_HUB_CACHE is unset
    assert esmc_weights.resolve("esmc_300m") == snapshot / "data" / "weights" / WEIGHTS


def test_a_name_missing_from_the_cache_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ContactplugError) as err:
        esmc_weights.load("esmc_600m")
    assert "not in the HuggingFace cache" in str(err.value)
    assert "EvolutionaryScale/esmc-600m-2024-12" in str(err.value)
    assert "\n" not in str(err.value)


def test_architecture_comes_from_the_shapes():
    # 64-dim heads unless told otherwise, as in every release; the widths of the real ones
    state = esmc.ESMC(128, 2, 1).state_dict()
    loaded = esmc_weights.from_state(state)
    assert (loaded.d_model, loaded.n_heads, loaded.n_layers) == (128, 2, 1)
    assert esmc.ffn_width(960) == 2560 and esmc.ffn_width(1152) == 3072
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in esmc.ESMC(960, 15, 30).state_dict().items()}
    assert shapes["transformer.blocks.29.ffn.1.weight"] == (5120, 960)
    assert shapes["transformer.blocks.29.attn.layernorm_qkv.1.weight"] == (2880, 960)
    assert shapes["sequence_head.3.weight"] == (64, 960)
    with pytest.raises(ContactplugError, match="not a multiple of 64; give heads"):
        esmc_weights.load(TINY)


def test_a_bfloat16_checkpoint_loads_as_float32(tmp_path):
    state = torch.load(TINY, weights_only=True)
    torch.save({k: v.bfloat16() for k, v in state.items()}, tmp_path / "bf16.pth")
    loaded = esmc_weights.load(tmp_path / "bf16.pth", heads=4)
    weight = loaded.transformer.blocks[1].ffn[1].weight
    assert weight.dtype == torch.float32
    key = "transformer.blocks.1.ffn.1.weight"
    assert torch.equal(weight, state[key].bfloat16().float())


def one_line_error(path: Path, **kw) -> str:
    with pytest.raises(ContactplugError) as err:
        esmc_weights.load(path, **kw)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


def test_damaged_and_foreign_files_are_refused_in_one_line(tmp_path, tiny_model_path):
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(TINY.read_bytes()[:50_000])
    assert "cannot read as a PyTorch checkpoint" in one_line_error(truncated, heads=4)
    text = tmp_path / "notes.pth"
    text.write_text("not weights\n")
    assert "cannot read" in one_line_error(text)
    assert "pickles Python objects" in one_line_error(tiny_model_path)  # a real fair-esm .pt

    state = torch.load(TINY, weights_only=True)
    key = "transformer.blocks.2.attn.out_proj.weight"
    for name, change, expected in [
        ("missing", lambda s: s.pop(key), f"missing {key}"),
        ("shape", lambda s: s.update({key: s[key][:, :8]}), f"{key} has shape (32, 8)"),
        ("nan", lambda s: s[key].view(-1)[5].fill_(float("nan")), "not finite"),
        ("extra", lambda s: s.update({"lm_head.weight": s[key]}), "unexpected lm_head.weight"),
    ]:
        broken = {k: v.clone() for k, v in state.items()}
        change(broken)
        torch.save(broken, tmp_path / f"{name}.pth")
        assert expected in one_line_error(tmp_path / f"{name}.pth", heads=4), name
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pth")
    assert "not an ESM C checkpoint" in one_line_error(tmp_path / "foreign.pth")
    (tmp_path / "empty_snapshot").mkdir()
    assert "no data/weights/*.pth" in one_line_error(tmp_path / "empty_snapshot")
    assert "not a known ESM C name" in one_line_error(tmp_path / "esmc_9b")
