"""Bad input, class 1: no silent wrong map.

Decided per case:
- a TER record mid-chain: read through (as PyMOL does); the whole chain is the map;
- an unresolved loop (a chain break by C-N distance, CA-CA without them, or numbering without
  atoms): predicted as read, with one warning line when read, `chain_breaks` in the npz meta,
  and a summary line at the end of the run;
- a head ranking naming heads the model lacks (-1, -1; layer 99), listing a head twice, a K
  outside 1..heads, or missing fields: refused in one line before any work;
- MODEL 2 listed before MODEL 1: MODEL 1 is read, and a warning says so (no MODEL 1: the
  lowest number, said).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from badinput import accepted, pdb_lines, refused, residue_numbers

from contactplug.evaluation.metrics import evaluate_map
from contactplug.files.contactmap import load
from contactplug.inputs.structure import read_chain

ALL_PDB = sorted((Path(__file__).parent / "data").glob("*.pdb"))


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def with_ter(source: Path, path: Path, before: list[int]) -> Path:
    """A copy with TER records inserted before the given residue numbers."""
    out, pending = [], set(before)
    for line in pdb_lines(source):
        if line.startswith("ATOM") and int(line[22:26]) in pending:
            out.append("TER")
            pending.discard(int(line[22:26]))
        out.append(line)
    return _write(path, out)


def without(source: Path, path: Path, drop: set[int], renumber: bool = False) -> Path:
    """A copy with residues removed (an unresolved loop); renumber closes the numbering gap."""
    out = []
    for line in pdb_lines(source):
        if line.startswith(("ATOM", "HETATM")):
            num = int(line[22:26])
            if num in drop:
                continue
            if renumber and num > max(drop):
                line = f"{line[:22]}{num - len(drop):4d}{line[26:]}"
        out.append(line)
    return _write(path, out)


# ---------------------------------------------------------------- TER mid-chain
@pytest.mark.parametrize("cuts", [1, 3])
def test_ter_mid_chain_reads_the_whole_chain(tmp_path, data_dir, tiny_model_path, cuts):
    source = data_dir / "1CTF_A.pdb"
    nums = residue_numbers(pdb_lines(source))
    assert len(nums) == 68
    ter = with_ter(source, tmp_path / "1CTF_A.pdb", nums[10 :: 60 // cuts][:cuts])
    whole = read_chain(source)
    chain = read_chain(ter)
    assert chain.sequence == whole.sequence and np.array_equal(chain.resnum, whole.resnum)
    assert not chain.breaks  # a TER is not a break: the peptide bonds are there
    accepted(["predict", ter, "-o", tmp_path / "out", "--model", tiny_model_path], tmp_path)
    cmap = load(tmp_path / "out" / "1CTF_A.npz")
    assert cmap.length == 68 and list(cmap.resnum) == nums
    # evaluate scores the full map against the full chain of the TER'd file, as of the original
    a, b = evaluate_map(cmap, ter), evaluate_map(cmap, source)
    assert a["aligned"] == 68 and a == {**b, "structure": a["structure"]}


def test_ter_then_amino_acid_ligand_stays_out(tmp_path, data_dir):
    lines = [line for line in pdb_lines(data_dir / "1GUU_A.pdb") if line.strip() != "END"]
    tyr = [line for line in lines if line[17:20] == "TYR"]
    first = tyr[0][22:26]
    ligand = [
        "HETATM" + line[6:17] + "TYR A 900" + line[26:] for line in tyr if line[22:26] == first
    ]
    path = _write(tmp_path / "lig.pdb", [*lines, "TER", *ligand, "END"])
    assert read_chain(path).sequence == read_chain(data_dir / "1GUU_A.pdb").sequence


# ---------------------------------------------------------------- chain breaks
def test_no_test_structure_has_a_false_chain_break():
    for path in ALL_PDB:
        assert read_chain(path).breaks == [], path.name


@pytest.mark.parametrize("renumber", [False, True], ids=["numbering-gap", "renumbered"])
def test_unresolved_loop_is_warned_and_carried(
    tmp_path, data_dir, tiny_model_path, caplog, renumber
):
    source = data_dir / "1CTF_A.pdb"
    nums = residue_numbers(pdb_lines(source))
    loop = set(nums[30:36])
    cut = without(source, tmp_path / "cut.pdb", loop, renumber)
    fasta = tmp_path / "whole.fa"
    fasta.write_text(">whole\n" + read_chain(source).sequence + "\n")
    with caplog.at_level(logging.WARNING, logger="contactplug"):
        accepted(
            ["predict", cut, fasta, "-o", tmp_path / "out", "--model", tiny_model_path], tmp_path
        )
    warned = [r.getMessage() for r in caplog.records if "chain break" in r.getMessage()]
    assert len(warned) == 1 and "1 chain break (after " in warned[0], warned
    assert ("6 residues missing" in warned[0]) is not renumber
    summary = [
        r.getMessage() for r in caplog.records if "maps are of chains with breaks" in r.getMessage()
    ]
    assert summary == [
        "1 of 2 maps are of chains with breaks, read as one sequence (meta chain_breaks): cut_A"
    ]
    cmap = load(tmp_path / "out" / "cut_A.npz")
    [brk] = cmap.meta["chain_breaks"]
    assert cmap.length == 62 and brk["index"] == 30 and brk["distance"] > 2.0
    assert brk["missing"] == (None if renumber else 6)
    assert "chain_breaks" not in load(tmp_path / "out" / "whole.npz").meta


def test_breaks_from_ca_only_and_from_numbering_without_atoms(tmp_path, data_dir):
    source = data_dir / "1CTF_A.pdb"
    nums = residue_numbers(pdb_lines(source))
    ca_only = [
        line for line in pdb_lines(source) if not line.startswith("ATOM") or line[12:16] == " CA "
    ]
    whole = _write(tmp_path / "ca.pdb", ca_only)
    assert read_chain(whole).breaks == []  # CA-CA 3.8 A: no break
    cut = without(whole, tmp_path / "ca_cut.pdb", set(nums[20:23]), renumber=True)
    [brk] = read_chain(cut).breaks
    assert brk.index == 20 and brk.missing is None and brk.distance > 4.2


# ---------------------------------------------------------------- head rankings
def _ranking(tmp_path: Path, heads, k=2, **extra) -> Path:
    doc = {"format": "contactplug-head-ranking/1", "model": "tiny", "fingerprint": "x", "k": k,
           "heads": [[*h, 0.5] for h in heads], **extra}  # fmt: skip
    path = tmp_path / "ranking.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    "heads, k, message",
    [
        ([(-1, -1), (0, 1)], 2, r"not a valid head ranking \(-1 is not a 0-based index\)"),
        ([(99, 0), (0, 1)], 2, r"names layer 99 head 0, but tiny_esm2 has 2 layers x 4 heads"),
        ([(0, 0), (1, 7)], 2, r"names layer 1 head 7, but tiny_esm2 has 2 layers x 4 heads"),
        ([(0, 0), (0, 0)], 2, r"head \(0, 0\) listed twice"),
        ([(0, 0), (1, 1)], 0, r"K=0 of 2"),
        ([(0, 0), (1, 1)], 5, r"K=5 of 2"),
        ([(0.5, 0), (1, 1)], 1, r"0\.5 is not a 0-based index"),
        ([], 1, r"K=1 of 0"),
    ],
)
def test_bad_head_rankings_are_refused_before_any_work(
    tmp_path, data_dir, tiny_model_path, heads, k, message
):
    ranking = _ranking(tmp_path, heads, k)
    refused(
        ["predict", data_dir / "1GUU_A.pdb", "-o", tmp_path / "out", "--model", tiny_model_path,
         "--heads", ranking],
        message,
        root=tmp_path,
    )  # fmt: skip


def test_malformed_ranking_files(tmp_path, data_dir, tiny_model_path):
    cases = {
        "{": r"cannot read head ranking",
        json.dumps({"format": "contactplug-head-ranking/1"}): r"ranking \(no 'heads'\)",
        json.dumps({"format": "other"}): r"not a contactplug head ranking",
        json.dumps({"format": "contactplug-head-ranking/1", "model": "m", "fingerprint": "f",
                    "k": "2", "heads": [[0, 0, 1]]}): r"'2' is not a 0-based index",
    }  # fmt: skip
    for text, message in cases.items():
        path = tmp_path / "r.json"
        path.write_text(text)
        argv = ["predict", data_dir / "1GUU_A.pdb", "-o", tmp_path / "out"]
        refused([*argv, "--model", tiny_model_path, "--heads", path], message, root=tmp_path)


def test_a_bad_cached_ranking_is_refused_too(
    tmp_path, data_dir, tiny_model, tiny_model_path, monkeypatch
):
    """The ranking found by fingerprint (no --heads: the CLI, the API and the plugin) is
    checked against the model as an explicit one is."""
    from contactplug.readout.cache import cached_path

    monkeypatch.setenv("CONTACTPLUG_CACHE", str(tmp_path / "cache"))
    path = cached_path(tiny_model.fingerprint)
    path.parent.mkdir(parents=True)
    path.write_text(_ranking(tmp_path, [(1, 3), (5, 0)]).read_text())
    argv = ["predict", data_dir / "1GUU_A.pdb", "-o", tmp_path / "out", "--model", tiny_model_path]
    refused(argv, r"names layer 5 head 0, but tiny_esm2 has 2 layers", root=tmp_path)

    from contactplug.api import predict
    from contactplug.files.errors import ContactplugError

    with pytest.raises(ContactplugError, match="names layer 5 head 0"):
        predict("MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ", model=tiny_model)


# ---------------------------------------------------------------- MODEL order
def _models(source: Path, path: Path, order: list[int]) -> Path:
    atoms = [line for line in pdb_lines(source) if line.startswith(("ATOM", "HETATM"))]
    out = []
    for num in order:
        shift = 10.0 * num  # each model moved, so which one was read shows in the coordinates
        out.append(f"MODEL     {num:4d}")
        out += [f"{a[:30]}{float(a[30:38]) + shift:8.3f}{a[38:]}" for a in atoms]
        out.append("ENDMDL")
    return _write(path, [*out, "END"])


def test_model_1_is_read_wherever_it_is_listed(tmp_path, data_dir, caplog):
    source = data_dir / "1GUU_A.pdb"
    original = read_chain(source)
    with caplog.at_level(logging.WARNING, logger="contactplug"):
        chain = read_chain(_models(source, tmp_path / "m21.pdb", [2, 1]))
    np.testing.assert_allclose(chain.ca[:, 0], original.ca[:, 0] + 10.0, atol=1e-3)
    assert chain.model == 1
    assert "models are listed as 2, 1; read MODEL 1, the 2nd in the file" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="contactplug"):
        chain = read_chain(_models(source, tmp_path / "m32.pdb", [3, 2]))
    np.testing.assert_allclose(chain.ca[:, 0], original.ca[:, 0] + 20.0, atol=1e-3)
    assert "read MODEL 2 (there is no 1), the 2nd in the file" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="contactplug"):
        read_chain(_models(source, tmp_path / "m12.pdb", [1, 2]))
    assert "models are listed" not in caplog.text  # the usual order: nothing to say


def test_model_order_reaches_the_map(tmp_path, data_dir, tiny_model_path):
    path = _models(data_dir / "1GUU_A.pdb", tmp_path / "m32.pdb", [3, 2])
    accepted(["predict", path, "-o", tmp_path / "out", "--model", tiny_model_path], tmp_path)
    assert load(tmp_path / "out" / "m32_A.npz").meta["model_number"] == 2


def test_chain_breaks_reach_jacobian_maps_and_gathered_parts(tmp_path, data_dir, tiny_model_path):
    source = data_dir / "1GUU_A.pdb"
    nums = residue_numbers(pdb_lines(source))
    cut = without(source, tmp_path / "cut.pdb", set(nums[20:24]))
    model = ["--model", tiny_model_path, "--batch-size", "64"]
    accepted(["jacobian", cut, "-o", tmp_path / "whole", *model], tmp_path)
    for span in ("1-20", "21-46"):
        accepted(["jacobian", cut, "-o", tmp_path / "parts", "--positions", span, *model], tmp_path)
    accepted(["gather-jacobian", *(tmp_path / "parts").iterdir(), "-o", tmp_path / "g"], tmp_path)
    whole, gathered = load(tmp_path / "whole" / "cut_A.npz"), load(tmp_path / "g" / "cut_A.npz")
    assert whole.meta["chain_breaks"] == gathered.meta["chain_breaks"]
    assert [b["missing"] for b in whole.meta["chain_breaks"]] == [4]
    assert np.array_equal(whole.contacts, gathered.contacts)
