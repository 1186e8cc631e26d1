"""`contactplug bench` on the tiny model: it runs and prints the expected table, and the
machine facts it prints are read from the machine. No timing assertions: the numbers
depend on the machine."""

import math
import re

import pytest
import torch

from contactplug import hardware
from contactplug.cli import main
from contactplug.readout import fold_kernel


def test_bench_prints_the_cost_table(tiny_model_path, capsys):
    code = main(
        [
            "bench",
            "--model",
            str(tiny_model_path),
            "--lengths",
            "12",
            "--repeats",
            "1",
            "--jacobian",
            "2",
            "--memory",
            "--throughput",
            "3",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "| metric | L = 12 |" in out
    for label in (
        "attention readout, fp32, ms",
        "fair-esm bare forward, ms",
        "readout / fair-esm bare forward",
        "Jacobian forwards (20L+1) | 241 |",
        "Jacobian, s",
        "(est.)",
        "Jacobian at % of its bound",
        "Jacobian / readout cost",
        "peak RSS, MB",
        "| readout |",
        "| jacobian_fold |",
        "readout, batched",
        "threads",
        "device cpu",
        "load average",
        "CPU matmul features:",
        "measured matmul peak",
        "kernel path, fp32 forward:",
        "forward GFLOP",
        "% of fp32 peak",
        "all-heads readout / bare",
        "esm-head / bare",
        "fair-esm batch forward",
        "bound with fair-esm's forward",
        "| all_heads |",
        "fair-esm hooks, one at a time",
        "readout precision by default:",
    ):
        assert label in out, label
    assert "failed" not in out
    if hardware.has_bf16_matmul(torch.device("cpu")):
        assert "kernel path, bf16 autocast forward:" in out
        assert "bf16 speed-up, attention readout" in out
        # the tiny model is narrower than any width the accuracy gate measured: fp32
        assert "readout precision by default: fp32 (auto: bf16 is gated from dim" in out


def test_bench_needs_a_model(capsys):
    assert main(["bench"]) == 2
    assert "--model or --arch" in capsys.readouterr().err


def test_matmul_features_come_from_the_flags():
    flags = {"fpu", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "sse2"}
    assert hardware.matmul_features(flags) == ["avx512f", "avx512_bf16", "amx_tile", "amx_bf16"]
    assert hardware.has_bf16_matmul(torch.device("cpu"), flags)
    assert not hardware.has_bf16_matmul(torch.device("cpu"), {"avx2", "fma", "avx512f"})
    # the real /proc/cpuinfo: every flag reported is one the kernel lists
    assert set(hardware.matmul_features()) <= hardware.cpu_flags()


def test_forward_flops_formula(tiny_model):
    params = hardware.linear_params(tiny_model.esm)
    # 2 layers of dim 32: q, k, v, out (32 x 32 each), fc1 and fc2 (32 x 128), LM dense 32 x 32
    assert params == 2 * (4 * 32 * 32 + 2 * 32 * 128) + 32 * 32
    assert hardware.forward_flops(params, 2, 32, 10) == 2 * params * 10 + 4 * 2 * 100 * 32


def test_matmul_peaks_are_measured():
    peaks = hardware.matmul_peaks(torch.device("cpu"), size=128, rounds=2)
    assert set(peaks) == {torch.float32, torch.bfloat16}
    assert all(math.isfinite(g) and g > 0 for g in peaks.values())


@pytest.mark.skipif(
    not hardware.has_bf16_matmul(torch.device("cpu")), reason="no bf16 matmul unit on this CPU"
)
def test_onednn_reports_the_bf16_matmul_kernel():
    a = torch.randn(64, 64).bfloat16()
    kernels = hardware.onednn_kernels(lambda: a @ a)
    assert any(k.startswith("matmul ") and k.endswith(" bf16") for k in kernels), kernels
    # fp32 matmuls go to MKL: no oneDNN matmul is logged for them
    b = torch.randn(64, 64)
    assert not any(k.startswith("matmul ") for k in hardware.onednn_kernels(lambda: b @ b))


def test_throughput_on_two_threads_says_what_bounds_batching(tiny_model_path, capsys, monkeypatch):
    """On more than one thread both readout paths also run on one thread, and bench prints
    the bound their work and their use of the threads set on batched / one at a time."""
    threads = torch.get_num_threads()
    args = ["bench", "--model", str(tiny_model_path), "--only", "throughput"]
    code = main(args + ["--throughput", "4", "--threads", "2", "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0 and torch.get_num_threads() == threads  # restored after the run
    assert "on one thread batched does" in out and "(the bound)" in out
    assert "on 2 threads one at a time uses" in out

    from contactplug.commands import bench_throughput
    from contactplug.models.loading import load_model
    from contactplug.readout import prediction

    seen = []  # (batch_size, workers, torch threads) of each predict bench ran
    real = prediction.predict_unordered

    def recorded(model, part, **kw):
        seen.append((kw["batch_size"], kw["workers"], torch.get_num_threads()))
        return real(model, part, **kw)

    monkeypatch.setattr(prediction, "predict_unordered", recorded)
    model = load_model(str(tiny_model_path), device="cpu")
    torch.set_num_threads(2)
    try:
        got = bench_throughput.throughput(model, 4, [(1, 0), (1, 2)], None)
    finally:
        torch.set_num_threads(threads)
    assert got["threads"] == 2 and torch.get_num_threads() == threads
    # one at a time and batched, each on both threads and on one
    assert sorted(set(seen), key=str) == sorted(
        {(1, 1, 2), (None, None, 2), (1, 1, 1), (None, 1, 1)}, key=str
    )
    assert got["batched_bound"] == 2 * got["batched_1t"] / got["one"]
    assert 0 < got["use_one"] and 0 < got["use_batched"]


def test_a_run_leaves_its_clock_in_no_module(tiny_model_path, capsys):
    """bench --clock cpu hands its clock to what it times: no module global is set (a global
    would leak the last run's clock into the next caller's timings, as timing.clock did)."""
    from contactplug import timing

    before = {name: id(value) for name, value in vars(timing).items()}
    before_hw = {name: id(value) for name, value in vars(hardware).items()}
    args = ["bench", "--model", str(tiny_model_path), "--lengths", "12", "--repeats", "1"]
    assert main(args + ["--only", "readout", "--clock", "cpu"]) == 0
    assert "cpu clock" in capsys.readouterr().out
    assert {name: id(value) for name, value in vars(timing).items()} == before
    assert {name: id(value) for name, value in vars(hardware).items()} == before_hw


def test_the_clock_passed_is_the_clock_read(tiny_model):
    """Which clock times a path, not how fast it is: CPU time leaves out a sleep (the time
    other jobs hold the cores looks the same to it), wall time counts all of it."""
    import time

    from contactplug import timing

    nap = {"nap": lambda: time.sleep(0.05)}
    assert timing.interleaved(nap, 1, tiny_model)["nap"] >= 0.05  # the wall clock by default
    assert timing.interleaved(nap, 1, tiny_model, timing.CLOCKS["cpu"])["nap"] < 0.05
    assert timing.interleaved(nap, 1, tiny_model, timing.CLOCKS["wall"])["nap"] >= 0.05


BOUND = re.compile(r"^(\d+) / (\d+) / (\d+) / (\d+) %, (matmul|exp|element-wise|fused kernel)$")
PARTS = "matmul / exp / element-wise / fused kernel"


def test_bench_says_what_bounds_each_path(tiny_model_path, capsys):
    """The real bench on the tiny model: each path's predicted matmul / exp / element-wise
    shares sum to 100 % and the bound it names is the largest; the predicted ratio over the
    bare forward stands beside the measured one."""
    args = ["bench", "--model", str(tiny_model_path), "--lengths", "12,40", "--repeats", "1"]
    assert main(args + ["--only", "readout"]) == 0
    out = capsys.readouterr().out
    assert "measured exp2 " in out and " GB/s (the softmax's and fold's other passes" in out
    fused = fold_kernel.enabled()
    assert ("G probabilities/s" in out) == fused, out
    if fused:  # which body ran: AVX-512 intrinsics where the CPU has them, else the plain C
        assert f"G probabilities/s ({fold_kernel.body()} body;" in out
    assert "| what bounds each path (predicted) | L = 12 | L = 40 |" in out
    rows = [line.strip("| ").split(" | ") for line in out.splitlines() if "bound by |" in line]
    labels = [r[0] for r in rows]
    for path in ("bare forward", "attention readout", "all-heads readout", "esm-head readout"):
        assert f"{path}, fp32: {PARTS}, bound by" in labels, path
        assert f"{path}, bf16 matmuls at 7x this fp32 peak: {PARTS}, bound by" in labels, path
    for label, *cells in rows:
        assert len(cells) == 2, label
        for cell in cells:
            found = BOUND.match(cell)
            assert found, (label, cell)
            shares = dict(zip(PARTS.split(" / "), map(int, found.groups()[:4]), strict=True))
            assert sum(shares.values()) == 100, (label, cell)
            assert shares[found[5]] == max(shares.values()), (label, cell)
            # the kernel's share is the readouts' where it runs, and never the bare forward's
            if label.startswith("bare forward") or not fused:
                assert shares["fused kernel"] == 0, (label, cell)
    ratios = [line for line in out.splitlines() if "/ bare, fp32: predicted (measured)**" in line]
    assert len(ratios) == 3
    for line in ratios:
        assert re.search(r"\| \d+\.\d\dx \(\d+\.\d\dx\) \| \d+\.\d\dx \(\d+\.\d\dx\) \|$", line)
    assert re.search(r"bare forward, fp32: predicted ms \(measured\) \| \d+\.\d \(\d+\.\d\)", out)


@pytest.mark.parametrize("fused", [False, True], ids=["torch passes", "fused kernel"])
def test_the_counts_fold_what_the_readout_folds(tiny_model, monkeypatch, fused):
    """The probabilities the counts charge the fold for are those the real readout hands its
    fold (all-heads: every head of every layer; attention: the wanted heads only, the other
    layers' softmax inside SDPA): as exps and passes through torch, or through the kernel."""
    from contactplug.commands import bench_bounds
    from contactplug.readout import attention

    if fused and not fold_kernel.enabled():
        pytest.skip("no C compiler: the fused kernel does not run here")
    monkeypatch.setenv(fold_kernel.SWITCH, "1" if fused else "0")
    folded = []
    real_rows, real_scores = attention.HeadFold.rows, attention.HeadFold.scores

    def rows(self, layer, wanted, block, start):
        folded.append(block.numel())
        return real_rows(self, layer, wanted, block, start)

    def scores(self, layer, wanted, block, start, *rest):
        done = real_scores(self, layer, wanted, block, start, *rest)
        folded.append(block.numel() if done else 0)
        return done

    monkeypatch.setattr(attention.HeadFold, "rows", rows)
    monkeypatch.setattr(attention.HeadFold, "scores", scores)
    params = hardware.linear_params(tiny_model.module)
    shape = bench_bounds.Shape(tiny_model.num_layers, tiny_model.num_heads, 32, params)
    length, tokens = 40, 42
    seq = "ACDEFGHIKLMNPQRSTVWY" * 2
    attention.batch_maps(tiny_model, [seq], "all-heads")
    every = bench_bounds.all_heads_work(shape, length, bf16=False, fused=fused)
    charged = every.fused if fused else every.exps
    assert sum(folded) == charged == shape.layers * shape.heads * tokens**2
    assert every.exps == 0 or not fused  # every layer's softmax is the kernel's
    folded.clear()
    heads = [(1, 0), (1, 2)]
    attention.batch_maps(tiny_model, [seq], "attention", heads)
    some = bench_bounds.attention_work(shape, length, False, heads, fused=fused)
    sdpa = shape.heads * tokens**2  # layer 0, no head wanted: its softmax inside SDPA
    charged = some.fused if fused else some.exps - sdpa
    assert sum(folded) == charged == 2 * tokens**2
    assert some.exps == sdpa or not fused
