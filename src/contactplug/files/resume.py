"""What a rerun into the same `-o` keeps: the outputs that are finished for the same protein,
method and settings.

Every map (and Jacobian part) a run writes carries `meta["settings"]`: what decides it beside
the sequence (the weights' fingerprint, the method, the heads, the precision, the window...,
made by the command that writes it). A rerun asks `Finished.of(folder)` which of its records
have such a file there with equal settings, skips them, and says how many it kept and how many
it recomputes because their settings differ (`--force`: none kept). Files are found by what
they hold, not by their names, so a map written as `<id>~2.npz` is found too.

Why a crash never leaves a file that looks finished: maps are written whole and renamed into
place (`files.atomic`), and the temp files of a killed run are removed by the next one
(`files.outputs.OutputFolder`, `atomic.remove_stale_temps`). The pairs store keeps its own
record (`files.pair_store.stored_proteins`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .contactmap import NPZ_ERRORS, PART_FILE
from .errors import Message, arg

log = logging.getLogger("contactplug")

Key = tuple[Hashable, ...]


def settings_key(settings: dict) -> str:
    """Settings as one comparable text (JSON, keys sorted, tuples as lists)."""
    return json.dumps(settings, sort_keys=True, default=str)


def _read(path: Path) -> tuple[Key, str | None] | None:
    """(key, settings text) of a map or part: key = (id, sequence, method) for a map, plus
    (start, end) for a part; None when the file is not one of ours (it is never counted)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            key: Key = (str(data["id"]), str(data["sequence"]), str(data["method"]))
            if "start" in data.files and PART_FILE.search(path.name):
                key += (int(data["start"]), int(data["end"]))
            meta = json.loads(str(data["meta"])) if "meta" in data.files else {}
    except (*NPZ_ERRORS, json.JSONDecodeError, TypeError):
        return None
    settings = meta.get("settings") if isinstance(meta, dict) else None
    return key, None if settings is None else settings_key(settings)


@dataclass
class Finished:
    """The finished outputs of a folder: key -> (path, settings text)."""

    found: dict[Key, tuple[Path, str | None]] = field(default_factory=dict)

    @classmethod
    def of(cls, folder: str | os.PathLike) -> Finished:
        """Every map and part in `folder` (not its subfolders), by what it holds."""
        folder = Path(folder)
        found: dict[Key, tuple[Path, str | None]] = {}
        if folder.is_dir():
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if entry.name.startswith(".") or not entry.name.endswith(".npz"):
                    continue
                read = _read(Path(entry.path))
                if read is not None:
                    found.setdefault(read[0], (Path(entry.path), read[1]))
        return cls(found)

    def split(
        self, keys: Iterable[Key], settings: dict, what: str = "maps", force: bool = False
    ) -> tuple[list[int], dict[int, Path]]:
        """(indices to compute, {index: finished file kept}) for the run's keys, in order, and
        one log line saying what was kept."""
        wanted = settings_key(settings)
        todo: list[int] = []
        kept: dict[int, Path] = {}
        stale = 0
        for n, key in enumerate(keys):
            hit = self.found.get(key)
            if hit is not None and not force and hit[1] == wanted:
                kept[n] = hit[0]
                continue
            stale += hit is not None and not force
            todo.append(n)
        say(len(kept), stale, len(todo), what, force)
        return todo, kept


def say(kept: int, stale: int, todo: int, what: str, force: bool = False) -> None:
    """The one line a resumed run prints: kept, recomputed for other settings, to do."""
    if force:
        log.info(Message(f"{arg('force')}: computing all %d %s"), todo, what)
    elif kept or stale:
        other = f", {stale} made with other settings recomputed" if stale else ""
        log.info(Message(
            "kept %d finished %s already in the output folder%s; computing %d "
            f"({arg('force')} recomputes them)"), kept, what, other, todo,
        )  # fmt: skip
