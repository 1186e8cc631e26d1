"""What the CLI's overhead cuts must not change: a model built without random initialisation
(`fair_esm.without_init` + `assign_state`) equals fair-esm's own load; maps are written
uncompressed while compressed ones still load; `contactplug CMD` imports CMD's module only.
(The timings themselves are benchmarks/cli_overhead.py's, not asserted here.)"""

from __future__ import annotations

import argparse
import subprocess
import sys
import zipfile

import esm
import numpy as np
import pytest
import torch

from contactplug import cli
from contactplug.files import contactmap
from contactplug.files.contactmap import ContactMap
from contactplug.models.fair_esm import load_fair_esm_checkpoint, save_fair_esm_checkpoint
from contactplug.models.random_weights import make_esm1b, make_tiny_model

SEQUENCES = ["MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQ", "ACDEFGHIKLMNPQRSTVWY"]


def fair_esm_own_load(path):
    """fair-esm's own local load (random init, then a copying strict load_state_dict)."""
    with torch.serialization.safe_globals([argparse.Namespace]):
        module, _ = esm.pretrained.load_model_and_alphabet_local(path)
    return module.eval()


@torch.no_grad()
def fair_esm_outputs(module, tokens):
    out = module(tokens, repr_layers=[module.num_layers], return_contacts=True)
    return out["logits"], out["contacts"], out["representations"][module.num_layers]


def assert_same_module(ours, theirs, tokens):
    assert not any(p.is_meta for p in ours.parameters())
    ours_state, their_state = ours.state_dict(), theirs.state_dict()
    assert ours_state.keys() == their_state.keys()
    for key, value in their_state.items():
        assert ours_state[key].dtype == value.dtype, key
        assert torch.equal(ours_state[key], value), key
    # the LM head is still tied to the embedding, as in fair-esm's module
    assert ours.lm_head.weight is ours.embed_tokens.weight
    for mine, ref in zip(
        fair_esm_outputs(ours, tokens), fair_esm_outputs(theirs, tokens), strict=True
    ):
        assert torch.equal(mine, ref)


@pytest.mark.parametrize("family", ["esm2", "esm1b"])
def test_loaded_without_init_equals_fair_esm_own_load(tmp_path, family):
    if family == "esm2":
        module = make_tiny_model(layers=3, embed_dim=64, heads=4, seed=5)
    else:
        module = make_esm1b(layers=2, embed_dim=64, heads=4, seed=5)
    path = save_fair_esm_checkpoint(module, tmp_path / f"{family}_t2_small.pt")
    ours = load_fair_esm_checkpoint(path, device="cpu")
    theirs = fair_esm_own_load(path)
    tokens = ours.tokens(SEQUENCES)
    if family == "esm1b":  # fair-esm zeroes ESM-1b's mask embedding on load; so must we
        assert not ours.esm.embed_tokens.weight[ours.alphabet.mask_idx].any()
        tokens[0, 5] = ours.alphabet.mask_idx
    assert_same_module(ours.esm, theirs, tokens)
    # and the fused forward on top of it gives fair-esm's logits (padding rows aside)
    real = tokens != ours.alphabet.padding_idx
    got = ours.forward(tokens).logits[real]
    want = fair_esm_outputs(theirs, tokens)[0][real]
    assert torch.allclose(got, want, atol=1e-4)


def test_half_precision_checkpoint_and_missing_rotary_buffers(tmp_path):
    """An fp16 checkpoint is cast to the module's fp32 as a copying load casts it, and a
    checkpoint without the rotary inv_freq buffers gets fair-esm's own values."""
    module = make_tiny_model(layers=2, embed_dim=32, heads=4, seed=2)
    path = save_fair_esm_checkpoint(module.half(), tmp_path / "esm2_t2_half.pt")
    with torch.serialization.safe_globals([argparse.Namespace]):
        data = torch.load(path, weights_only=True)
    data["model"] = {k: v for k, v in data["model"].items() if not k.endswith("inv_freq")}
    torch.save(data, path)
    ours = load_fair_esm_checkpoint(path, device="cpu").esm
    reference = make_tiny_model(layers=2, embed_dim=32, heads=4, seed=2)  # fp32, fair-esm init
    with torch.no_grad():
        for key, value in module.state_dict().items():  # the fp16-rounded weights, in fp32
            if not key.endswith("inv_freq"):
                reference.state_dict()[key].copy_(value)
    for layer, ref in zip(ours.layers, reference.layers, strict=True):
        assert layer.self_attn.rot_emb.inv_freq.dtype == torch.float32
        assert torch.equal(layer.self_attn.rot_emb.inv_freq, ref.self_attn.rot_emb.inv_freq)
    tokens = torch.tensor([[0, 5, 6, 7, 8, 9, 2]])
    for mine, ref in zip(
        fair_esm_outputs(ours, tokens), fair_esm_outputs(reference, tokens), strict=True
    ):
        assert mine.dtype == torch.float32 and torch.equal(mine, ref)


