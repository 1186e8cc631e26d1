"""Restraint and table writers: Rosetta, CNS/XPLOR/HADDOCK, Boltz-2, Chai-1, CSV/TSV.

Every writer takes `Row`s (already selected, best first) and returns the file's text; the
caller writes it atomically. Residue tokens (`Row.res_i`, `Row.res_j`) are already in the
numbering the user asked for; Boltz and Chai always use 1-based positions in each residue's
chain (`Row.pos_i`), named by its chain (`Row.chain_i`): for a single chain these are the
sequence positions and the one chain's name, so single-chain files are as they always were.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import yaml

from contactplug.files.errors import ContactplugError
from contactplug.files.residues import ONE_TO_THREE

ROSETTA_FUNCS = ("sigmoid", "bounded", "fade")
BOLTZ_RANGE = (4.0, 20.0)  # Boltz docs: contact max_distance supported between 4 and 20 A


@dataclass
class Row:
    """One selected pair: 0-based positions, raw score, probability (None when uncalibrated),
    and the residue tokens to write (index or author numbering, as strings)."""

    i: int
    j: int
    score: float
    p: float | None
    res_i: str
    res_j: str
    author_i: str | None = None
    author_j: str | None = None
    chain_i: str = "A"
    chain_j: str = "A"
    pos_i: int = 0  # 1-based position within its chain
    pos_j: int = 0


def atom_for(letter: str) -> str:
    """C-beta, or C-alpha for glycine (it has no C-beta)."""
    return "CA" if letter == "G" else "CB"


def _f(x: float) -> str:
    return f"{x:.3f}".rstrip("0").rstrip(".") if x != int(x) else f"{int(x)}.0"


# ---------------------------------------------------------------- Rosetta
def rosetta_func(
    func: str,
    lower: float,
    upper: float,
    slope: float = 1.0,
    sd: float = 1.0,
    fade: float = 2.0,
    tag: str = "contact",
) -> str:
    """The FUNC part of an AtomPair line (Rosetta constraint-file grammar).

    SIGMOID x0 slope             1/(1+exp(-slope*(d-x0))) - 0.5: a bonus below x0, penalty above
    BOUNDED lb ub sd tag         flat between lb and ub, harmonic outside (rswitch left at 0.5)
    FADE lb ub fade wd           well of depth wd (< 0: a bonus) from lb to ub, faded over `fade`
    """
    if func == "sigmoid":
        return f"SIGMOID {_f(upper)} {_f(slope)}"
    if func == "bounded":
        if not lower < upper:
            raise ContactplugError(f"BOUNDED needs lower < upper, got {lower} and {upper}")
        return f"BOUNDED {_f(lower)} {_f(upper)} {_f(sd)} {tag}"
    if func == "fade":
        # lb -10: every distance below the cutoff earns the bonus (clashes are Rosetta's job)
        if fade <= 0 or upper - (-10.0) < 2 * fade:
            raise ContactplugError(f"FADE needs 0 < fade zone <= {(upper + 10) / 2}, got {fade}")
        return f"FADE -10.0 {_f(upper)} {_f(fade)} -1.0"
    raise ContactplugError(f"unknown Rosetta function {func!r}; choose from {ROSETTA_FUNCS}")


def rosetta(rows: list[Row], sequence: str, func_text: str, weighted: bool) -> str:
    """`AtomPair CB i CB j FUNC` per row; with `weighted`, SCALARWEIGHTEDFUNC p FUNC."""
    out = []
    for r in rows:
        func = func_text
        if weighted:
            if r.p is None:
                raise ContactplugError("Rosetta weights by probability need a calibration")
            func = f"SCALARWEIGHTEDFUNC {r.p:.4f} {func_text}"
        a, b = atom_for(sequence[r.i]), atom_for(sequence[r.j])
        out.append(f"AtomPair {a} {r.res_i} {b} {r.res_j} {func}")
    return "".join(line + "\n" for line in out)


# ---------------------------------------------------------------- CNS / XPLOR / HADDOCK
def cns(
    rows: list[Row],
    sequence: str,
    lower: float,
    upper: float,
    segid: str | None = None,
    header: list[str] | None = None,
    chain_segids: bool = False,
) -> str:
    """`assign (resid i and name CB) (resid j and name CB) d d- d+` with d = upper,
    d- = upper - lower, d+ = 0: allowed distances [lower, upper]. With `chain_segids` (a
    complex) each residue is selected by its chain's segid, `(segid B and resid 40 ...)`."""
    if not 0 <= lower < upper:
        raise ContactplugError(f"CNS bounds need 0 <= lower < upper, got {lower} and {upper}")
    out = [f"! {line}" for line in header or []]
    for r in rows:
        a, b = atom_for(sequence[r.i]), atom_for(sequence[r.j])
        si, sj = (r.chain_i, r.chain_j) if chain_segids else (segid, segid)
        note = f" ! p={r.p:.3f}" if r.p is not None else f" ! score={r.score:.4g}"
        out.append(
            f"assign ({_seg(si)}resid {r.res_i} and name {a}) "
            f"({_seg(sj)}resid {r.res_j} and name {b}) "
            f"{upper:.2f} {upper - lower:.2f} 0.00{note}"
        )
    return "".join(line + "\n" for line in out)


