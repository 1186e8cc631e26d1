"""Export contact maps as restraints for modelling: pair selection, numbering, probabilities.

Formats (see README.md, "Restraints for modelling"): casp-rr, rosetta, cns, boltz, chai,
chimerax, csv, tsv. Selection: pairs i < j with min_sep <= j - i (<= max_sep), optionally
P >= min_prob, then the top N by score. Probabilities come from a calibration
(`restraints.calibration`); when a format needs them and none exists, the export stops with a
message, except that casp-rr may use rank-based pseudo-probabilities when asked (--pseudo-prob),
labelled as such in the file.

Complexes (maps with chain_ids): `--pairs intra|inter|all` picks pairs within chains, between
chains, or both (each ranked and cut to --top on its own, since the inter-chain block is scored
on its own scale; for inter pairs L in --top means the shortest chain). The default is `all`,
and `inter` for Chai-1 (its restraints were trained between chains). Every residue is named
with its chain, in each format's own way (see writers). A single-chain map exports as before.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contactplug.files.atomic import write_text as write_text_atomic
from contactplug.files.contactmap import ContactMap
from contactplug.files.errors import ContactplugError, Message, arg
from contactplug.files.rr import format_rr
from contactplug.files.specs import parse_sep, parse_top
from contactplug.restraints import chimerax, residue_tokens
from contactplug.restraints import writers as restraints
from contactplug.restraints.calibration import INTER, Calibration
from contactplug.restraints.numbering import (  # noqa: F401 (anchor_absent: commands.common)
    anchor_absent,
    chain_name,
    numbering_for,
)

log = logging.getLogger("contactplug")

FORMATS = {
    "casp-rr": ".rr",
    "rosetta": ".cst",
    "cns": ".tbl",
    "boltz": ".yaml",
    "chai": ".chai.csv",
    "chimerax": ".pb",
    "csv": ".csv",
    "tsv": ".tsv",
}
DEFAULT_LOWER = {"chai": 0.0}  # Chai's own examples use 0; min distance is unused by Chai-1
PAIR_KINDS = ("intra", "inter", "all")


@dataclass
class Options:
    format: str
    top: str | None = "L"
    min_sep: str = "6"
    max_sep: int | None = None
    min_prob: float | None = None
    chain: str | None = None
    numbering: str = "auto"  # index | author | auto (chimerax: author when known, else index)
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
    pairs: str | None = None  # intra | inter | all; None: the format's default (see pair_kind)
    haddock_air: bool = False  # cns: HADDOCK ambiguous interaction restraints
    color: str = "auto"  # chimerax: truth | probability | auto (truth with --structure)


def check_format(name: str) -> str:
    if name not in FORMATS:
        raise ContactplugError(f"unknown format {name!r}; choose from {', '.join(FORMATS)}")
    return name


def pseudo_probabilities(n: int) -> np.ndarray:
    """1 - rank/n over the n written pairs: an ordering, not a probability."""
    return 1.0 - np.arange(n) / max(n, 1)


# ---------------------------------------------------------------- selection
def pair_kind(cmap: ContactMap, opts: Options) -> str:
    """Which pairs to write: --pairs, or the format's default (inter for Chai-1 and HADDOCK
    ambiguous restraints on a complex, all otherwise)."""
    kind = opts.pairs
    if kind is not None and kind not in PAIR_KINDS:
        raise ContactplugError(f"{arg('pairs', value=repr(kind))}: choose {', '.join(PAIR_KINDS)}")
    if opts.haddock_air:
        if kind not in (None, "inter"):
            raise ContactplugError(
                f"{arg('haddock_air')} restrains pairs between chains: use "
                f"{arg('pairs', value='inter')}"
            )
        kind = "inter"
    if kind == "inter" and not cmap.is_complex:
        raise ContactplugError(
            f"{cmap.id} is one chain: it has no inter-chain pairs ("
            f"{arg('pairs', value='inter')} and {arg('haddock_air')} need a complex map: "
            f"predict {arg('chains', value='A,B')})"
        )
    if kind is None:
        kind = "inter" if (opts.format == "chai" and cmap.is_complex) else "all"
        if opts.format == "chai" and cmap.is_complex:
            log.info(Message(
                "%s: Chai-1 gets inter-chain pairs only (its restraints were trained between "
                f"chains); {arg('pairs', value='all')} adds intra-chain ones"), cmap.id,
            )  # fmt: skip
    return kind


def select(
    cmap: ContactMap, opts: Options, probs: np.ndarray | None
) -> list[tuple[int, int, float, float | None]]:
    """(i, j, score, p) 0-based: the intra-chain pairs best first, then (for a complex) the
    inter-chain pairs best first, each cut to --top on its own. p is None where there is no
    probability (no calibration, or no inter-chain calibration for an inter pair)."""
    kind = pair_kind(cmap, opts)
    lo, hi = parse_sep(opts.min_sep, opts.max_sep)
    lists = []
    if kind in ("intra", "all"):
        lists.append((cmap.pairs(min_sep=lo, max_sep=hi), cmap.length))
    if kind in ("inter", "all") and cmap.is_complex:
        lists.append((cmap.pairs(kind="inter"), min(cmap.chain_lengths)))
    picked = []
    for pairs, length in lists:
        out = [(i, j, s, _p(probs, i, j)) for i, j, s in pairs]
        if opts.min_prob is not None:
            if probs is None:
                raise ContactplugError(
                    f"{arg('min_prob')} needs calibrated probabilities (see {arg('calibration')})"
                )
            if out and all(p is None for *_, p in out):
                raise ContactplugError(
                    f"{cmap.id}: {arg('min_prob')}: the calibration has no inter-chain part "
                    "for these "
                    "weights (intra-chain probabilities are never given to inter-chain pairs); "
                    f"use {arg('top')}, or {arg('pairs', value='intra')}"
                )
            out = [row for row in out if row[3] >= opts.min_prob]
        top = parse_top(opts.top, length)
        picked += out if top is None else out[:top]
    return picked


def _p(probs: np.ndarray | None, i: int, j: int) -> float | None:
    if probs is None or not np.isfinite(probs[i, j]):
        return None
    return float(probs[i, j])


def _needs_probabilities(opts: Options) -> bool:
    return (
        opts.format == "casp-rr"
        or opts.min_prob is not None
        or (opts.format == "rosetta" and opts.weight == "prob")
    )


def _check_options(cmap: ContactMap, opts: Options) -> None:
    check_format(opts.format)
    if opts.pseudo_prob and opts.format != "casp-rr":
        raise ContactplugError(f"{arg('pseudo_prob')} applies to casp-rr only")
    if opts.pseudo_prob and opts.min_prob is not None:
        raise ContactplugError(
            f"{arg('min_prob')} needs calibrated probabilities, not {arg('pseudo_prob')}"
        )
    if opts.haddock_air and opts.format != "cns":
        raise ContactplugError(f"{arg('haddock_air')} applies to cns (CNS/HADDOCK) only")
    if cmap.is_complex and opts.segid:
        raise ContactplugError(
            f"{cmap.id}: a complex's segids are its chain names ({', '.join(cmap.chain_ids)}); "
            f"{arg('segid')} applies to single-chain maps"
        )


def render(
    cmap: ContactMap, opts: Options, calibration: Calibration | None
) -> tuple[str, int, str | None]:
    """(text, number of pairs written, renumber-map text or None) for one map."""
    _check_options(cmap, opts)
    use_pseudo = opts.pseudo_prob
    if calibration is None and _needs_probabilities(opts) and not use_pseudo:
        what = opts.format if opts.min_prob is None else arg("min_prob")
        pseudo = f" (or {arg('pseudo_prob')}: rank-based pseudo-probabilities)"
        alt = pseudo if what == "casp-rr" else ""
        raise ContactplugError(
            f"{cmap.id}: {what} needs probabilities, and there is no calibration for model "
            f"{cmap.model!r} method {cmap.method!r}; run `contactplug calibrate` or pass "
            f"{arg('calibration', 'FILE')}{alt}"
        )
    probs = None
    if calibration is not None and not use_pseudo and "store" in cmap.meta:
        # a pairs store keeps its best pairs only: their probabilities, made from the whole map
        probs = getattr(cmap, "stored_probabilities", None)
        if probs is None:
            raise ContactplugError(
                f"{cmap.id}: its pairs store has no probabilities (no calibration when predict "
                f"ran) and keeps too few pairs to calibrate now: rerun predict {arg('force')}"
            )
    elif calibration is not None and not use_pseudo:
        probs = calibration.probabilities(cmap)
    picked = select(cmap, opts, probs)
    if use_pseudo:
        picked = _pseudo(cmap, picked)
    num = numbering_for(cmap, opts.structure, opts.chain)
    chain = chain_name(cmap, opts.chain, num, opts.format)
    rows, renumbered = residue_tokens.tokens(cmap, opts, num, chain, picked)
    _check_inter_probabilities(cmap, opts, rows, calibration, use_pseudo)
    if opts.format == "chai" and not rows and cmap.is_complex:
        raise ContactplugError(
            f"{cmap.id}: no inter-chain pair left for Chai-1 (its restraints are between "
            f"chains); loosen {arg('top')} / {arg('min_prob')}, or pass "
            f"{arg('pairs', value='all')}"
            if pair_kind(cmap, opts) == "inter"
            else f"{cmap.id}: no pair left for Chai-1; loosen {arg('top')} / {arg('min_prob')}"
        )
    if not rows:
        log.warning(
            "%s: no pair passes the selection; writing an empty %s file", cmap.id, opts.format
        )
    return _write(cmap, opts, calibration, use_pseudo, rows, chain, num), len(rows), renumbered


def _pseudo(cmap: ContactMap, picked: list) -> list:
    """p = 1 - rank/n, ranked within the intra-chain and the inter-chain pairs on their own."""
    chain = cmap.chain_index()
    out = []
    for inter in (False, True):
        part = [row for row in picked if (chain[row[0]] != chain[row[1]]) == inter]
        pp = pseudo_probabilities(len(part))
        out += [(i, j, s, float(p)) for (i, j, s, _), p in zip(part, pp, strict=True)]
    return out


def _check_inter_probabilities(cmap, opts, rows, calibration, pseudo: bool) -> None:
    """The stated fallback when the calibration has no inter-chain part: inter-chain pairs get
    no probability (never an intra-chain one); formats that need one stop."""
    if calibration is None or pseudo or not any(r.p is None for r in rows):
        return
    if _needs_probabilities(opts):
        raise ContactplugError(
            f"{cmap.id}: {opts.format} needs probabilities, and the calibration has no "
            "inter-chain part for these weights (intra-chain probabilities are never given to "
            f"inter-chain pairs); pass {arg('pairs', value='intra')}"
            + (f", or {arg('pseudo_prob')}" if opts.format == "casp-rr" else "")
        )
    log.warning(
        "%s: no inter-chain calibration for model %r method %r: inter-chain pairs are written "
        "without a probability (never an intra-chain one)", cmap.id, cmap.model, cmap.method,
    )  # fmt: skip


def _write(cmap, opts, calibration, use_pseudo, rows, chain, num) -> str:
    lower = opts.lower if opts.lower is not None else DEFAULT_LOWER.get(opts.format, 3.5)
    seq, fmt = cmap.sequence, opts.format
    chains = [(name, b - a) for name, a, b in cmap.chain_spans()] if cmap.is_complex else None
    if fmt == "casp-rr":
        return format_rr(
            seq,
            [(r.i + 1, r.j + 1, r.p) for r in rows],
            target=opts.target or cmap.id,
            author=opts.author,
            method=_rr_method(cmap, calibration, use_pseudo),
            remarks=_rr_remarks(cmap, opts, use_pseudo),
            d2=opts.upper,
            chains=chains,
        )
    if fmt == "rosetta":
        func = restraints.rosetta_func(
            opts.rosetta_func, lower, opts.upper, opts.slope, opts.sd, opts.fade
        )
        return restraints.rosetta(rows, seq, func, opts.weight == "prob")
    if fmt == "cns":
        head = [f"contactplug restraints for {cmap.id} ({cmap.method}, {cmap.model})",
                f"bounds [{lower:g}, {opts.upper:g}] A between CB atoms (CA for Gly)"]  # fmt: skip
        if opts.haddock_air:
            return restraints.haddock_air(rows, head[:1])
        return restraints.cns(rows, seq, lower, opts.upper, opts.segid, head, cmap.is_complex)
    if fmt == "boltz":
        merge = restraints.read_yaml(opts.merge) if opts.merge else None
        entries = _chain_sequences(cmap, chain)
        return restraints.boltz(rows, entries, opts.upper, opts.force, merge, str(opts.merge))
    if fmt == "chai":
        if rows and not cmap.is_complex:
            log.warning("Chai-1 documents contact restraints between chains; these are intra-chain")
        return restraints.chai(rows, seq, lower, opts.upper)
    if fmt == "chimerax":
        return chimerax.pseudobonds(cmap, rows, num, opts.structure, opts.color)
    return restraints.table(rows, seq, "," if fmt == "csv" else "\t", num is not None, chains)


def _chain_sequences(cmap: ContactMap, chain: str) -> list[tuple[str, str]]:
    if not cmap.is_complex:
        return [(chain, cmap.sequence)]
    return [(name, cmap.sequence[a:b]) for name, a, b in cmap.chain_spans()]


def _rr_method(cmap: ContactMap, calibration: Calibration | None, pseudo: bool) -> list[str]:
    lines = [f"contactplug {cmap.method} contacts from {Path(cmap.model).name}"]
    if pseudo:
        lines.append("PSEUDO-PROBABILITIES: p = 1 - rank/n over the pairs written; NOT calibrated")
    elif calibration is not None:
        ece = calibration.info.get("held_out", {}).get("top_L", {}).get("ece")
        extra = f", held-out ECE(top-L) {ece:.3f}" if isinstance(ece, float) else ""
        lines.append(f"p = calibrated P(CB-CB < 8 A) from rank/L and z per range{extra}")
        if cmap.is_complex and calibration.has_inter:
            held = calibration.info.get(INTER, {}).get("held_out", {})
            ece = held.get("all_pairs", {}).get("ece")
            extra = f", held-out ECE {ece:.4f}" if isinstance(ece, float) else ""
            lines.append(f"inter-chain p from the inter-chain part fitted on complexes{extra}")
    return lines


def _rr_remarks(cmap: ContactMap, opts: Options, pseudo: bool) -> list[str]:
    out = [f"selection: top {opts.top or 'all'}, min-sep {opts.min_sep}"]
    if opts.min_prob is not None:
        out.append(f"min-prob {opts.min_prob}")
    if pseudo:
        out.append("p values are rank-based pseudo-probabilities, not probabilities")
    return out


def export_map(cmap: ContactMap, opts: Options, out: str | os.PathLike, calibration) -> int:
    """Render one map and write it (and the renumber map, or ChimeraX's .cxc script beside the
    .pb) atomically; returns pairs written."""
    text, n, renumbered = render(cmap, opts, calibration)
    if renumbered is not None:
        write_text_atomic(opts.renumber_map, renumbered)
        log.info("renumbering map written to %s", opts.renumber_map)
    if opts.format == "chimerax":
        script = chimerax.script_path(out)
        write_text_atomic(out, text)
        body = chimerax.script(Path(out).name, text, opts.structure, cmap, Path(out).parent)
        write_text_atomic(script, body)
        log.info("%s: ChimeraX script %s opens the structure and %s", cmap.id, script, out)
        return n
    write_text_atomic(out, text)
    return n
