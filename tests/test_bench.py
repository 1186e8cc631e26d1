"""`contactplug bench` smoke test on the tiny model: it runs and prints the expected table.
No timing assertions: the numbers depend on the machine."""

from contactplug.cli import main


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
        "attention readout, ms",
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
        "fast, batched",
        "threads",
        "device cpu",
    ):
        assert label in out, label
    assert "failed" not in out


def test_bench_needs_a_model(capsys):
    assert main(["bench"]) == 2
    assert "--model or --arch" in capsys.readouterr().err
