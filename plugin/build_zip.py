#!/usr/bin/env python3
"""Build dist/contactplug_pymol.zip for PyMOL's Plugin Manager ("Install from local file").

The zip holds one package, contactplug_pymol/ (PyMOL's installer wants zip/<name>/__init__.py).
Usage: python plugin/build_zip.py [-o dist/contactplug_pymol.zip]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import zipfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent / "contactplug_pymol"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "dist" / "contactplug_pymol.zip"


def build(out: str | os.PathLike = DEFAULT_OUT) -> Path:
    """Write the zip atomically (temp file in the same folder, then rename)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with (
            os.fdopen(fd, "wb") as handle,
            zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as zf,
        ):
            for path in files:
                arcname = Path(PACKAGE.name) / path.relative_to(PACKAGE)
                zf.write(path, arcname.as_posix())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", default=str(DEFAULT_OUT), help="zip to write")
    print(build(parser.parse_args().out))


if __name__ == "__main__":
    main()
