"""Contact files read with numpy alone: this project's npz and CASP RR.

PyMOL builds without torch (Incentive PyMOL, conda PyMOL) cannot import the contactplug core,
so the plugin reads the npz schema itself. The RR reader prefers the core's when importable.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np
from pymol import CmdException

RANGES = {"short": (6, 11), "medium": (12, 23), "long": (24, None)}


@dataclass
class Prediction:
    """Candidate pairs (0-based i < j, score), best first, with what is known about them."""

    i: np.ndarray
    j: np.ndarray
    score: np.ndarray
    length: int
    sequence: str | None = None
    id: str = ""
    method: str = ""
    model: str = ""
    seconds: float = 0.0
    chain: str | None = None
    resnum: np.ndarray | None = None
    icode: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def pairs(
        self, min_sep: int = 6, max_sep: int | None = None, top: int | None = None
    ) -> list[tuple[int, int, float]]:
        sep = self.j - self.i
        keep = sep >= min_sep
        if max_sep is not None:
            keep &= sep <= max_sep
        idx = np.flatnonzero(keep)
        if top is not None:
            idx = idx[:top]
        return [(int(self.i[k]), int(self.j[k]), float(self.score[k])) for k in idx]


def sorted_pairs(i: np.ndarray, j: np.ndarray, score: np.ndarray):
    """Best first; ties broken by (i, j), as ContactMap.pairs does."""
    order = np.lexsort((j, i, -score))
    return i[order], j[order], score[order]


def from_matrix(contacts: np.ndarray, **meta) -> Prediction:
    c = np.asarray(contacts, dtype=np.float32)
    i, j = np.triu_indices(c.shape[0], k=1)
    i, j, s = sorted_pairs(i, j, c[i, j])
    return Prediction(i=i, j=j, score=s, length=c.shape[0], **meta)


def read_npz(path: str | os.PathLike) -> Prediction:
    """One contactplug npz (see contactplug.files.contactmap for the schema)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            get = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise CmdException(f"{path}: cannot read npz ({exc})") from None
    missing = {"contacts", "sequence"} - set(get)
    if missing:
        raise CmdException(f"{path}: not a contactplug map (missing {', '.join(sorted(missing))})")
    contacts, sequence = get["contacts"], str(get["sequence"])
    if contacts.ndim != 2 or contacts.shape != (len(sequence), len(sequence)):
        raise CmdException(f"{path}: contacts shape {contacts.shape} does not fit the sequence")
    return from_matrix(
        contacts,
        sequence=sequence,
        id=str(get.get("id", "")),
        method=str(get.get("method", "")),
        model=str(get.get("model", "")),
        seconds=float(get.get("seconds", 0.0)),
        chain=str(get["chain"]) if "chain" in get else None,
        resnum=get.get("resnum"),
        icode=np.asarray(get["icode"], dtype=str) if "icode" in get else None,
        meta=json.loads(str(get["meta"])) if "meta" in get else {},
    )


def _parse_rr_minimal(path: str) -> tuple[str | None, list[tuple[int, int, float]]]:
    """RR without the core: header words skipped, sequence lines, `i j [d1 d2] p`, first MODEL."""
    seq, pairs, models = [], [], 0
    with open(path) as handle:
        for lineno, line in enumerate(handle, 1):
            fields = line.split()
            if not fields:
                continue
            word = fields[0].upper()
            if word == "END" and (pairs or seq):
                break
            if word == "MODEL":
                models += 1
                if models > 1:
                    break
                continue
            if word.isalpha() and len(fields) == 1 and not pairs:
                seq.append(word)
                continue
            if word.isalpha():
                continue  # PFRMAT, TARGET, AUTHOR, METHOD, REMARK ...
            if len(fields) not in (3, 5):
                raise CmdException(f"{path}: line {lineno}: expected 'i j d1 d2 p' or 'i j p'")
            try:
                a, b, p = int(fields[0]), int(fields[1]), float(fields[-1])
            except ValueError:
                raise CmdException(f"{path}: line {lineno}: not a contact line") from None
            if a == b or min(a, b) < 1:
                raise CmdException(f"{path}: line {lineno}: bad residue pair {a} {b}")
            pairs.append((min(a, b), max(a, b), p))
    return ("".join(seq) or None), pairs


def read_rr(path: str | os.PathLike) -> Prediction:
    """A CASP RR file (1-based pairs) as 0-based candidate pairs."""
    try:
        from contactplug.files.errors import ContactplugError
        from contactplug.files.rr import read_rr as core_read_rr
    except ImportError:
        sequence, pairs = _parse_rr_minimal(str(path))
    else:
        try:
            sequence, pairs = core_read_rr(path)
        except ContactplugError as exc:
            raise CmdException(str(exc)) from None
    if not pairs:
        raise CmdException(f"{path}: no contacts in this RR file")
    seen: dict[tuple[int, int], float] = {}
    for a, b, p in pairs:
        seen.setdefault((a - 1, b - 1), p)  # first of repeated pairs wins
    ij = np.array(list(seen), dtype=np.int64)
    s = np.array(list(seen.values()), dtype=np.float64)
    i, j, s = sorted_pairs(ij[:, 0], ij[:, 1], s)
    length = len(sequence) if sequence else int(j.max()) + 1
    stem = os.path.splitext(os.path.basename(str(path)))[0]
    return Prediction(i=i, j=j, score=s, length=length, sequence=sequence, id=stem, method="rr")


def read_contacts(path: str | os.PathLike) -> Prediction:
    path = os.path.expanduser(str(path))
    if not os.path.isfile(path):
        raise CmdException(f"{path}: no such file")
    if path.lower().endswith(".npz"):
        return read_npz(path)
    return read_rr(path)


def parse_top(top, length: int) -> int:
    """A count, or L, L/2, L/5 (any L/k) for the chain length L."""
    text = str(top).strip().upper().replace(" ", "")
    if text == "L":
        return length
    if text.startswith("L/"):
        try:
            k = float(text[2:])
        except ValueError:
            k = 0
        if k > 0:
            return max(1, int(length // k))
    elif text.isdigit() and int(text) > 0:
        return int(text)
    raise CmdException(f"top={top!r}: give a count or L, L/2, L/5")


def parse_min_sep(min_sep) -> tuple[int, int | None]:
    """A minimum separation, a range A-B, or a range word: short, medium, long."""
    text = str(min_sep).strip().lower()
    if text in RANGES:
        return RANGES[text]
    lo, _, hi = text.partition("-")
    if lo.isdigit() and (not hi or hi.isdigit()):
        return int(lo), (int(hi) if hi else None)
    raise CmdException(f"min_sep={min_sep!r}: give a number, A-B, or short / medium / long")
