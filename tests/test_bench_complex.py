"""`contactplug bench --complex N` on the tiny model: the complex's readouts are timed against
the bare forward of one chain of the same total length, and their peak memory measured, in
one run. Mechanics only: no timing assertion (the numbers depend on the machine)."""

import re

import numpy as np
from badinput import refused

from contactplug import timing
from contactplug.cli import main
from contactplug.models import joining
from contactplug.readout import attention


def test_bench_complex_prints_the_ratios_and_memory(tiny_model_path, capsys):
    code = main(["bench", "--model", str(tiny_model_path), "--complex", "3", "--lengths", "31",
                 "--repeats", "1", "--linker", "G4", "--memory"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "complex: 3 random chains summing to L, joined by linker G4" in out
    for label in ("attention readout of the complex", "all-heads readout of the complex",
                  "esm-head readout of the complex", "bare forward of the joined row",
                  "attention readout of one chain of sum L",
                  "all-heads readout of one chain of sum L"):  # fmt: skip
        row = next(line for line in out.splitlines() if label in line and "fp32" in line)
        assert re.search(r"\| \d+\.\d\dx \|$", row), row
    for path in ("fast_bare", "readout", "complex_bare", "complex_readout", "complex_all_heads",
                 "complex_esm_head"):  # fmt: skip
        row = next(line for line in out.splitlines() if line.startswith(f"| {path} |"))
        assert re.search(r"\| \d+ \(\+-?\d+\) \|$", row), row  # a peak, not "failed"


def test_complex_paths_read_a_complex_of_the_whole_length(tiny_model):
    record = timing.complex_record(31, 3, seed=31)
    assert record.chain_lengths == (11, 10, 10) and len(record.sequence) == 31
    heads = [(1, 0), (1, 2)]
    paths = timing.complex_paths(tiny_model, 31, 3, heads, None, "G4", "")
    assert set(paths) == {"fast_bare", "complex_bare", "readout", "all_heads", "complex_readout",
                          "complex_all_heads", "complex_esm_head"}  # fmt: skip
    [got] = paths["complex_readout"]()
    [want] = attention.batch_maps(tiny_model, [record], "attention", heads, None, "G4")
    assert got.shape == (31, 31)
    np.testing.assert_array_equal(got, want)
    [single] = paths["readout"]()
    assert single.shape == (31, 31)
    # the joined row the complex's paths read: 31 residues, 2 x 4 glycines, BOS and EOS
    assert joining.layout(tiny_model, record, "G4").positions == 31 + 8 + 2


def test_bench_complex_bad_input(tiny_model_path, tmp_path):
    model = ["--model", str(tiny_model_path), "--lengths", "20", "--repeats", "1"]
    refused(["bench", *model, "--complex", "1"], r"--complex 1: a complex needs 2 or more chains",
            root=tmp_path)  # fmt: skip
    refused(["bench", *model, "--linker", "G5"], r"--linker is for --complex N", root=tmp_path)
    refused(["bench", *model, "--complex", "2", "--linker", "X9"], r"unknown linker 'X9'",
            root=tmp_path)  # fmt: skip
    too_long = ["bench", "--model", str(tiny_model_path), "--complex", "2", "--lengths", "5000"]
    refused(too_long, r"bench: 2 chains of 5000 residues joined by linker special take \d+ "
            r"positions; \S+ reads at most \d+", root=tmp_path)  # fmt: skip
