"""Bad model specs: impossible architectures, devices the forwards do not run on, and an HF
folder whose safetensors file cannot be read without the package (tests/badinput.refused)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from badinput import refused

from contactplug.models.fair_esm import save_fair_esm_checkpoint
from contactplug.models.random_weights import make_hf_esm, make_tiny_model


@pytest.fixture
def broken_config(tmp_path):
    """A real fair-esm checkpoint whose config is then edited (the weights stay as they are)."""

    def make(**fields):
        path = save_fair_esm_checkpoint(make_tiny_model(), tmp_path / "model.pt")
        data = torch.load(path, weights_only=False)
        for key, value in fields.items():
            setattr(data["cfg"]["model"], key, value)
        torch.save(data, path)
        return path

    return make


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"encoder_layers": -2}, r"impossible architecture \(-2 layers"),
        ({"encoder_attention_heads": 0}, r"impossible architecture .* 0 heads"),
        ({"encoder_embed_dim": 30}, r"width 30 is not divisible by its 4 heads"),
        ({"encoder_layers": "six"}, r"config lacks encoder_layers"),
    ],
)
def test_impossible_fair_esm_config(tmp_path, broken_config, fields, message):
    path = broken_config(**fields)
    refused(["model-info", "--model", path], message, root=tmp_path)
    fasta = tmp_path / "q.fasta"
    fasta.write_text(">q\nMKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ\n")
    refused(["predict", fasta, "-o", tmp_path / "out", "--model", path], message, root=tmp_path)


@pytest.mark.parametrize("device", ["mps", "meta", "xpu", "cuda:x", "gpu"])
def test_devices_the_forwards_do_not_run_on(tmp_path, tiny_model_path, device):
    refused(
        ["model-info", "--model", tiny_model_path, "--device", device],
        r"unknown device .*; choose auto, cpu, cuda or cuda:N",
        root=tmp_path,
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_without_a_cuda_device(tmp_path, tiny_model_path):
    refused(
        ["model-info", "--model", tiny_model_path, "--device", "cuda:0"],
        r"--device cuda:0: torch sees no CUDA device",
        root=tmp_path,
    )


# An HF folder with both weight files, read in a Python where safetensors cannot be imported.
WITHOUT_SAFETENSORS = r"""
import sys
sys.modules["safetensors"] = None
sys.modules["safetensors.torch"] = None
from contactplug.cli import main
sys.exit(main(["model-info", "--model", sys.argv[1]]))
"""


def hf_folder(tmp_path, both: bool):
    pytest.importorskip("transformers")
    model = make_hf_esm(2, 32, 4)
    folder = tmp_path / "hf"
    model.save_pretrained(folder, safe_serialization=True)
    if both:
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder


def test_hf_folder_falls_back_to_the_bin_without_safetensors(tmp_path):
    folder = hf_folder(tmp_path, both=True)
    with_package = subprocess.run(
        [sys.executable, "-m", "contactplug.cli", "model-info", "--model", str(folder)],
        capture_output=True, text=True,
    )  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", WITHOUT_SAFETENSORS, str(folder)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "safetensors is not installed; reading pytorch_model.bin" in proc.stderr
    # the same weights either way: the fingerprint line matches the one read from safetensors
    assert with_package.returncode == 0, with_package.stderr
    fingerprint = [ln for ln in proc.stdout.splitlines() if "fingerprint" in ln]
    assert fingerprint and fingerprint == [
        ln for ln in with_package.stdout.splitlines() if "fingerprint" in ln
    ]


def test_hf_folder_with_only_safetensors_says_what_to_install(tmp_path):
    folder = hf_folder(tmp_path, both=False)
    proc = subprocess.run(
        [sys.executable, "-c", WITHOUT_SAFETENSORS, str(folder)], capture_output=True, text=True
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert lines[-1].startswith("contactplug: error: ") and "pip install safetensors" in lines[-1]


@pytest.mark.parametrize("lengths", ["abc", "100,x", "0", "-5", "100,,300"])
def test_bench_lengths(tmp_path, lengths):
    refused(
        ["bench", "--arch", "esm2_t6_8M_UR50D", "--lengths", lengths],
        r"--lengths .*: give positive numbers",
        root=tmp_path,
    )


def test_bench_jacobian_positions(tmp_path):
    refused(
        ["bench", "--arch", "esm2_t6_8M_UR50D", "--jacobian", "some"],
        r"--jacobian 'some': give a number of positions or full",
        root=tmp_path,
    )


@pytest.mark.parametrize("workers", ["0", "two", "-1"])
def test_predict_workers_must_be_a_count(tmp_path, tiny_model_path, workers):
    fasta = tmp_path / "q.fa"
    fasta.write_text(">q\nMKTAYIAKQRQISFVKSHFSRQ\n")
    argv = ["predict", str(fasta), "-o", str(tmp_path / "o"), "--model", str(tiny_model_path)]
    refused(argv + ["--workers", workers], r"--workers (wants a positive|must be at)", tmp_path)


def test_predict_workers_give_the_maps_one_worker_gives(tmp_path, tiny_model_path):
    import numpy as np

    from contactplug.cli import main
    from contactplug.files.contactmap import load

    fasta = tmp_path / "q.fa"
    seqs = ["MKTAYIAKQRQISFVKSHFSRQ", "GSHMLEDPVDAFQVSKLAEKL" * 3, "MADEEKLPPGWEKRMSRSSG" * 2]
    fasta.write_text("".join(f">s{n}\n{s}\n" for n, s in enumerate(seqs)))
    base = ["-q", "predict", str(fasta), "--model", str(tiny_model_path), "--batch-size", "1"]
    assert main(base + ["-o", str(tmp_path / "one"), "--workers", "1"]) == 0
    assert main(base + ["-o", str(tmp_path / "two"), "--workers", "2"]) == 0
    for n in range(len(seqs)):
        one, two = (load(tmp_path / d / f"s{n}.npz") for d in ("one", "two"))
        np.testing.assert_allclose(one.contacts, two.contacts, atol=1e-6, rtol=0)
