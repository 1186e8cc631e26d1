"""Contact files for the plugin, read by the core's torch-free layer (`contactplug.files`).

PyMOL builds without torch (Incentive PyMOL, conda PyMOL) may not import the contactplug core;
then the copy of that layer carried with the plugin is used: `_files` is a link to
src/contactplug/files in the repository, and a copy of it in the Plugin Manager zip
(plugin/build_zip.py). Either way the plugin has no reader, and no map type, of its own: npz
and RR files alike become the core's ContactMap, ranked by its `pairs`.
"""

from __future__ import annotations

import os

import numpy as np
from pymol import CmdException

try:
    from contactplug.files import contactmap, pair_store, rr, specs
    from contactplug.files.contactmap import ContactMap
    from contactplug.files.errors import ContactplugError
except ImportError:  # PyMOL's Python without the core: the copy carried with the plugin
    from ._files import contactmap, pair_store, rr, specs
    from ._files.contactmap import ContactMap
    from ._files.errors import ContactplugError

from .messages import pymol_words

# meta of a map read from an RR file: the file lists some pairs only, so every other pair gets
# a score below all listed ones ("floor", never drawn), and `sequence` says whether the file
# had one (without it the map's sequence is X's, and positions are matched by count alone)
RR_META = "rr_file"


def _error(exc: ContactplugError) -> CmdException:
    return CmdException(pymol_words(exc))


def read_npz(path: str | os.PathLike) -> ContactMap:
    """One contactplug npz, read and checked by the core's reader (`files.contactmap.load`)."""
    try:
        return contactmap.load(path)
    except ContactplugError as exc:
        raise _error(exc) from None


def read_rr(path: str | os.PathLike) -> ContactMap:
    """A CASP RR file (1-based pairs, read by `files.rr`) as a ContactMap of its listed pairs;
    residues with chain letters and a `REMARK chains` line of spans make a complex's map."""
    try:
        found = rr.read_rr_chains(path)
    except ContactplugError as exc:
        raise _error(exc) from None
    if not found.pairs:
        raise CmdException(f"{path}: no contacts in this RR file")
    chain_ids, chain_lengths, chain = _rr_chains(found, path)
    length = sum(chain_lengths) if chain_lengths else None
    length = length or (len(found.sequence) if found.sequence else None)
    farthest = max(j for _, j, _ in found.pairs)
    if length is not None and farthest > length:
        raise CmdException(f"{path}: residue {farthest} lies beyond the chains' {length} residues")
    length = length or farthest
    scores = np.array([p for _, _, p in found.pairs], dtype=np.float32)
    if not np.isfinite(scores).all():
        raise CmdException(f"{path}: an RR score is NaN or infinite")
    low = float(scores.min())
    floor = float(np.float32(low - max(1.0, abs(low))))
    contacts = np.full((length, length), floor, dtype=np.float32)
    for (i, j, _), s in zip(found.pairs, scores, strict=True):  # the reader kept the first
        contacts[i - 1, j - 1] = contacts[j - 1, i - 1] = s
    np.fill_diagonal(contacts, floor)
    stem = os.path.splitext(os.path.basename(str(path)))[0] or "rr"
    meta = {RR_META: {"floor": floor, "sequence": bool(found.sequence)}}
    try:
        return ContactMap(
            contacts, found.sequence or "X" * length, stem, "rr", "rr file", chain=chain,
            meta=meta, chain_ids=chain_ids, chain_lengths=chain_lengths,
        )  # fmt: skip
    except ContactplugError as exc:
        raise CmdException(f"{path}: {pymol_words(exc)}") from None


def read_store(path: str, wanted: str = "") -> ContactMap:
    """One protein of a pairs store (`predict --store pairs`): FILE#ID, or FILE alone when the
    store holds one protein. Its unkept pairs sit below a floor, never drawn, as an RR file's."""
    try:
        ids = pair_store.stored_proteins(path)
        if not wanted and len(ids) != 1:
            first = f" (the first: {path}#{next(iter(ids))})" if ids else ""
            raise CmdException(f"{path} holds {len(ids)} proteins: name one as FILE#ID{first}")
        wanted = wanted or next(iter(ids))
        if wanted not in ids:
            raise CmdException(f"{path}: no protein {wanted!r} among its {len(ids)}")
        protein = next(pair_store.iter_proteins(path, {wanted}))
        cmap = pair_store.Maps([], contactmap.load, ContactMap).from_store(protein)
    except ContactplugError as exc:
        raise _error(exc) from None
    cmap.meta[RR_META] = {"floor": cmap.meta["store"]["floor"], "sequence": True}
    return cmap


def _rr_chains(found, path) -> tuple[list[str] | None, list[int] | None, str | None]:
    """(chain ids, chain lengths) of a complex's RR file, from its `REMARK chains` spans, or
    the one chain its residues name; letters of several chains without spans are refused:
    the numbers index the chains joined, so where each chain ends is not known."""
    if found.spans is not None and len(found.spans) >= 2:
        return [c for c, _, _ in found.spans], [b - a + 1 for _, a, b in found.spans], None
    if found.spans is not None:
        return None, None, found.spans[0][0]
    letters = sorted({c for pair in found.chains for c in pair if c})
    if len(letters) > 1:
        raise CmdException(
            f"{path}: its residues carry chain letters ({', '.join(letters)}) but no "
            "`REMARK chains` line gives each chain's span (the numbers index the chains "
            "joined); add one, e.g. REMARK chains A 1-186 C 187-222"
        )
    return None, None, (letters[0] if letters else None)


def read_contacts(path: str | os.PathLike) -> ContactMap:
    path = os.path.expanduser(str(path))
    if ".parquet#" in path.lower():  # one protein of a pairs store
        path, _, wanted = path.rpartition("#")
        if not os.path.isfile(path) and not pair_store.store_files(path):  # a folder's parts
            raise CmdException(f"{path}: no such file")
        return read_store(path, wanted)
    if not os.path.isfile(path):
        raise CmdException(f"{path}: no such file")
    if path.lower().endswith(".npz"):
        return read_npz(path)
    if path.lower().endswith(".parquet"):
        return read_store(path)
    return read_rr(path)


def known_sequence(cmap: ContactMap) -> str | None:
    """The map's sequence, or None for an RR file that carried none."""
    rr_file = cmap.meta.get(RR_META)
    return None if rr_file is not None and not rr_file["sequence"] else cmap.sequence


def ranked_pairs(
    cmap: ContactMap, min_sep: int = 6, max_sep: int | None = None, kind: str = "intra"
) -> list[tuple[int, int, float]]:
    """`cmap.pairs` best first, less the pairs an RR file does not list."""
    pairs = cmap.pairs(min_sep, max_sep, None, kind)
    rr_file = cmap.meta.get(RR_META)
    if rr_file is None:
        return pairs
    return [p for p in pairs if p[2] > rr_file["floor"]]


def parse_top(top, length: int) -> int | None:
    """A count, L, L/2, L/5 (any L/k), or all (None), in PyMOL's argument words."""
    try:
        return specs.parse_top(top, length)
    except ContactplugError as exc:
        raise _error(exc) from None


def parse_min_sep(min_sep) -> tuple[int, int | None]:
    """A minimum separation, a range A-B, or a range word: short, medium, long."""
    try:
        return specs.parse_sep(min_sep)
    except ContactplugError as exc:
        raise _error(exc) from None
