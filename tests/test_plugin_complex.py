"""Complexes in the PyMOL plugin (issue 19, item 6), in real headless PyMOL on PyMOL's shipped
1tii.pdb (chains A and C: the A subunit; D-H: five identical B chains).

Expected pairs come from the core (contactplug.api, ContactMap.pairs), expected atoms, truth
and random baselines from the PDB file read by gemmi (contactplug.inputs.structure, and
Cβ-Cβ distances written out in tests/complex_maps.py), never from PyMOL.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from complex_maps import TII, chains, distances

from contactplug import api
from contactplug.files.contactmap import ContactMap
from contactplug.files.sequences import complex_record

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugin"))

from contactplug_pymol import draw, pymol_commands  # noqa: E402

EXE = ROOT / "bin" / "contactplug"


@pytest.fixture
def pm(pm):
    """conftest's headless PyMOL with the plugin's commands, and 1tii loaded as `tii`."""
    pm.load(str(TII), "tii")
    return pm


def names_in_group(cmd, group: str) -> list[str]:
    return [n[0] for n in cmd.get_session(partial=1)["names"] if n and n[6] == group]


def endpoints(cmd, name: str) -> np.ndarray:
    """The two ends of a distance object, from its session record."""
    [entry] = [n for n in cmd.get_session(name, partial=1)["names"] if n and n[0] == name]
    assert entry[4] == 4, f"{name} is not a measurement object"
    return np.array(entry[5][2][0][1], dtype=float).reshape(-1, 3)


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(" Error: ")]


def anchor(chain, k: int) -> np.ndarray:
    """The atom a pair is drawn to: C-beta, C-alpha for Gly (1tii lacks no such atom)."""
    return chain.ca[k] if chain.sequence[k] == "G" else chain.cb[k]


def check_block(cmd, group: str, first, second, expected) -> list[bool]:
    """The group holds exactly the expected pairs (i in `first`, j in `second`, chain-local),
    each between the right atoms of the two chains, coloured by gemmi's Cβ distance."""
    want = {draw.pair_name(group, first.label(i), second.label(j)): (i, j) for i, j, _ in expected}
    assert sorted(names_in_group(cmd, group)) == sorted(want)
    truth = []
    for name, (i, j) in want.items():
        assert np.allclose(endpoints(cmd, name), [anchor(first, i), anchor(second, j)], atol=1e-3)
        near = bool(np.linalg.norm(first.cb[i] - second.cb[j]) < 8.0)
        assert cmd.get("dash_color", name) == ("green" if near else "red"), name
        truth.append(near)
    return truth


def baseline(first, second) -> tuple[int, int]:
    d = distances(first.cb, second.cb)
    return int((d < 8.0).sum()), int(np.isfinite(d).sum())


def split(cmap: ContactMap, top_intra: int, top_inter: int, min_sep: int = 6):
    """Per chain its intra pairs (chain-local, best first), per chain pair its inter pairs."""
    spans = cmap.chain_spans()
    intra = {
        name: [(i - a, j - a, s) for i, j, s in cmap.pairs(min_sep) if a <= i < e][:top_intra]
        for name, a, e in spans
    }
    inter = {}
    for x, (na, a, ea) in enumerate(spans):
        for nb, b, eb in spans[x + 1 :]:
            inter[na, nb] = [
                (i - a, j - b, s)
                for i, j, s in cmap.pairs(kind="inter")
                if a <= i < ea and b <= j < eb
            ][:top_inter]
    return intra, inter


def summary_line(out: str, group: str) -> str:
    [line] = [ln for ln in out.splitlines() if f"drawn as {group}," in ln]
    return line


# ---- attncontacts complex=1 ------------------------------------------------------------------


