"""Export contact maps as restraints for modelling: pair selection, numbering, probabilities.

Formats (see README.md, "Restraints for modelling"): casp-rr, rosetta, cns, boltz, chai, csv, tsv.
Selection: pairs i < j with min_sep <= j - i (<= max_sep), optionally P >= min_prob, then the
top N by score. Probabilities come from a calibration (`restraints.calibration`); when a
format needs them and none exists, the export stops with a message, except that casp-rr may use
rank-based pseudo-probabilities when asked (--pseudo-prob), labelled as such in the file.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contactplug.files.atomic import write_text as write_text_atomic
from contactplug.files.contactmap import ContactMap
from contactplug.files.errors import ContactplugError
from contactplug.files.rr import format_rr
from contactplug.files.specs import parse_sep, parse_top
from contactplug.restraints import writers as restraints
from contactplug.restraints.calibration import Calibration
from contactplug.restraints.writers import Row

log = logging.getLogger("contactplug")

FORMATS = {
    "casp-rr": ".rr",
    "rosetta": ".cst",
    "cns": ".tbl",
    "boltz": ".yaml",
    "chai": ".chai.csv",
    "csv": ".csv",
    "tsv": ".tsv",
}
DEFAULT_LOWER = {"chai": 0.0}  # Chai's own examples use 0; min distance is unused by Chai-1
SEQUENCE_INDEXED = ("casp-rr", "boltz", "chai")  # residues are positions in the sequence


@dataclass
class Options:
    format: str
    top: str | None = "L"
    min_sep: str = "6"
    max_sep: int | None = None
    min_prob: float | None = None
    chain: str | None = None
    numbering: str = "index"
    structure: str | None = None
    renumber_map: str | None = None
    lower: float | None = None
    upper: float = 8.0
    rosetta_func: str = "sigmoid"
    weight: str = "none"  # none | prob (Rosetta: SCALARWEIGHTEDFUNC p)
    slope: float = 1.0
    sd: float = 1.0
    fade: float = 2.0
    segid: str | None = None
    force: bool = False
    merge: str | None = None
    pseudo_prob: bool = False
    target: str | None = None
    author: str = "contactplug"


def check_format(name: str) -> str:
    if name not in FORMATS:
        raise ContactplugError(f"unknown format {name!r}; choose from {', '.join(FORMATS)}")
    return name


def pseudo_probabilities(n: int) -> np.ndarray:
    """1 - rank/n over the n written pairs: an ordering, not a probability."""
    return 1.0 - np.arange(n) / max(n, 1)


# ---------------------------------------------------------------- numbering
@dataclass
class Numbering:
    """Per query position (0-based): author resnum/icode and position in the structure chain,
    or absent (-1). `source` says where it came from, for messages."""

    resnum: np.ndarray
    icode: np.ndarray
    chain_index: np.ndarray  # query index -> index in the structure chain, -1 when absent
    chain: str
    source: str
    anchored: np.ndarray | None = None  # per query position: the anchor atom is in the file

    def present(self, k: int) -> bool:
        return self.chain_index[k] >= 0

    def label(self, k: int) -> str:
        return f"{self.resnum[k]}{self.icode[k]}"


def numbering_for(cmap: ContactMap, structure: str | None, chain: str | None) -> Numbering | None:
    """Author numbering from --structure (aligned to the map's sequence) or from the npz."""
    if structure is not None:
        from contactplug.inputs.structure import align, read_chain

        ch = read_chain(structure, chain or cmap.chain)
        mapping = align(cmap.sequence, ch.sequence)
        hit = mapping >= 0
        resnum = np.zeros(cmap.length, dtype=np.int64)
        icode = np.array([""] * cmap.length, dtype=object)
        resnum[hit] = ch.resnum[mapping[hit]]
        icode[hit] = ch.icode[mapping[hit]]
        anchored = np.zeros(cmap.length, dtype=bool)
        anchored[hit] = anchors_present(structure, ch.name, ch.resnum, ch.icode)[mapping[hit]]
        source = f"{structure}:{ch.name}"
        return Numbering(resnum, icode.astype(str), mapping, ch.name, source, anchored)
    if cmap.resnum is not None:
        idx = np.arange(cmap.length)
        name = chain or cmap.chain or "A"
        anchored = None
        if "anchor_absent" in cmap.meta:  # recorded by predict / jacobian from the structure
            anchored = np.ones(cmap.length, dtype=bool)
            anchored[[k for k in cmap.meta["anchor_absent"] if 0 <= k < cmap.length]] = False
        return Numbering(cmap.resnum, cmap.icode, idx, name, f"{cmap.id} (npz)", anchored)
    return None


# ---------------------------------------------------------------- atoms
# One rule, here and in the PyMOL plugin (README, "Missing atoms"): a pair is drawn, and
# exported in the structure's numbering, only when both residues have the atom it joins:
# C-beta, C-alpha for Gly (and for every residue of a C-alpha trace).
def anchors_present(structure, chain: str, resnum, icode) -> np.ndarray:
    """Per residue (author resnum + icode, as read_chain gives them): whether the structure
    file has its anchor atom, in any conformer."""
    from contactplug.inputs.structure import read_model

    atoms: dict[tuple[int, str], tuple[str, set[str]]] = {}
    for ch in read_model(structure):
        if ch.name != chain:
            continue
        for res in ch:
            key = (res.seqid.num, res.seqid.icode.strip())
            names = atoms.setdefault(key, (res.name, set()))[1]
            names.update(atom.name for atom in res)
    ca_trace = not any("CB" in names for _, names in atoms.values())

    def has(key) -> bool:
        resn, names = atoms.get(key, ("", set()))
        return ("CA" if ca_trace or resn == "GLY" else "CB") in names

    return np.array([has((int(n), str(c).strip())) for n, c in zip(resnum, icode, strict=True)])


def anchor_absent(structure, chain: str, resnum, icode) -> list[int]:
    """0-based positions whose residue lacks its anchor atom (for a map's meta)."""
    present = anchors_present(structure, chain, resnum, icode)
    return [int(k) for k in np.flatnonzero(~present)]


def renumber_table(num: Numbering, sequence: str) -> str:
    lines = ["# contactplug renumbering: new number = position in the structure chain (1-based)",
             "new\tchain\tauthor\tresidue"]  # fmt: skip
    for k in range(len(sequence)):
        if num.present(k):
            lines.append(f"{num.chain_index[k] + 1}\t{num.chain}\t{num.label(k)}\t{sequence[k]}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- selection
def select(
    cmap: ContactMap, opts: Options, probs: np.ndarray | None
) -> list[tuple[int, int, float, float | None]]:
    """(i, j, score, p) 0-based, best score first."""
    lo, hi = parse_sep(opts.min_sep, opts.max_sep)
    pairs = cmap.pairs(min_sep=lo, max_sep=hi)
    out = [(i, j, s, None if probs is None else float(probs[i, j])) for i, j, s in pairs]
    if opts.min_prob is not None:
        if probs is None:
            raise ContactplugError("--min-prob needs calibrated probabilities (see --calibration)")
        out = [row for row in out if row[3] >= opts.min_prob]
    top = parse_top(opts.top, cmap.length)
    return out if top is None else out[:top]


def _tokens(
    cmap: ContactMap, opts: Options, num: Numbering | None, chain: str, picked: list
) -> tuple[list[Row], str | None]:
    """Rows with residue tokens in the asked numbering; returns (rows, renumber map text)."""
    fmt = opts.format
    author = opts.numbering == "author"
    if opts.renumber_map and not (author and fmt in ("rosetta", "cns")):
        raise ContactplugError("--renumber-map applies to rosetta and cns with --numbering author")
    if author and fmt in SEQUENCE_INDEXED:
        raise ContactplugError(
            f"{fmt} numbers residues by their position in the sequence; "
            "--numbering author does not apply (use index)"
        )
    if author and num is None:
        raise ContactplugError(
            f"{cmap.id}: no author numbering known (map made from a FASTA); "
            "pass --structure FILE to align the sequence to a structure"
        )
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
        rows.append(Row(i, j, s, p, str(i + 1), str(j + 1), ai, aj))
    if atomless:
        shown = ", ".join(num.label(k) for k in sorted(atomless)[:20])
        log.warning(
            "%s: residues %s lack the atom a restraint names (CB, CA for Gly) in %s; "
            "their pairs are skipped, as in PyMOL",
            cmap.id, shown, num.source,
        )  # fmt: skip
    if missing:
        shown = ", ".join(str(k + 1) for k in sorted(missing)[:20])
        more = "" if len(missing) <= 20 else f" (+{len(missing) - 20} more)"
        log.warning(
            "%s: positions %s%s are not in %s; %d of %d pairs skipped",
            cmap.id, shown, more, num.source, len(picked) - len(rows), len(picked),
        )  # fmt: skip
    if not author or fmt not in ("rosetta", "cns"):
        return rows, None
    labels = {r.author_i for r in rows} | {r.author_j for r in rows}
    with_icode = sorted(a for a in labels if not a.lstrip("-").isdigit())
    if opts.renumber_map:
        for r in rows:
            r.res_i, r.res_j = str(num.chain_index[r.i] + 1), str(num.chain_index[r.j] + 1)
        return rows, renumber_table(num, cmap.sequence)
    if with_icode:
        raise ContactplugError(
            f"{fmt} cannot express insertion codes (residues {', '.join(with_icode[:8])}); "
            "pass --renumber-map FILE to number residues 1..N in chain order and write the map"
        )
    for r in rows:
        # Rosetta reads PDB numbering as number + chain letter ("30A"); CNS as plain resid
        suffix = chain if fmt == "rosetta" else ""
        r.res_i, r.res_j = f"{r.author_i}{suffix}", f"{r.author_j}{suffix}"
    return rows, None


def _needs_probabilities(opts: Options) -> bool:
    return (
        opts.format == "casp-rr"
        or opts.min_prob is not None
        or (opts.format == "rosetta" and opts.weight == "prob")
    )


def render(
    cmap: ContactMap, opts: Options, calibration: Calibration | None
) -> tuple[str, int, str | None]:
    """(text, number of pairs written, renumber-map text or None) for one map."""
    check_format(opts.format)
    if opts.pseudo_prob and opts.format != "casp-rr":
        raise ContactplugError("--pseudo-prob applies to casp-rr only")
    if opts.pseudo_prob and opts.min_prob is not None:
        raise ContactplugError("--min-prob needs calibrated probabilities, not --pseudo-prob")
    use_pseudo = opts.pseudo_prob
    if calibration is None and _needs_probabilities(opts) and not use_pseudo:
        what = opts.format if opts.min_prob is None else "--min-prob"
        alt = " (or --pseudo-prob: rank-based pseudo-probabilities)" if what == "casp-rr" else ""
        raise ContactplugError(
            f"{cmap.id}: {what} needs probabilities, and there is no calibration for model "
            f"{cmap.model!r} method {cmap.method!r}; run `contactplug calibrate` or pass "
            f"--calibration FILE{alt}"
        )
    probs = None if (calibration is None or use_pseudo) else calibration.probabilities(cmap)
    picked = select(cmap, opts, probs)
    if use_pseudo:
        pp = pseudo_probabilities(len(picked))
        picked = [(i, j, s, float(p)) for (i, j, s, _), p in zip(picked, pp, strict=True)]
    num = numbering_for(cmap, opts.structure, opts.chain)
    chain = opts.chain or (num.chain if num is not None else None) or cmap.chain or "A"
    rows, renumbered = _tokens(cmap, opts, num, chain, picked)
    if not rows:
        log.warning(
            "%s: no pair passes the selection; writing an empty %s file", cmap.id, opts.format
        )
    lower = opts.lower if opts.lower is not None else DEFAULT_LOWER.get(opts.format, 3.5)
    seq, fmt = cmap.sequence, opts.format
    if fmt == "casp-rr":
        text = format_rr(
            seq,
            [(r.i + 1, r.j + 1, r.p) for r in rows],
            target=opts.target or cmap.id,
            author=opts.author,
            method=_rr_method(cmap, calibration, use_pseudo),
            remarks=_rr_remarks(cmap, opts, use_pseudo),
            d2=opts.upper,
        )
    elif fmt == "rosetta":
        func = restraints.rosetta_func(
            opts.rosetta_func, lower, opts.upper, opts.slope, opts.sd, opts.fade
        )
        text = restraints.rosetta(rows, seq, func, opts.weight == "prob")
    elif fmt == "cns":
        head = [f"contactplug restraints for {cmap.id} ({cmap.method}, {cmap.model})",
                f"bounds [{lower:g}, {opts.upper:g}] A between CB atoms (CA for Gly)"]  # fmt: skip
        text = restraints.cns(rows, seq, lower, opts.upper, opts.segid, head)
    elif fmt == "boltz":
        merge = restraints.read_yaml(opts.merge) if opts.merge else None
        text = restraints.boltz(rows, seq, chain, opts.upper, opts.force, merge, str(opts.merge))
    elif fmt == "chai":
        if rows:
            log.warning("Chai-1 documents contact restraints between chains; these are intra-chain")
        text = restraints.chai(rows, seq, chain, lower, opts.upper)
    else:
        text = restraints.table(rows, seq, "," if fmt == "csv" else "\t", num is not None)
    return text, len(rows), renumbered


def _rr_method(cmap: ContactMap, calibration: Calibration | None, pseudo: bool) -> list[str]:
    lines = [f"contactplug {cmap.method} contacts from {Path(cmap.model).name}"]
    if pseudo:
        lines.append("PSEUDO-PROBABILITIES: p = 1 - rank/n over the pairs written; NOT calibrated")
    elif calibration is not None:
        ece = calibration.info.get("held_out", {}).get("top_L", {}).get("ece")
        extra = f", held-out ECE(top-L) {ece:.3f}" if isinstance(ece, float) else ""
        lines.append(f"p = calibrated P(CB-CB < 8 A) from rank/L and z per range{extra}")
    return lines


def _rr_remarks(cmap: ContactMap, opts: Options, pseudo: bool) -> list[str]:
    out = [f"selection: top {opts.top or 'all'}, min-sep {opts.min_sep}"]
    if opts.min_prob is not None:
        out.append(f"min-prob {opts.min_prob}")
    if pseudo:
        out.append("p values are rank-based pseudo-probabilities, not probabilities")
    return out


def export_map(cmap: ContactMap, opts: Options, out: str | os.PathLike, calibration) -> int:
    """Render one map and write it (and the renumber map) atomically; returns pairs written."""
    text, n, renumbered = render(cmap, opts, calibration)
    if renumbered is not None:
        write_text_atomic(opts.renumber_map, renumbered)
        log.info("renumbering map written to %s", opts.renumber_map)
    write_text_atomic(out, text)
    return n
