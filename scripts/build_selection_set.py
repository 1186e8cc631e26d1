#!/usr/bin/env python3
"""Rebuild src/contactplug/data/selection_set.npz from single-chain PDB files.

python scripts/build_selection_set.py ../shared/structures/pfam40/*.pdb
"""

import sys
from pathlib import Path

from contactplug.readout.selection_set import build, default_path

if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    n = build(sys.argv[1:], default_path())
    print(f"wrote {n} proteins to {default_path()} ({Path(default_path()).stat().st_size} bytes)")
