"""Installing the plugin the ways users do: PyMOL's Plugin Manager code path from the zip, and
`run .../__init__.py` in a headless PyMOL script. Each runs in a fresh Python with HOME pointed
at a temporary folder, so the user's ~/.pymol and ~/.pymolpluginsrc.py are never touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
sys.path.insert(0, str(ROOT / "plugin"))

import build_zip  # noqa: E402

# PyMOL's Qt GUI answers the installer's tkMessageBox calls through a module it injects
# (pmg_qt.mimic_tk); headless, a stand-in module of the same name records and answers yes.
INSTALL = r"""
import json, os, sys, types
answers = []
box = types.ModuleType("tkMessageBox")
def answer(kind):
    return lambda title, message, **kw: answers.append([kind, title, message]) or True
for kind in ("showinfo", "showerror", "showwarning", "askyesno", "askokcancel"):
    setattr(box, kind, answer(kind))
sys.modules["tkMessageBox"] = box

import pymol
pymol.finish_launching(["pymol", "-cq"])
from pymol import cmd, plugins
from pymol.plugins.installation import installPluginFromFile

zip_path, plugdir, data = sys.argv[1:4]
installPluginFromFile(zip_path, parent="headless", plugdir=plugdir)
installPluginFromFile(zip_path, parent="headless", plugdir=plugdir)  # reinstall: asks, then ok
info = plugins.plugins["contactplug_pymol"]
cmd.load(os.path.join(data, "1eaz.pdb"))
cmd.do("loadcontacts " + os.path.join(data, "1eaz.rr") + ", 1eaz, 12, long")
print("RESULT " + json.dumps({
    "answers": answers,
    "loaded": info.loaded,
    "module_file": sys.modules[info.mod_name].__file__,
    "commands": sorted(set(info.commands)),
    "keywords": sorted(k for k in cmd.keyword if k.startswith(("attncontacts", "loadcontacts"))),
    "groups": cmd.get_names_of_type("object:group"),
    "n_objects": len(cmd.get_names("all")),
    "rc": plugins.PYMOLPLUGINSRC,
}))
"""


def run_python(code: str, args: list[str], home: Path) -> dict:
    env = dict(os.environ, HOME=str(home))
    env.pop("APPDATA", None)
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [line] = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    return json.loads(line[len("RESULT ") :])


def test_zip_holds_one_plugin_package(tmp_path):
    path = build_zip.build(tmp_path / "contactplug_pymol.zip")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        init = zf.read("contactplug_pymol/__init__.py").decode()
    assert all(n.startswith("contactplug_pymol/") and n.endswith(".py") for n in names)
    assert "contactplug_pymol/pymol_commands.py" in names
    assert not [n for n in names if "__pycache__" in n]
    assert "def __init_plugin__(app=None)" in init
    assert init.startswith("# Version: ")  # metadata the Plugin Manager shows


def test_zip_carries_the_cores_file_readers(tmp_path):
    """The CLI-fallback plugin reads files with a copy of the core's torch-free layer."""
    path = build_zip.build(tmp_path / "contactplug_pymol.zip")
    layer = ROOT / "src" / "contactplug" / "files"
    with zipfile.ZipFile(path) as zf:
        carried = {n.rsplit("/", 1)[1]: zf.read(n) for n in zf.namelist() if "/_files/" in n}
    assert set(carried) == {p.name for p in layer.glob("*.py")}
    assert all(carried[name] == (layer / name).read_bytes() for name in carried)


def test_plugin_manager_install_from_zip(tmp_path):
    home = tmp_path / "home"
    plugdir = tmp_path / "plugins"
    home.mkdir()
    plugdir.mkdir()
    zip_path = build_zip.build(tmp_path / "dist" / "contactplug_pymol.zip")
    got = run_python(INSTALL, [str(zip_path), str(plugdir), str(DATA)], home)
    installed = 'Plugin "contactplug_pymol" has been installed.'
    assert got["answers"] == [
        ["showinfo", "Success", installed],
        ["askokcancel", "Confirm", "Plugin already installed. Reinstall?"],
        ["showinfo", "Success", installed],
    ]
    assert got["loaded"]
    assert got["module_file"] == str(plugdir / "contactplug_pymol" / "__init__.py")
    assert got["commands"] == ["attncontacts", "attncontacts_clear", "loadcontacts"]
    assert got["keywords"] == ["attncontacts", "attncontacts_clear", "loadcontacts"]
    assert got["groups"] == ["lc_1eaz"] and got["n_objects"] == 1 + 1 + 12
    assert got["rc"].startswith(str(home))  # the installer's settings file stays in the tmp HOME
    assert (plugdir / "contactplug_pymol" / "draw.py").is_file()


def test_run_init_in_a_headless_pymol_script(tmp_path):
    script = tmp_path / "draw.pml"
    script.write_text(
        f"run {ROOT / 'plugin' / 'contactplug_pymol' / '__init__.py'}\n"
        f"load {DATA / '1eaz.pdb'}\n"
        f"loadcontacts {DATA / '1eaz.rr'}, top=5, color_by=score\n"
        "python\n"
        "print('GROUPS', cmd.get_names_of_type('object:group'), len(cmd.get_names('all')))\n"
        "python end\n"
    )
    env = dict(os.environ, HOME=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "pymol", "-cq", str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "GROUPS ['lc_1eaz'] 7" in proc.stdout, proc.stdout + proc.stderr
    assert "5 drawn as lc_1eaz" in proc.stdout