def _seg(segid: str | None) -> str:
    return f"segid {segid} and " if segid else ""


AIR_BOUNDS = "2.0 2.0 0.0"  # HADDOCK's ambiguous restraints: effective distance at most 2 A


def haddock_air(rows: list[Row], header: list[str] | None = None) -> str:
    """HADDOCK ambiguous interaction restraints from inter-chain pairs: one `assign` per
    residue named in the pairs, from that residue (all its atoms) to any of its predicted
    partners in the other chain, `assign (segid A and resid 12) ((segid B and resid 40) or
    (segid B and resid 41)) 2.0 2.0 0.0`. HADDOCK sums r^-6 over every atom pair of an
    ambiguous restraint, so one true partner of the several is enough to satisfy it."""
    partners: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for r in rows:
        if r.chain_i == r.chain_j:
            raise ContactplugError("HADDOCK ambiguous restraints join chains; got an intra pair")
        for a, b in (((r.chain_i, r.res_i), (r.chain_j, r.res_j)),
                     ((r.chain_j, r.res_j), (r.chain_i, r.res_i))):  # fmt: skip
            if b not in partners.setdefault(a, []):
                partners[a].append(b)
    out = [f"! {line}" for line in header or []]
    out.append(f"! HADDOCK ambiguous interaction restraints from {len(rows)} inter-chain pairs")
    for (chain, res), others in partners.items():
        out.append(f"assign (segid {chain} and resid {res})")
        out.append("       (")
        out.append("\n     or\n".join(f"        (segid {c} and resid {k})" for c, k in others))
        out.append(f"       ) {AIR_BOUNDS}")
    return "".join(line + "\n" for line in out)


# ---------------------------------------------------------------- Boltz-2
def boltz_constraints(rows: list[Row], max_distance: float, force: bool) -> list:
    lo, hi = BOLTZ_RANGE
    if not lo <= max_distance <= hi:
        raise ContactplugError(
            f"Boltz contact max_distance must lie in [{lo:g}, {hi:g}] A, got {max_distance:g}"
        )
    return [
        {
            "contact": {
                "token1": [r.chain_i, r.pos_i],
                "token2": [r.chain_j, r.pos_j],
                "max_distance": float(max_distance),
                "force": bool(force),
            }
        }
        for r in rows
    ]


def boltz_sequences(doc: dict) -> dict[str, str]:
    """Chain id -> sequence of the polymer entries of a Boltz input document."""
    out: dict[str, str] = {}
    for entry in doc.get("sequences") or []:
        if not isinstance(entry, dict):
            continue
        for kind, body in entry.items():
            if kind not in ("protein", "dna", "rna") or not isinstance(body, dict):
                continue
            ids = body.get("id")
            for cid in ids if isinstance(ids, list) else [ids]:
                out[str(cid)] = str(body.get("sequence", ""))
    return out


