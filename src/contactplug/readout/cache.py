"""Where what is made once per weights is kept: head rankings, and the calibrations fitted with
them, by weights fingerprint; shipped with the package for the weights we know, else in the
user's cache once computed. Without torch, so `export` finds a map's calibration in a process
that never loads a model.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def cache_dir() -> Path:
    """contactplug's own cache ($CONTACTPLUG_CACHE, else ~/.cache/contactplug)."""
    root = os.environ.get("CONTACTPLUG_CACHE") or Path.home() / ".cache" / "contactplug"
    return Path(root)


def shipped_path(fingerprint: str, suffix: str = ".json") -> Path:
    root = Path(str(resources.files("contactplug") / "data" / "rankings"))
    return root / f"{fingerprint}{suffix}"


def cached_path(fingerprint: str, suffix: str = ".json") -> Path:
    return cache_dir() / "rankings" / f"{fingerprint}{suffix}"


def stored_path(fingerprint: str, suffix: str = ".json") -> Path | None:
    """The shipped file for these weights, else the cached one, else None."""
    for path in (shipped_path(fingerprint, suffix), cached_path(fingerprint, suffix)):
        if path.exists():
            return path
    return None
