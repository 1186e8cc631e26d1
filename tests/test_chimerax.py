"""`export --format chimerax`: the .pb pseudobond file read by a reader written from ChimeraX's
documentation of the format, every atom it names found in the structure, colours by truth
checked against distances measured here with gemmi, and the .cxc script's paths resolved the
way ChimeraX resolves them (from the script's own folder). Single chains and complexes."""

from __future__ import annotations

import os
import re
from pathlib import Path

import gemmi
import numpy as np
import pymol
import pytest

from contactplug.cli import main
from contactplug.files.contactmap import ContactMap, load
from contactplug.files.errors import ContactplugError
from contactplug.inputs.structure import read_chain
from contactplug.restraints import chimerax
from contactplug.restraints.calibration import Calibration
from contactplug.restraints.pairs import Options, render

DATA = Path(__file__).parent / "data"
TII = Path(pymol.__file__).parent / "pymol_path/data/demo/1tii.pdb"
if not TII.is_file():
    TII = Path(pymol.__file__).parent / "data/demo/1tii.pdb"
CALIB = Calibration(
    coef={n: [0.0, -1.0, 0.0] for n in ("local", "short", "medium", "long")},
    knots={n: [[-5.0, 0.01], [0.0, 0.3], [4.0, 0.9]] for n in ("local", "short", "medium", "long")},
    method="attention",
)


# ---------------------------------------------------------------- the documented format
# ChimeraX User Guide, Pseudobonds, "Pseudobond Files": a plain-text .pb lists pairs of atoms
# to connect. Columns are separated by spaces and cannot contain them; the first two columns
# (required) are atom specifiers, the third (optional) a colour. Blank lines and comment lines
# starting with ';' may appear; special comment lines `; radius = 0.1`, `; dashes = 12`,
# `; color = magenta`, `; halfbond = true` apply to the pseudobonds on subsequent lines.
SETTING = re.compile(r"^;\s*(radius|dashes|color|halfbond)\s*=\s*(\S+)\s*$")
ATOMSPEC = re.compile(r"^(?:#(\d+(?:\.\d+)*))?/([A-Za-z0-9]+):(-?\d+[A-Za-z]?)@([A-Za-z0-9']+)$")
COLOR = re.compile(r"^(#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3}|[a-z]+)$")


def read_pb(text: str) -> list[dict]:
    """Pseudobonds as ChimeraX's documentation describes the file; anything else fails."""
    state = {"radius": None, "dashes": None, "color": None, "halfbond": None}
    bonds = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith(";"):
            m = SETTING.match(line)
            if m:
                key, value = m.groups()
                state[key] = float(value) if key in ("radius", "dashes") else value
            continue
        cols = line.split()
        assert len(cols) in (2, 3), f"line {n}: {line!r}"
        ends = []
        for spec in cols[:2]:
            m = ATOMSPEC.match(spec)
            assert m, f"line {n}: {spec!r} is not an atom specifier naming one atom"
            ends.append((m.group(2), m.group(3), m.group(4)))
        color = cols[2] if len(cols) == 3 else state["color"]
        assert color is None or COLOR.match(color), f"line {n}: colour {color!r}"
        bonds.append({"a": ends[0], "b": ends[1], "color": color, **{
            k: state[k] for k in ("radius", "dashes", "halfbond")}})  # fmt: skip
    return bonds


def structure_atoms(path: Path) -> dict[tuple[str, str, str], np.ndarray]:
    """(chain, residue label, atom name) -> position, read with gemmi (virtual CB for Gly
    computed from N, CA, C, as contactplug's truth uses)."""
    st = gemmi.read_structure(str(path))
    out = {}
    for ch in st[0]:
        for res in ch:
            label = f"{res.seqid.num}{res.seqid.icode.strip()}"
            for atom in res:
                out[(ch.name, label, atom.name)] = np.array(atom.pos.tolist())
            names = {a.name for a in res}
            if res.name == "GLY" and {"N", "CA", "C"} <= names:
                n, ca, c = (np.array(res[a][0].pos.tolist()) for a in ("N", "CA", "C"))
                b, cc = ca - n, c - ca
                a = np.cross(b, cc)
                virtual = -0.58273431 * a + 0.56802827 * b - 0.54067466 * cc + ca
                out[(ch.name, label, "virtual CB")] = virtual
    return out


def anchor(atoms, chain: str, label: str, name: str) -> np.ndarray:
    return atoms[(chain, label, "virtual CB" if name == "CA" else name)]


def complex_map(names=("A", "C")) -> ContactMap:
    chains = [read_chain(TII, n) for n in names]
    seq = "".join(c.sequence for c in chains)
    rng = np.random.default_rng(3)
    s = rng.normal(size=(len(seq), len(seq)))
    cb = np.concatenate([c.cb for c in chains])
    d = np.linalg.norm(cb[:, None] - cb[None], axis=-1)
    s = s + s.T + 5.0 * np.nan_to_num(d < 8.0)
    np.fill_diagonal(s, 0)
    return ContactMap(s, seq, "1tii_" + "_".join(names), "attention", "esm2_t6_8M_UR50D",
                      resnum=np.concatenate([c.resnum for c in chains]),
                      icode=np.concatenate([c.icode for c in chains]), chain_ids=list(names),
                      chain_lengths=[len(c.sequence) for c in chains])  # fmt: skip


