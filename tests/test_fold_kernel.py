"""The readout's fused softmax-and-fold kernel (readout.fold_kernel, data/kernels/softmax_fold.c)
against torch's passes (models.row_blocks._softmax_rows and HeadFold.rows), block by block and
through whole readouts; and its stated fallbacks."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from contactplug.files.sequences import Record
from contactplug.models import row_blocks
from contactplug.models.random_weights import random_model
from contactplug.readout import attention, fold_kernel

pytestmark = pytest.mark.skipif(fold_kernel.kernel("native") is None, reason="no C compiler here")


def _fold(spans, heads, seed=0):
    """A fold of one layer of `heads` heads (weights random)."""
    weights = {0: torch.rand(heads, generator=torch.Generator().manual_seed(seed))}
    return attention.HeadFold(spans, weights)


def _block(batch, heads, rows, tokens, seed):
    g = torch.Generator().manual_seed(seed)
    # scores spread over ~100 base-2 units: rows with keys far below their max, as in real heads
    return torch.randn(batch, heads, rows, tokens, generator=g) * 12


CASES = {
    # spans per sequence (first token, length); padded keys for the shorter sequence
    "one chain": [[(1, 40)], [(1, 30)]],
    "two chains": [[(1, 20), (23, 15)], [(1, 10), (12, 18)]],
    "three chains, one absent": [[(1, 12), (14, 10), (25, 14)], [(1, 15), (17, 20)]],
}


@pytest.fixture(params=["native", "plain"])
def variant(request, monkeypatch):
    """Each body of the kernel: the best for this CPU (AVX-512 intrinsics where it has them)
    and the plain C that other CPUs build."""
    monkeypatch.setenv(fold_kernel.SWITCH, request.param)
    assert fold_kernel.kernel(request.param) is not None
    return request.param


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("bias_kind", [None, "shared", "per head"])
@pytest.mark.parametrize("threads", [1, 2])
def test_one_block_matches_torchs_passes(case, dtype, bias_kind, threads, variant):
    spans, heads, tokens, start, rows = CASES[case], 5, 42, 7, 19
    wanted = [0, 2, 3, 5, 6]  # a subset of 7 heads: the bias planes are chosen by head
    padding = torch.zeros(2, tokens, dtype=torch.bool)
    padding[1, 32:] = True
    bias = None
    if bias_kind:
        planes = 1 if bias_kind == "shared" else 7
        bias = _block(1, planes, tokens, tokens, seed=4) / 4  # spread 3
        bias[..., -2:] = float("-inf")  # T5's padded keys
    raw = _block(2, heads, rows, tokens, seed=3).to(dtype)

    expected, ours = _fold(spans, 7), _fold(spans, 7)
    block = torch.empty(raw.shape)
    index = torch.tensor(wanted)
    masked = padding[:, None, None, :]
    row_blocks._softmax_rows(block, raw, start, masked, bias, index)
    expected.rows(0, wanted, block, start)

    fused = raw.clone()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        assert ours.scores(0, wanted, fused, start, padding, bias)
    finally:
        torch.set_num_threads(before)
    tol = dict(rtol=1e-5, atol=1e-7)
    # bf16 probabilities: torch's exp2 and ours differ in the last fp32 bits, which can round
    # a probability near a bf16 midpoint either way (seen: 1 of 7980, with another bias)
    step = dict(rtol=2**-8, atol=1e-7) if dtype == torch.bfloat16 else tol
    torch.testing.assert_close(fused.float(), block.to(dtype).float(), **step)
    torch.testing.assert_close(ours.sums, expected.sums, **tol)
    torch.testing.assert_close(ours.col_sums[0], expected.col_sums[0], **tol)
    # rows of no chain (BOS, the linker) are left 0 by both; the rest are the same sums
    torch.testing.assert_close(ours.row_sums[0], expected.row_sums[0], rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("tokens", [16, 47, 300])  # one vector, a tail, many
def test_both_bodies_agree_and_unread_probabilities_are_not_written(monkeypatch, dtype, tokens):
    """The intrinsics and the plain C: the same probabilities (to the last bf16 bit) and the
    same sums; with probabilities=False (no P @ v) the fold is the same and the scores are
    left as they were."""
    spans = [[(1, tokens // 2 - 1), (tokens // 2, tokens - tokens // 2 - 1)]]
    raw = _block(1, 4, 9, tokens, seed=5).to(dtype)
    out = {}
    for name, write in (("plain", True), ("native", True), ("native", False)):
        monkeypatch.setenv(fold_kernel.SWITCH, name)
        fold, scores = _fold(spans, 4), raw.clone()
        assert fold.scores(0, [0, 1, 2, 3], scores, 3, None, None, probabilities=write)
        out[name, write] = scores, fold
    (plain, a), (native, b), (kept, c) = out.values()
    torch.testing.assert_close(native.float(), plain.float(), rtol=2e-6, atol=1e-9)
    assert torch.equal(kept, raw)
    for fold in (b, c):
        torch.testing.assert_close(fold.sums, a.sums, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(fold.col_sums[0], a.col_sums[0], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(fold.row_sums[0], a.row_sums[0], rtol=1e-5, atol=1e-6)


def test_no_probability_is_subnormal(variant):
    """Subnormal probabilities, once in the forward, made everything after them up to 10x
    slower on the AMX Xeon: a key 2^-100 below its row's top gets exactly 0."""
    raw = torch.zeros(1, 1, 4, 300)
    raw[..., 1:] = -torch.linspace(90, 140, 299)  # far below the top key, 0
    fold = _fold([[(0, 300)]], 1)
    assert fold.scores(0, [0], raw, 0, None, None)
    tiny = torch.finfo(torch.float32).tiny
    assert bool(((raw == 0) | (raw >= tiny)).all())
    assert float(raw[0, 0, 0, 1]) > 0  # 2^-90 is kept


