#!/usr/bin/env python3
"""Build dist/contactplug_pymol.zip for PyMOL's Plugin Manager ("Install from local file").

The zip holds one package, contactplug_pymol/ (PyMOL's installer wants zip/<name>/__init__.py),
with a copy of the core's torch-free layer (src/contactplug/files) as contactplug_pymol/_files,
so a PyMOL without the core reads contact files with the same code as the core.
Usage: python plugin/build_zip.py [-o dist/contactplug_pymol.zip]
"""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "plugin" / "contactplug_pymol"
FILES_LAYER = ROOT / "src" / "contactplug" / "files"
DEFAULT_OUT = ROOT / "dist" / "contactplug_pymol.zip"

sys.path.insert(0, str(ROOT / "src"))
from contactplug.files.atomic import atomic_path  # noqa: E402


def members() -> list[tuple[Path, str]]:
    """(file, name in the zip): the plugin's modules, then the torch-free layer as _files/."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if "__pycache__" in rel.parts or rel.parts[0] == "_files":
            continue
        out.append((path, (Path(PACKAGE.name) / rel).as_posix()))
    for path in sorted(FILES_LAYER.glob("*.py")):
        out.append((path, f"{PACKAGE.name}/_files/{path.name}"))
    return out


def build(out: str | os.PathLike = DEFAULT_OUT) -> Path:
    """Write the zip atomically (temp file in the same folder, then rename)."""
    out = Path(out)
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, arcname in members():
            zf.write(path, arcname)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", default=str(DEFAULT_OUT), help="zip to write")
    print(build(parser.parse_args().out))


if __name__ == "__main__":
    main()