def single_map() -> ContactMap:
    ch = read_chain(DATA / "1TEN_A.pdb")
    rng = np.random.default_rng(4)
    s = rng.normal(size=(len(ch.sequence),) * 2)
    return ContactMap(s + s.T, ch.sequence, "1TEN_A", "attention", "esm2_t6_8M_UR50D",
                      chain="A", resnum=ch.resnum, icode=ch.icode)  # fmt: skip


def pb(cmap, calibration=None, **kw) -> tuple[str, int]:
    text, n, _ = render(cmap, Options(format="chimerax", **kw), calibration)
    return text, n


# ---------------------------------------------------------------- tests
def test_complex_pseudobonds_join_the_right_atoms_coloured_by_truth():
    m = complex_map()
    text, n = pb(m, pairs="all", top="20", structure=str(TII))
    bonds = read_pb(text)
    assert len(bonds) == n == 40
    atoms = structure_atoms(TII)
    want = m.pairs(top=20) + m.pairs(top=20, kind="inter")
    for bond, (i, j, _) in zip(bonds, want, strict=True):
        for end, k in ((bond["a"], i), (bond["b"], j)):
            chain, label, name = end
            assert (chain, label) == (m.chain_of(k), m.label(k))  # author numbering
            assert name == ("CA" if m.sequence[k] == "G" else "CB")
            assert (chain, label, name) in atoms  # ChimeraX would find this atom
        d = np.linalg.norm(anchor(atoms, *bond["a"]) - anchor(atoms, *bond["b"]))
        assert bond["color"] == (chimerax.TRUE if d < 8.0 else chimerax.FALSE)
        assert bond["dashes"] == chimerax.DASHES
        inter = bond["a"][0] != bond["b"][0]
        assert bond["radius"] == chimerax.RADIUS["inter" if inter else "intra"]
    assert sum(b["a"][0] != b["b"][0] for b in bonds) == 20
    assert {b["color"] for b in bonds} == {chimerax.TRUE, chimerax.FALSE}


def test_single_chain_by_probability_and_plain():
    m = single_map()
    text, n = pb(m, CALIB, top="10")
    bonds = read_pb(text)
    assert len(bonds) == n == 10 and all(b["a"][0] == b["b"][0] == "A" for b in bonds)
    labels = {m.label(k) for k in range(m.length)}
    assert all(b["a"][1] in labels and b["b"][1] in labels for b in bonds)
    assert int(bonds[0]["a"][1]) >= 802  # 1TEN is numbered from 802: the file's numbers
    P = CALIB.probabilities(m)
    for b, (i, j, _) in zip(bonds, m.pairs(top=10), strict=True):
        assert b["color"] == chimerax._ramp(P[i, j])
    plain = read_pb(pb(m, top="10")[0])
    assert {b["color"] for b in plain} == {chimerax.PLAIN}
    assert "no structure to judge by and no calibration" in pb(m, top="10")[0]
    idx = read_pb(pb(m, top="3", numbering="index")[0])
    assert all(int(b["a"][1]) <= m.length for b in idx)
    with pytest.raises(ContactplugError, match="needs --structure"):
        pb(m, top="3", color="truth")


def test_cli_writes_pb_and_cxc_that_opens_both(tmp_path):
    m = complex_map()
    m.save(tmp_path / "cx.npz")
    out = tmp_path / "view" / "cx.pb"
    out.parent.mkdir()
    rc = main(["-q", "export", str(tmp_path / "cx.npz"), "-f", "chimerax", "-o", str(out),
               "--pairs", "inter", "--top", "8", "--structure", str(TII)])  # fmt: skip
    assert rc == 0
    bonds = read_pb(out.read_text())
    assert len(bonds) == 8
    script = (tmp_path / "view" / "cx.cxc").read_text().splitlines()
    opens = [ln.split(maxsplit=1)[1] for ln in script if ln.startswith("open ")]
    # ChimeraX runs a .cxc from its own folder: relative paths resolve from there
    resolved = [os.path.normpath(out.parent / p) for p in opens]
    assert resolved == [os.path.normpath(TII), os.path.normpath(out)]
    shown = next(ln for ln in script if ln.startswith("show "))
    for b in bonds:
        for chain, label, name in (b["a"], b["b"]):
            assert re.search(rf"/{chain}:(?:[^@ ]*,)?{label}(?:,[^@ ]*)?@{name}\b", shown)
    assert "cartoon suppress false" in script


def test_cli_folder_writes_one_pair_of_files_per_map(tmp_path):
    (tmp_path / "in").mkdir()
    complex_map().save(tmp_path / "in" / "cx.npz")
    single_map().save(tmp_path / "in" / "one.npz")
    out = tmp_path / "out"
    rc = main(["-q", "export", str(tmp_path / "in"), "-f", "chimerax", "-o", str(out),
               "--top", "5"])  # fmt: skip
    assert rc == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["1TEN_A.cxc", "1TEN_A.pb", "1tii_A_C.cxc", "1tii_A_C.pb"]
    for stem in ("1TEN_A", "1tii_A_C"):
        assert read_pb((out / f"{stem}.pb").read_text())
        script = (out / f"{stem}.cxc").read_text()
        assert f"open {stem}.pb" in script and "open your structure first" in script
    assert load(tmp_path / "in" / "cx.npz").is_complex