def test_attncontacts_complex_draws_each_chain_and_the_chain_pair(pm, tiny_model_path, capfd):
    A, C = chains("A", "C")
    capfd.readouterr()
    pm.do(f"attncontacts tii and chain A+C, 10, model={tiny_model_path}, complex=1")
    out = capfd.readouterr().out
    assert not error_lines(out), out
    assert set(pm.get_names_of_type("object:group")) == {"attn_tii_A", "attn_tii_C", "attn_tii_A_C"}
    [cmap] = api.predict(
        complex_record("tii", [A.sequence, C.sequence], ["A", "C"]), model=str(tiny_model_path)
    )
    intra, inter = split(cmap, 10, 10)
    check_block(pm, "attn_tii_A", A, A, intra["A"])
    check_block(pm, "attn_tii_C", C, C, intra["C"])
    truth = check_block(pm, "attn_tii_A_C", A, C, inter["A", "C"])  # A's atom to C's
    hits, measured = baseline(A, C)
    line = summary_line(out, "attn_tii_A_C")
    n_true = sum(truth)
    assert line.startswith(" attncontacts: tii chains A-C: model tiny")
    assert f"inter-chain precision {n_true / 10:.2f} ({n_true}/10) against this structure" in line
    assert f"random baseline {hits / measured:.4f}: {hits}/{measured} residue pairs" in line
    assert "identical chains" not in line
    # intra-chain lines as for a single chain
    assert "tii chain A: model tiny" in summary_line(out, "attn_tii_A")
    pm.do("attncontacts_clear tii")
    assert not pm.get_names_of_type("object:group")


def test_attncontacts_complex_top_counts_from_the_shorter_chain(pm, tiny_model_path):
    results = pymol_commands.attncontacts(
        "tii and chain A+C", "L/5", model=str(tiny_model_path), complex="1", _self=pm
    )
    by_group = {r["group"]: r for r in results}
    # A: 186 // 5, C: 36 // 5, A-C: L_min = 36 -> 7 inter-chain pairs
    assert [len(by_group[g]["names"]) for g in ("attn_tii_A", "attn_tii_C", "attn_tii_A_C")] == [
        37,
        7,
        7,
    ]
    assert by_group["attn_tii_A_C"]["chains"] == ["A", "C"]
    assert by_group["attn_tii_A_C"]["interface_pairs"] == baseline(*chains("A", "C"))


def test_complex_through_the_executable_matches_in_process(pm, tiny_model_path, monkeypatch):
    """PyMOL's Python without the core: the complex goes to `contactplug predict` as a FASTA
    record of chains joined by ':', and the map names the structure's chains again."""
    inside = pymol_commands.attncontacts(
        "tii and chain A+C", "8", model=str(tiny_model_path), complex="1", _self=pm
    )
    monkeypatch.setenv("CONTACTPLUG_PYMOL_FORCE_CLI", "1")
    monkeypatch.setenv("CONTACTPLUG_EXE", str(EXE))
    outside = pymol_commands.attncontacts(
        "tii and chain A+C", "8", model=str(tiny_model_path), complex="1", _self=pm
    )
    assert [r["group"] for r in outside] == ["attn_tii_A", "attn_tii_C", "attn_tii_A_C"]
    for a, b in zip(inside, outside, strict=True):
        assert [(i, j) for i, j, _ in a["pairs"]] == [(i, j) for i, j, _ in b["pairs"]]


@pytest.mark.parametrize(
    "command, message",
    [
        ("attncontacts tii and chain A, complex=1", "a complex needs two or more chains"),
        ("attncontacts tii and chain A+C, complex=maybe", "complex='maybe': give 1 or 0"),
        ("attncontacts tii and chain A+C, all, complex=1", "distance objects, more than 2000"),
        ("attncontacts blank, complex=1", "a blank chain name"),
    ],
)
def test_complex_refusals_are_one_line(pm, tiny_model_path, capfd, command, message):
    pm.create("blank", "tii and chain A+C")
    pm.alter("blank and chain C", "chain=''")
    capfd.readouterr()
    pm.do(f"{command}, model={tiny_model_path}")
    out = capfd.readouterr()
    [line] = error_lines(out.out + out.err)
    assert message in line and "Traceback" not in out.out + out.err
    assert not pm.get_names_of_type("object:group")


