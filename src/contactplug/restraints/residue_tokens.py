"""Each exported pair's residue tokens in the asked numbering (`export --numbering`).

Sequence-indexed formats (casp-rr, boltz, chai) number residues by their position in the
sequence; rosetta and cns may take the structure's author numbering (Rosetta's PDB numbering
is number + chain letter, CNS a plain resid), or `--renumber-map` for 1..N in chain order;
chimerax takes the structure's residue labels whenever a structure is known.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from contactplug.files.contactmap import ContactMap
from contactplug.files.errors import ContactplugError, arg
from contactplug.restraints.numbering import BLANK, Numbering, renumber_table, report_skipped
from contactplug.restraints.writers import Row


class Options(Protocol):
    """What numbering reads of `restraints.pairs.Options` (named here, not imported: pairs
    imports this module)."""

    format: str
    numbering: str
    renumber_map: str | None


SEQUENCE_INDEXED = ("casp-rr", "boltz", "chai")  # residues are positions in the sequence


def positions(cmap: ContactMap) -> tuple[list[str], np.ndarray]:
    """Each position's chain name and 1-based index within its chain."""
    names, pos = [], np.zeros(cmap.length, dtype=np.int64)
    for name, a, b in cmap.chain_spans():
        names += [name] * (b - a)
        pos[a:b] = np.arange(1, b - a + 1)
    return names, pos


def tokens(
    cmap: ContactMap, opts: Options, num: Numbering | None, chain: str, picked: list
) -> tuple[list[Row], str | None]:
    """Rows with residue tokens in the asked numbering; returns (rows, renumber map text)."""
    author = _author_numbering(cmap, opts, num)
    rows = _rows(cmap, opts.format, num, chain, picked, author)
    fmt = opts.format
    if not author or fmt not in ("rosetta", "cns"):
        if author:  # chimerax: the structure's residue labels
            for r in rows:
                r.res_i, r.res_j = r.author_i, r.author_j
        return rows, None
    labels = {r.author_i for r in rows} | {r.author_j for r in rows}
    with_icode = sorted(a for a in labels if not a.lstrip("-").isdigit())
    # Rosetta reads PDB numbering as number + chain letter ("30A"); CNS as plain resid
    suffix = fmt == "rosetta"
    if opts.renumber_map:
        for r in rows:
            r.res_i, r.res_j = str(num.chain_index[r.i] + 1), str(num.chain_index[r.j] + 1)
            if suffix and cmap.is_complex:
                r.res_i, r.res_j = f"{r.res_i}{r.chain_i}", f"{r.res_j}{r.chain_j}"
        return rows, renumber_table(num, cmap.sequence)
    if with_icode:
        raise ContactplugError(
            f"{fmt} cannot express insertion codes (residues {', '.join(with_icode[:8])}); "
            f"pass {arg('renumber_map', 'FILE')} to number residues 1..N in chain order and "
            "write the map"
        )
    if suffix and not cmap.is_complex and chain == BLANK:  # "838" would be pose numbering
        raise ContactplugError(
            f"{cmap.id}: its chain id is blank ({num.source}), and Rosetta's PDB numbering names a "
            f"residue by number and chain letter (838A); pass {arg('renumber_map', 'FILE')} "
            "for pose numbering (1..N in chain order), or give the chain a letter"
        )
    for r in rows:
        ci, cj = (r.chain_i, r.chain_j) if suffix else ("", "")
        r.res_i, r.res_j = f"{r.author_i}{ci}", f"{r.author_j}{cj}"
    return rows, None


def _author_numbering(cmap: ContactMap, opts: Options, num: Numbering | None) -> bool:
    """Whether rows take the structure's author numbering, refusing what cannot have it."""
    fmt = opts.format
    author = opts.numbering == "author" or (
        opts.numbering == "auto" and fmt == "chimerax" and num is not None
    )
    if opts.renumber_map and not (author and fmt in ("rosetta", "cns")):
        raise ContactplugError(
            f"{arg('renumber_map')} applies to rosetta and cns with "
            f"{arg('numbering', value='author')}"
        )
    if author and fmt in SEQUENCE_INDEXED:
        raise ContactplugError(
            f"{fmt} numbers residues by their position in the sequence; "
            f"{arg('numbering', value='author')} does not apply (use index)"
        )
    if author and num is None:
        raise ContactplugError(
            f"{cmap.id}: no author numbering known (map made from a FASTA); "
            f"pass {arg('structure', 'FILE')} to align the sequence to a structure"
        )
    return author


def _rows(
    cmap: ContactMap, fmt: str, num: Numbering | None, chain: str, picked: list, author: bool
) -> list[Row]:
    """A row per picked pair, sequence-numbered; with author numbering, pairs whose residues
    the structure lacks (or has no atoms for) are left out and said."""
    names, pos = positions(cmap)
    if not cmap.is_complex:
        names = [chain] * cmap.length
    rows: list[Row] = []
    missing: set[int] = set()
    atomless: set[int] = set()
    for i, j, s, p in picked:
        ai = num.label(i) if num is not None and num.present(i) else None
        aj = num.label(j) if num is not None and num.present(j) else None
        if author and (ai is None or aj is None):
            missing.update(k for k, a in ((i, ai), (j, aj)) if a is None)
            continue
        if author and num.anchored is not None and not (num.anchored[i] and num.anchored[j]):
            atomless.update(k for k in (i, j) if not num.anchored[k])
            continue  # the rule the PyMOL plugin draws by (anchors_present)
        ri, rj = (str(k + 1) if not cmap.is_complex else str(pos[k]) for k in (i, j))
        if cmap.is_complex and fmt == "rosetta":  # Rosetta's PDB numbering: number + chain
            ri, rj = f"{ri}{names[i]}", f"{rj}{names[j]}"
        rows.append(Row(i, j, s, p, ri, rj, ai, aj, names[i], names[j], int(pos[i]), int(pos[j])))
    report_skipped(cmap, num, picked, rows, missing, atomless)
    return rows