def boltz(
    rows: list[Row],
    entries: list[tuple[str, str]],
    max_distance: float,
    force: bool = False,
    merge: dict | None = None,
    source: str = "merge file",
) -> str:
    """A Boltz YAML: the user's document with our contacts appended to its `constraints`, or
    a new one (version 1, one protein entry per chain (id, sequence) in `entries`, no `msa`:
    add yours or use --use_msa_server)."""
    new = boltz_constraints(rows, max_distance, force)
    if merge is None:
        doc = {
            "version": 1,
            "sequences": [{"protein": {"id": c, "sequence": seq}} for c, seq in entries],
            "constraints": new,
        }
    else:
        doc = dict(merge)
        chains = boltz_sequences(doc)
        for chain, sequence in entries:
            if chain not in chains:
                have = ", ".join(sorted(chains)) or "none"
                raise ContactplugError(f"{source}: no polymer chain {chain!r} (chains: {have})")
            if chains[chain] != sequence:
                raise ContactplugError(
                    f"{source}: chain {chain!r} sequence ({len(chains[chain])} residues) "
                    f"differs from the map's ({len(sequence)}); residue indices would not match"
                )
        old = doc.get("constraints") or []
        if not isinstance(old, list):
            raise ContactplugError(f"{source}: 'constraints' is not a list")
        doc["constraints"] = list(old) + new
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=100)


def read_yaml(path: str) -> dict:
    try:
        with open(path) as handle:
            doc = yaml.safe_load(handle)
    except (OSError, UnicodeDecodeError) as exc:
        raise ContactplugError(f"{path}: cannot read YAML ({exc.__class__.__name__})") from None
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ContactplugError(f"{path}: not valid YAML ({first})") from None
    if not isinstance(doc, dict):
        raise ContactplugError(f"{path}: a Boltz input must be a YAML mapping")
    return doc


# ---------------------------------------------------------------- Chai-1
CHAI_HEADER = [
    "chainA", "res_idxA", "chainB", "res_idxB", "connection_type", "confidence",
    "min_distance_angstrom", "max_distance_angstrom", "comment", "restraint_id",
]  # fmt: skip


def chai(rows: list[Row], sequence: str, lower: float, upper: float) -> str:
    """Chai-1 restraint CSV; res_idx is the residue letter + its 1-based index in its chain
    (Chai checks the letter against that chain's sequence)."""
    if not 0 <= lower <= upper:
        raise ContactplugError(f"Chai distances need 0 <= min <= max, got {lower} and {upper}")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CHAI_HEADER)
    for n, r in enumerate(rows):
        conf = "" if r.p is None else f"{r.p:.4f}"  # empty: Chai reads 1.0; never a raw score
        w.writerow(
            [
                r.chain_i,
                f"{sequence[r.i]}{r.pos_i}",
                r.chain_j,
                f"{sequence[r.j]}{r.pos_j}",
                "contact",
                conf,
                f"{lower:g}",
                f"{upper:g}",
                f"contactplug score {r.score:.4g}",
                f"restraint_{n}",
            ]
        )
    return buf.getvalue()


# ---------------------------------------------------------------- CSV / TSV
def table(
    rows: list[Row],
    sequence: str,
    delimiter: str,
    with_author: bool,
    chains: list | None = None,
) -> str:
    """i, j: 1-based map positions; for a complex (`chains`) also each residue's chain and
    1-based position in it (chain_i, res_i, chain_j, res_j)."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    where = ["chain_i", "res_i", "chain_j", "res_j"] if chains else []
    head = ["i", "j", *where, "resname_i", "resname_j", "score", "probability"]
    if with_author:
        head += ["author_i", "author_j"]
    w.writerow(head)
    for r in rows:
        line = [
            r.i + 1,
            r.j + 1,
            *([r.chain_i, r.pos_i, r.chain_j, r.pos_j] if chains else []),
            ONE_TO_THREE.get(sequence[r.i], "UNK"),
            ONE_TO_THREE.get(sequence[r.j], "UNK"),
            f"{r.score:.6g}",
            "" if r.p is None else f"{r.p:.4f}",
        ]
        if with_author:
            line += [r.author_i or "", r.author_j or ""]
        w.writerow(line)
    return buf.getvalue()