# ---- loadcontacts of complex files -------------------------------------------------------------


def planted(
    names: str, numbered: bool, chain_ids: list[str] | None = None, within: bool = False
) -> ContactMap:
    """A complex map whose inter-chain scores are minus the Cβ distance (its best pairs are
    true contacts) over seeded noise elsewhere; author numbering when `numbered`. within:
    minus the distance within the first chain instead (identical chains: pairs in contact
    within a copy, not across)."""
    found = chains(*names)
    n = sum(len(c.sequence) for c in found)
    rng = np.random.default_rng(3)
    scores = rng.random((n, n)) * 0.1
    a = len(found[0].sequence)
    other = found[0] if within else found[1]
    d = np.nan_to_num(distances(found[0].cb, other.cb), nan=100.0)
    if within:
        d[np.abs(np.subtract.outer(np.arange(a), np.arange(a))) < 6] = 100.0
    scores[:a, a:] = -d
    scores[a:, :a] = -d.T
    scores = (scores + scores.T) / 2
    np.fill_diagonal(scores, 0)
    extra = {}
    if numbered:
        extra = dict(
            resnum=np.concatenate([c.resnum for c in found]),
            icode=np.concatenate([c.icode for c in found]),
        )
    return ContactMap(
        contacts=scores.astype(np.float32),
        sequence="".join(c.sequence for c in found),
        id="tii_planted",
        method="attention",
        model="test",
        chain_ids=chain_ids or list(names),
        chain_lengths=[len(c.sequence) for c in found],
        **extra,
    )


@pytest.mark.parametrize("numbered", [True, False])
def test_loadcontacts_draws_a_complex_npz(pm, tmp_path, capfd, numbered):
    A, C = chains("A", "C")
    cmap = planted("AC", numbered)
    npz = cmap.save(tmp_path / "tii_planted.npz")
    capfd.readouterr()
    pm.do(f"loadcontacts {npz}, tii, 10")
    out = capfd.readouterr().out
    assert not error_lines(out), out
    assert set(pm.get_names_of_type("object:group")) == {"lc_tii_A", "lc_tii_C", "lc_tii_A_C"}
    intra, inter = split(cmap, 10, 10)
    check_block(pm, "lc_tii_A", A, A, intra["A"])
    check_block(pm, "lc_tii_C", C, C, intra["C"])
    assert check_block(pm, "lc_tii_A_C", A, C, inter["A", "C"]) == [True] * 10
    hits, measured = baseline(A, C)
    line = summary_line(out, "lc_tii_A_C")
    assert line.startswith(" loadcontacts: tii chains A-C: attention contacts from tii_planted.npz")
    assert "inter-chain precision 1.00 (10/10)" in line
    assert f"random baseline {hits / measured:.4f}: {hits}/{measured}" in line


def copy_blind(first, second) -> np.ndarray:
    """Identical chains as `contactplug evaluate` counts them, written out here: (p, q) in
    contact across the copies either way round, or within either copy at |p - q| >= 6."""
    across = distances(first.cb, second.cb) < 8
    n = len(first.sequence)
    far = np.abs(np.subtract.outer(np.arange(n), np.arange(n))) >= 6
    within = (distances(first.cb, first.cb) < 8) | (distances(second.cb, second.cb) < 8)
    return across | across.T | (within & far)