def test_absent_contact_head_is_zeros_and_the_fingerprint_ignores_the_random_state(tmp_path):
    path = save_fair_esm_checkpoint(make_tiny_model(seed=3), tmp_path / "esm2_t2_nohead.pt")
    path.with_name(path.stem + "-contact-regression.pt").unlink()
    torch.manual_seed(1)
    first = load_fair_esm_checkpoint(path, device="cpu")
    torch.manual_seed(2)
    second = load_fair_esm_checkpoint(path, device="cpu")
    assert not first.has_contact_head
    assert not first.esm.contact_head.regression.weight.any()
    assert first.fingerprint == second.fingerprint


def test_maps_are_stored_uncompressed_and_old_compressed_maps_load(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((30, 30), dtype=np.float32)
    cmap = ContactMap(contacts=x + x.T, sequence="A" * 30, id="p1", method="attention", model="m")
    new = cmap.save(tmp_path / "new.npz")
    with zipfile.ZipFile(new) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
    old = tmp_path / "old.npz"  # as contactplug wrote maps before: zlib-compressed
    with open(old, "wb") as handle:
        np.savez_compressed(handle, **cmap.arrays())
    with zipfile.ZipFile(old) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}
    for path in (new, old):
        back = contactmap.load(path)
        assert np.array_equal(back.contacts, cmap.contacts)
        assert back.key == cmap.key and back.meta == cmap.meta


def test_the_command_table_names_every_subcommand_by_its_module():
    registered = {}
    for module_name in cli.COMMAND_MODULES:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        __import__(module_name, fromlist=["register"]).register(sub)
        registered.update(dict.fromkeys(sub.choices, module_name))
    assert registered == cli.COMMAND_MODULE
    # the whole parser still lists every command, in the modules' order
    full = cli.build_parser()
    assert list(full._subparsers._group_actions[0].choices) == list(registered)


def test_a_subcommand_imports_its_own_module_only():
    code = (
        "import sys; from contactplug import cli; "
        "cli.build_parser(['-q', 'predict', 'x.fasta', '-o', 'out']); "
        "print([m for m in cli.COMMAND_MODULES if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['contactplug.commands.predict']"


def test_commands_that_only_read_maps_never_import_torch(tmp_path):
    """`export` (run once per map by the pipeline) and `--help` name the models from the
    registry and find calibrations in the store without loading torch (1-2 s a process)."""
    rng = np.random.default_rng(1)
    x = rng.random((40, 40), dtype=np.float32)
    sequence = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRV"
    ContactMap(contacts=x + x.T, sequence=sequence, id="p1", method="attention", model="m").save(
        tmp_path / "p1.npz"
    )
    code = (  # --help exits inside main: the finally still reports
        "import sys\nfrom contactplug import cli\n"
        "try:\n    sys.exit(cli.main(sys.argv[1:]))\nfinally:\n    print('torch' in sys.modules)"
    )
    for args in (
        ["export", str(tmp_path / "p1.npz"), "--format", "rosetta", "-o", str(tmp_path / "rst")],
        ["export", str(tmp_path / "p1.npz"), "--format", "casp-rr", "--pseudo-prob", "-o",
         str(tmp_path / "rr")],
        ["--help"],
        ["export", "--help"],
    ):  # fmt: skip
        run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
        assert run.stdout.strip().splitlines()[-1] == "False", (args, run.stdout, run.stderr)
        assert run.returncode == 0, run.stderr
    assert "AtomPair" in (tmp_path / "rst").read_text()
    assert (tmp_path / "rr").read_text().startswith("PFRMAT RR")
