"""Scatter and gather of the Categorical Jacobian by chunks of positions.

A part holds the raw rows J[start:end] (the map needs whole rows and columns of the tensor,
so the rows themselves are the sufficient statistics) plus the schema's metadata. Gathering
checks that the parts come from one sequence, model and variant and tile 1..L exactly, then
feeds their rows in order through the same fold as the unsplit run (`map_from_rows`), one
part in memory at a time: the gathered map is the unsplit one, bit for bit.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import numpy as np

from contactplug.files.contactmap import ContactMap, atomic_write_npz
from contactplug.files.errors import ContactplugError
from contactplug.files.methods import jacobian_method
from contactplug.files.sequences import Record, check_length
from contactplug.jacobian.categorical import map_from_rows, rows
from contactplug.models.base import Model

PART_NAME = re.compile(r"\.part(\d+)-(\d+)\.npz$")


def parse_positions(text: str, length: int) -> tuple[int, int]:
    """'START-END' (1-based, inclusive) -> 0-based half-open (start, end)."""
    match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", text)
    if not match:
        raise ContactplugError(f"--positions wants START-END (1-based), not {text!r}")
    first, last = int(match.group(1)), int(match.group(2))
    if not 1 <= first <= last:
        raise ContactplugError(f"--positions {text}: START must be >= 1 and <= END")
    if first > length:
        raise ContactplugError(f"--positions {text}: the sequence has only {length} residues")
    return first - 1, min(last, length)


def compute_part(
    model: Model,
    record: Record,
    start: int,
    end: int,
    out_dir: str | os.PathLike,
    representation: bool = False,
    fast: bool = False,
    batch_size: int = 20,
    progress: bool = True,
    extra: dict | None = None,
) -> Path:
    check_length(record, model.max_length)
    begin = time.perf_counter()
    jac, n_forward = rows(
        model, record.sequence, start, end, representation, fast, batch_size, progress
    )
    arrays = {
        "rows": jac,
        "start": np.array(start),
        "end": np.array(end),
        "sequence": np.array(record.sequence),
        "id": np.array(record.id),
        "method": np.array(jacobian_method(representation, fast)),
        "model": np.array(model.name),
        "fingerprint": np.array(model.fingerprint),
        "n_forward": np.array(n_forward),
        "seconds": np.array(time.perf_counter() - begin),
        "meta": np.array(json.dumps({"batch_size": batch_size, "device": str(model.device)})),
    }
    for key, value in (extra or {}).items():
        if value is not None:
            arrays[key] = np.asarray(value)
    path = Path(out_dir) / f"{record.id}.part{start + 1}-{end}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_npz(path, arrays)
    return path


def gather(parts: list[str | os.PathLike]) -> ContactMap:
    """Assemble one protein's parts into its ContactMap; refuses gaps, overlaps and mixtures."""
    if not parts:
        raise ContactplugError("gather-jacobian needs at least one part file")
    loaded = []
    for path in parts:
        try:
            with np.load(path, allow_pickle=False) as data:
                if "rows" not in data.files:
                    raise ContactplugError(f"{path}: not a Jacobian part (no 'rows')")
                loaded.append((Path(path), {k: data[k] for k in data.files if k != "rows"}))
        except (OSError, ValueError, EOFError) as exc:
            raise ContactplugError(f"{path}: cannot read Jacobian part ({exc})") from None
    first = loaded[0][1]
    for key in ("sequence", "method", "fingerprint", "id"):
        values = {str(d[key]) for _, d in loaded}
        if len(values) > 1:
            raise ContactplugError(f"parts disagree on {key}: {', '.join(sorted(values))}")
    loaded.sort(key=lambda item: int(item[1]["start"]))
    length = len(str(first["sequence"]))
    expected = 0
    for path, data in loaded:
        start, end = int(data["start"]), int(data["end"])
        if start != expected:
            kind = "gap" if start > expected else "overlap"
            raise ContactplugError(f"{path.name}: {kind} at position {min(start, expected) + 1}")
        expected = end
    if expected != length:
        raise ContactplugError(f"parts cover positions 1-{expected} of {length}: some are missing")

    def stream():
        for path, data in loaded:
            with np.load(path, allow_pickle=False) as part:
                block = part["rows"]
            for n, row in enumerate(block):
                yield int(data["start"]) + n, row

    extra = {}
    if "resnum" in first:
        extra = {"chain": str(first["chain"]), "resnum": first["resnum"], "icode": first["icode"]}
    return ContactMap(
        contacts=map_from_rows(stream(), length),
        sequence=str(first["sequence"]),
        id=str(first["id"]),
        method=str(first["method"]),
        model=str(first["model"]),
        n_forward=int(sum(int(d["n_forward"]) for _, d in loaded)),
        seconds=float(sum(float(d["seconds"]) for _, d in loaded)),
        meta={
            "parts": len(loaded),
            "fingerprint": str(first["fingerprint"]),
            **json.loads(str(first["meta"])),
        },
        **extra,
    )