def test_identical_chains_are_counted_both_ways(pm, tmp_path, capfd):
    """D and E of 1tii are the same sequence: the summary says what a single-sequence model
    cannot tell, and gives the copy-blind figures (evaluate's) beside the strict ones. The
    planted pairs are contacts within a copy: red as drawn (D-E far apart), right copy-blind."""
    D, E = chains("D", "E")
    npz = planted("DE", numbered=True, within=True).save(tmp_path / "de.npz")
    capfd.readouterr()
    [_, _, de] = pymol_commands.loadcontacts(str(npz), "tii and chain D+E", "10", _self=pm)
    line = summary_line(capfd.readouterr().out, "lc_tii_D_E")
    truth = copy_blind(D, E)
    n_blind = sum(truth[i, j] for i, j, _ in de["pairs"])
    n_strict = sum(de["in_contact"])
    assert n_blind == 10 and n_strict < 5  # the plant: right within a copy, mostly far across
    hits, measured = baseline(D, E)
    assert f"inter-chain precision {n_strict / 10:.2f} ({n_strict}/10) against" in line
    assert f"random baseline {hits / measured:.4f}: {hits}/{measured} residue pairs" in line
    assert "identical chains: a single-sequence model cannot tell a pair within one copy" in line
    blind_hits = int(truth.sum())
    assert (
        f"counted as evaluate does (within either copy or across): precision 1.00 (10/10) "
        f"against this structure (random baseline {blind_hits / measured:.4f}: "
        f"{blind_hits}/{measured} residue pairs in contact)"
    ) in line
    assert de["copy_blind"] == {
        "precision": 1.0,
        "baseline": blind_hits / measured,
        "interface_pairs": (blind_hits, measured),
    }
    assert de["baseline"] == hits / measured and de["precision"] == n_strict / 10


def test_a_fasta_lettered_complex_is_placed_by_order(pm, tmp_path, capfd):
    """A complex predicted from FASTA is lettered A, B: on chains A and C of the structure its
    chains are matched in order, by sequence."""
    A, C = chains("A", "C")
    cmap = planted("AC", numbered=False, chain_ids=["A", "B"])
    npz = cmap.save(tmp_path / "lettered.npz")
    [a, c, ac] = pymol_commands.loadcontacts(str(npz), "tii and chain A+C", "5", _self=pm)
    assert (a["group"], c["group"], ac["group"]) == ("lc_tii_A", "lc_tii_C", "lc_tii_A_C")
    _, inter = split(cmap, 5, 5)
    assert check_block(pm, "lc_tii_A_C", A, C, inter["A", "B"]) == [True] * 5
    assert ac["precision"] == 1.0


def test_loadcontacts_of_a_complex_its_chains_absent_is_one_line(pm, tmp_path, capfd):
    npz = planted("AC", numbered=True).save(tmp_path / "ac.npz")
    capfd.readouterr()
    pm.do(f"loadcontacts {npz}, tii and chain A+D")
    out = capfd.readouterr()
    [line] = error_lines(out.out + out.err)
    assert "a complex of chains A, C" in line and "tii has chains A, D" in line
    assert not pm.get_names_of_type("object:group") and "Traceback" not in out.out


