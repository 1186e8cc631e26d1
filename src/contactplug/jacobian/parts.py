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

from contactplug.files.contactmap import (
    NPZ_ERRORS,
    PART_FILE,
    ContactMap,
    check_id,
    check_map_sequence,
    read_npz,
    read_npz_member,
    write_npz_in,
)
from contactplug.files.errors import ContactplugError, arg
from contactplug.files.methods import jacobian_method
from contactplug.files.outputs import OutputFolder
from contactplug.files.sequences import Record, check_length
from contactplug.jacobian.categorical import map_from_rows, rows
from contactplug.models import joining
from contactplug.models.base import Model

PART_NAME = PART_FILE  # <name>.part<first>-<last>.npz, matched exactly (files.contactmap)
PART_KEYS = ("rows", "start", "end", "sequence", "id", "method", "model", "fingerprint")


def parse_positions(text: str, length: int) -> tuple[int, int]:
    """'START-END' (1-based, inclusive) -> 0-based half-open (start, end)."""
    match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", text)
    if not match:
        raise ContactplugError(f"{arg('positions')} wants START-END (1-based), not {text!r}")
    first, last = int(match.group(1)), int(match.group(2))
    if not 1 <= first <= last:
        raise ContactplugError(f"{arg('positions', value=text)}: START must be >= 1 and <= END")
    if first > length:
        raise ContactplugError(
            f"{arg('positions', value=text)}: the sequence has only {length} residues"
        )
    return first - 1, min(last, length)


def compute_part(
    model: Model,
    record: Record,
    start: int,
    end: int,
    out_dir: str | os.PathLike | OutputFolder,
    representation: bool = False,
    fast: bool = False,
    batch_size: int = 20,
    progress: bool = True,
    extra: dict | None = None,
    linker: str | None = None,
) -> Path:
    """Rows start..end-1 of one protein's Jacobian as a part file (a complex's positions run
    over its joined chains; its chains and linker are recorded for the gather)."""
    extra = dict(extra or {})
    if record.is_complex:
        joining.check_fits(model, record, linker)
        extra["linker"] = joining.check_linker(linker or model.default_linker)
    else:
        check_length(record, model.max_length)
    begin = time.perf_counter()
    item = record if record.is_complex else record.sequence
    jac, n_forward = rows(
        model, item, start, end, representation, fast, batch_size, progress, linker=linker
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
    }
    meta = {"batch_size": batch_size, "device": str(model.device), **extra.pop("meta", {})}
    arrays["meta"] = np.array(json.dumps(meta))
    for key, value in extra.items():
        if value is not None:
            arrays[key] = np.asarray(value)
    folder = out_dir if isinstance(out_dir, OutputFolder) else OutputFolder(out_dir)
    key = (record.id, record.sequence, arrays["method"].item(), start, end)
    return write_npz_in(folder, record.id, f".part{start + 1}-{end}.npz", arrays, key)


def _int(data: dict, key: str, path) -> int:
    value = data[key]
    if value.shape != () or value.dtype.kind not in "iu":
        raise ContactplugError(f"{path}: {key} is not an integer")
    return int(value)


def read_part(path: str | os.PathLike) -> dict:
    """A part's fields (not its rows, which stay on disk until gathered), checked: a truncated,
    damaged or foreign file is one line here."""
    data = read_npz(path, skip=("rows",), what="Jacobian part")
    shape = _rows_shape(path)
    missing = [k for k in PART_KEYS if k != "rows" and k not in data] + (
        ["rows"] if shape is None else []
    )
    if missing:
        raise ContactplugError(f"{path}: not a Jacobian part (no {', '.join(missing)})")
    for key in ("sequence", "id", "method", "model", "fingerprint"):
        if data[key].shape != () or data[key].dtype.kind != "U":
            raise ContactplugError(f"{path}: {key} is not text")
    check_id(str(data["id"]), str(path))
    length = len(check_map_sequence(str(data["sequence"]), str(path)))
    start, end = _int(data, "start", path), _int(data, "end", path)
    if not 0 <= start < end <= length:
        raise ContactplugError(f"{path}: positions {start + 1}-{end} are not within 1-{length}")
    if len(shape) != 4 or shape[0] != end - start or shape[2] != length:
        raise ContactplugError(
            f"{path}: rows of shape {shape} do not fit positions {start + 1}-{end} of {length}"
        )
    _int(data, "n_forward", path)
    try:
        data["_meta"] = json.loads(str(data.get("meta", "{}")))
        float(data.get("seconds", 0.0))
    except (ValueError, TypeError):
        raise ContactplugError(f"{path}: meta or seconds is damaged") from None
    if not isinstance(data["_meta"], dict):
        raise ContactplugError(f"{path}: meta is not a JSON object")
    data["_shape"] = shape
    return data


def _rows_shape(path) -> tuple[int, ...] | None:
    """The shape of the rows array from its .npy header, without decompressing the rows."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive, archive.open("rows.npy") as handle:
            fmt = np.lib.format
            major, _ = fmt.read_magic(handle)
            header = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
            shape, _, _ = header(handle)
            return tuple(shape)
    except KeyError:
        return None
    except (*NPZ_ERRORS, AttributeError) as exc:  # a damaged header, as any unreadable part
        raise ContactplugError(f"{path}: damaged Jacobian part ({exc})") from None


def group_parts(paths: list[str | os.PathLike]) -> dict[str, list[str | os.PathLike]]:
    """Parts by protein id, every one read and checked first (nothing is written on a bad one)."""
    groups: dict[str, list] = {}
    for path in paths:
        groups.setdefault(str(read_part(path)["id"]), []).append(path)
    return groups


def gather(parts: list[str | os.PathLike]) -> ContactMap:
    """Assemble one protein's parts into its ContactMap; refuses gaps, overlaps and mixtures."""
    if not parts:
        raise ContactplugError("gather-jacobian needs at least one part file")
    loaded = [(Path(path), read_part(path)) for path in parts]
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

    shapes = {d["_shape"][1:] for _, d in loaded}
    if len(shapes) > 1:
        raise ContactplugError(f"parts disagree on the shape of their rows: {sorted(shapes)}")

    def stream():
        for path, data in loaded:
            block = read_npz_member(path, "rows", "Jacobian part")  # a bad CRC shows here
            if block.shape != data["_shape"]:
                raise ContactplugError(f"{path}: rows are damaged (shape {block.shape})")
            for n, row in enumerate(block):
                yield int(data["start"]) + n, row

    extra = {}
    if "resnum" in first:
        extra = {"resnum": first["resnum"], "icode": first["icode"]}
    if "chain" in first:
        extra["chain"] = str(first["chain"])
    lengths = None
    if "chain_lengths" in first:  # a complex: its chains, its linker, its per-block APC
        lengths = [int(n) for n in first["chain_lengths"]]
        extra.update(chain_ids=[str(c) for c in first["chain_ids"]], chain_lengths=lengths)
        extra["linker"] = str(first["linker"]) if "linker" in first else None
    return ContactMap(
        contacts=map_from_rows(stream(), length, chain_lengths=lengths),
        sequence=str(first["sequence"]),
        id=str(first["id"]),
        method=str(first["method"]),
        model=str(first["model"]),
        n_forward=int(sum(int(d["n_forward"]) for _, d in loaded)),
        seconds=float(sum(float(d["seconds"]) for _, d in loaded)),
        meta={
            "parts": len(loaded),
            "fingerprint": str(first["fingerprint"]),
            **first["_meta"],
        },
        **extra,
    )