@pytest.fixture(scope="module")
def model():
    return random_model("esm2_t6_8M_UR50D", seed=1)


def _maps(monkeypatch, switch, *args, **kw):
    monkeypatch.setenv(fold_kernel.SWITCH, switch)
    return attention.batch_maps(*args, **kw)


@pytest.mark.parametrize("method", ["attention", "all-heads", "esm-head"])
@pytest.mark.parametrize("variant", ["native", "plain"])
def test_readouts_are_the_same_either_way(model, monkeypatch, method, variant):
    """Whole fp32 readouts of a padded batch and of a complex, fused (either body) and not:
    the same maps."""
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), n)) for n in (90, 61)]
    complex_ = Record("AB", seqs[0][:50] + seqs[1][:40], ("A", "B"), (50, 40))
    heads = [(1, 3), (4, 0), (5, 17), (3, 9)]
    for batch in ([*seqs], [complex_]):
        torch_maps = _maps(monkeypatch, "0", model, batch, method, heads)
        fused_maps = _maps(monkeypatch, variant, model, batch, method, heads)
        for a, b in zip(torch_maps, fused_maps, strict=True):
            np.testing.assert_allclose(b, a, rtol=2e-5, atol=2e-6)


def test_the_switch_turns_it_off(monkeypatch):
    monkeypatch.setenv(fold_kernel.SWITCH, "0")
    assert not fold_kernel.enabled()
    fold = _fold([[(1, 10)]], 2)
    assert not fold.scores(0, [0, 1], torch.zeros(1, 2, 3, 12), 0, None, None)
    assert fold.sums is None  # nothing started, nothing changed


@pytest.mark.parametrize("compiler", ["/nonexistent/cc", "false", "fails to compile"])
def test_a_failed_build_falls_back_with_one_note(monkeypatch, tmp_path, caplog, compiler):
    """A missing compiler, one that fails at once, or one that names itself and then fails
    to compile (after the build folder is made): logged once, the readout runs torch's
    passes, and no library nor build folder is left behind."""
    if compiler == "fails to compile":
        script = tmp_path / "bin" / "cc"
        script.parent.mkdir()
        script.write_text('#!/bin/sh\n[ "$1" = --version ] && echo "cc 1.0" && exit 0\n'
                          'echo "cc: error: no" >&2; exit 1\n')  # fmt: skip
        script.chmod(0o755)
        compiler = str(script)
    monkeypatch.setenv("CC", compiler)
    monkeypatch.setenv("CONTACTPLUG_CACHE", str(tmp_path))  # no build kept from before
    fold_kernel.kernel.cache_clear()
    try:
        with caplog.at_level(logging.INFO, logger="contactplug"):
            assert fold_kernel.kernel("native") is None
            assert not fold_kernel.enabled()
        notes = [r.getMessage() for r in caplog.records if "fused kernel" in r.getMessage()]
        assert len(notes) == 1 and "torch's passes" in notes[0]
        assert not list(tmp_path.rglob("*.so"))  # no half-built library left behind
        kernels = tmp_path / "kernels"
        assert not kernels.exists() or not list(kernels.iterdir())  # nor its build folder
    finally:
        fold_kernel.kernel.cache_clear()


def test_the_body_built_follows_the_cpu_and_the_switch(monkeypatch):
    """AVX-512 intrinsics where the CPU has AVX-512 F, BW and VL (what the source tests at
    compile time, under -march=native), the plain C elsewhere and with the switch at plain."""
    from contactplug.hardware import cpu_flags

    has = {"avx512f", "avx512bw", "avx512vl"} <= set(cpu_flags())
    assert fold_kernel.body() == ("AVX-512 intrinsics" if has else "plain C")
    monkeypatch.setenv(fold_kernel.SWITCH, "plain")
    assert fold_kernel.body() == "plain C"
    monkeypatch.setenv(fold_kernel.SWITCH, "0")
    assert fold_kernel.body() is None