def test_the_dialog_draws_a_complex(pm, tiny_model_path, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    reason = "no Qt binding (PyQt5/6, PySide2/6) in this Python"
    pytest.importorskip("pymol.Qt", reason=reason, exc_type=ImportError)
    from contactplug_pymol import dialog
    from pymol.Qt import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    window = dialog.build_dialog(pm)
    window.fields["selection"].setText("tii and chain A+C")
    window.fields["model"].setText(str(tiny_model_path))
    window.fields["top"].setCurrentText("4")
    window.fields["complex"].setChecked(True)
    window.draw_button.click()
    app.processEvents()
    assert set(pm.get_names_of_type("object:group")) == {"attn_tii_A", "attn_tii_C", "attn_tii_A_C"}
    assert len(names_in_group(pm, "attn_tii_A_C")) == 4


SCRIPT_WITHOUT_CORE = r"""
import json, sys
sys.modules["contactplug"] = None  # PyMOL's own Python without the core
sys.path.insert(0, sys.argv[1])
import pymol2, contactplug_pymol
p = pymol2.PyMOL(); p.start(); contactplug_pymol.register(p.cmd)
p.cmd.load(sys.argv[2], "tii")
got = contactplug_pymol.pymol_commands.attncontacts(
    "tii and chain A+C", "6", model=sys.argv[3], complex="1", _self=p.cmd)
print("RESULT", json.dumps([[r["group"], r["pairs"], r["baseline"]] for r in got]))
print("CORE", "contactplug.api" in sys.modules)
"""


def test_complex_without_the_core_importable(pm, tiny_model_path, tmp_path):
    env = dict(os.environ, CONTACTPLUG_EXE=str(EXE), HOME=str(tmp_path))
    args = [str(ROOT / "plugin"), str(TII), str(tiny_model_path)]
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT_WITHOUT_CORE, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [line] = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    got = json.loads(line[len("RESULT ") :])
    assert "CORE False" in proc.stdout
    inside = pymol_commands.attncontacts(
        "tii and chain A+C", "6", model=str(tiny_model_path), complex="1", _self=pm
    )
    assert [g for g, _, _ in got] == [r["group"] for r in inside]
    for (_, pairs, base), r in zip(got, inside, strict=True):
        assert [(i, j) for i, j, _ in pairs] == [(i, j) for i, j, _ in r["pairs"]]
        assert base == r["baseline"]


def chained_rr(path: Path, with_spans: bool = True, with_sequence: bool = True) -> list:
    """An RR file of a complex written by the core's writer (files.rr: residues carry chain
    letters, numbers index the chains joined, `REMARK chains A 1-186 C 187-222`): the planted
    map's best 8 pairs within each chain and between them, p falling with rank. Returns them."""
    from contactplug.files.rr import format_rr

    cmap = planted("AC", numbered=False)
    intra = cmap.pairs(6)
    ranked = [p for p in intra if p[1] < 186][:8] + [p for p in intra if p[0] >= 186][:8]
    ranked += cmap.pairs(top=8, kind="inter")
    pairs = [(i + 1, j + 1, round(0.9 - 0.05 * (k % 8), 2)) for k, (i, j, _) in enumerate(ranked)]
    text = format_rr(cmap.sequence, pairs, target="tii", chains=[("A", 186), ("C", 36)])
    if not with_spans:
        text = "".join(ln for ln in text.splitlines(True) if not ln.startswith("REMARK chains"))
    if not with_sequence:
        text = "".join(ln for ln in text.splitlines(True) if ln.strip() not in _rows(cmap))
    path.write_text(text)
    return pairs


def _rows(cmap: ContactMap) -> set[str]:
    return {cmap.sequence[k : k + 50] for k in range(0, cmap.length, 50)}


@pytest.mark.parametrize("with_sequence", [True, False])
def test_loadcontacts_draws_an_rr_file_with_chain_letters(pm, tmp_path, capfd, with_sequence):
    A, C = chains("A", "C")
    rr = tmp_path / "tii.rr"
    pairs = chained_rr(rr, with_sequence=with_sequence)
    assert re.search(r"(?m)^A\d+ +C\d+ ", rr.read_text())  # chain letters on residues
    capfd.readouterr()
    pm.do(f"loadcontacts {rr}, tii, 5")
    out = capfd.readouterr().out
    assert not error_lines(out), out
    assert set(pm.get_names_of_type("object:group")) == {"lc_tii_A", "lc_tii_C", "lc_tii_A_C"}
    # the file's own pairs, best p first (ties by position), each kind cut to 5 on its own
    ordered = sorted(pairs, key=lambda p: (-p[2], p[0], p[1]))
    inter = [(i - 1, j - 187, p) for i, j, p in ordered if i <= 186 < j][:5]
    in_a = [(i - 1, j - 1, p) for i, j, p in ordered if j <= 186][:5]
    in_c = [(i - 187, j - 187, p) for i, j, p in ordered if i > 186][:5]
    assert check_block(pm, "lc_tii_A_C", A, C, inter) == [True] * 5
    check_block(pm, "lc_tii_A", A, A, in_a)
    check_block(pm, "lc_tii_C", C, C, in_c)
    hits, measured = baseline(A, C)
    line = summary_line(out, "lc_tii_A_C")
    assert "contacts from tii.rr" in line and "inter-chain precision 1.00 (5/5)" in line
    assert f"random baseline {hits / measured:.4f}" in line


def test_rr_chain_letters_without_spans_are_one_line(pm, tmp_path, capfd):
    rr = tmp_path / "nospans.rr"
    chained_rr(rr, with_spans=False)
    capfd.readouterr()
    pm.do(f"loadcontacts {rr}, tii")
    out = capfd.readouterr()
    [line] = error_lines(out.out + out.err)
    assert "carry chain letters (A, C) but no `REMARK chains` line" in line
    assert not pm.get_names_of_type("object:group") and "Traceback" not in out.out


def test_jacobian_of_parts_of_two_chains(pm, tiny_model_path, capfd):
    """20 x sum L + 1 passes over the joined parts (each part predicted as a protein of its
    own, said per chain), the same pairs as the core's complex Jacobian."""
    A, C = chains("A", "C")
    capfd.readouterr()
    results = pymol_commands.attncontacts(
        "tii and ((chain A and resi 1-12) or (chain C and resi 195-206))",
        "4",
        "jacobian",
        str(tiny_model_path),
        complex="1",
        _self=pm,
    )
    out = capfd.readouterr().out
    assert "jacobian needs 481 forward passes" in out
    assert "tii chain A: the selection holds 12 of the chain's 186 protein residues" in out
    assert "tii chain C: the selection holds 12 of the chain's 36 protein residues" in out
    [cmap] = api.predict(
        complex_record("tii", [A.sequence[:12], C.sequence[:12]], ["A", "C"]),
        model=str(tiny_model_path),
        method="jacobian",
    )
    intra, inter = split(cmap, 4, 4)
    got = {r["group"]: [(i, j) for i, j, _ in r["pairs"]] for r in results}
    assert got == {
        "attn_tii_A": [(i, j) for i, j, _ in intra["A"]],
        "attn_tii_C": [(i, j) for i, j, _ in intra["C"]],
        "attn_tii_A_C": [(i, j) for i, j, _ in inter["A", "C"]],
    }
    assert [r["part_of_chain"] is not None for r in results] == [True, True, False]


def test_help_names_complex(pm, capfd):
    pm.do("help attncontacts")
    out = capfd.readouterr().out
    assert "complex = 0 | 1" in out and "attn_<object>_<A>_<B>" in out
    pm.do("help loadcontacts")
    assert "REMARK chains" in capfd.readouterr().out


def test_one_complex_per_object_and_name_groups(pm, tiny_model_path, tmp_path):
    """complex=1 over two objects predicts one complex each; loadcontacts name= gives a
    complex's groups that name with the chain, or chain pair, after it."""
    pm.load(str(TII), "copy")
    results = pymol_commands.attncontacts(
        "(tii or copy) and chain C+D", "3", model=str(tiny_model_path), complex="1", _self=pm
    )
    groups = [r["group"] for r in results]
    assert groups == [f"attn_{o}_{g}" for o in ("tii", "copy") for g in ("C", "D", "C_D")]
    for r in results[3:]:  # the same complex in both objects: the same pairs
        twin = results[results.index(r) - 3]
        assert [(i, j) for i, j, _ in r["pairs"]] == [(i, j) for i, j, _ in twin["pairs"]]
    npz = planted("AC", numbered=True).save(tmp_path / "ac.npz")
    named = pymol_commands.loadcontacts(str(npz), "tii", "3", name="cx", _self=pm)
    assert [r["group"] for r in named] == ["cx_A", "cx_C", "cx_A_C"]
    pm.do("attncontacts_clear copy")
    left = set(pm.get_names_of_type("object:group"))
    assert left == {"attn_tii_C", "attn_tii_D", "attn_tii_C_D", "cx_A", "cx_C", "cx_A_C"}
