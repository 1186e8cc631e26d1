"""The PyMOL commands: attncontacts, loadcontacts, attncontacts_clear."""

from __future__ import annotations

import os
import time

import numpy as np
from pymol import CmdException, cmd

from . import predictor
from .chains import Chain, protein_chains
from .draw import Drawn, delete_group, draw_pairs, group_name
from .files import Prediction, parse_min_sep, parse_top, read_contacts
from .predictor import DEFAULT_MODEL, METHODS, feedback

PREFIX = "attn"  # groups drawn by attncontacts
FILE_PREFIX = "lc"  # groups drawn by loadcontacts
COLOR_BY = ("truth", "score")


def _options(top, min_sep, color_by) -> tuple[int, int | None, str]:
    """Check the cheap arguments before any model work."""
    parse_top(top, 100)
    lo, hi = parse_min_sep(min_sep)
    color_by = str(color_by).strip().lower()
    if color_by not in COLOR_BY:
        raise CmdException(f"color_by={color_by!r}: choose truth or score")
    return lo, hi, color_by


def _summary(chain: Chain, drawn: Drawn, what: str, seconds: float) -> dict:
    p = drawn.precision
    known = sum(1 for t in drawn.in_contact if t is not None)
    prec = "n/a" if p is None else f"{p:.2f} ({drawn.n_true}/{known})"
    extra = ""
    if drawn.skipped:
        extra += f"; {drawn.skipped} pairs skipped (atoms absent)"
    if chain.ca_only:
        extra += "; C-alpha trace: drawn and measured CA-CA"
    feedback(
        f"{chain.title}: {what}, {len(drawn.names)} drawn as {drawn.group}, "
        f"precision {prec} against this structure, {seconds:.1f} s{extra}"
    )
    return {
        "group": drawn.group,
        "names": drawn.names,
        "pairs": drawn.pairs,
        "in_contact": drawn.in_contact,
        "skipped": drawn.skipped,
        "precision": p,
    }


def attncontacts(
    selection: str = "",
    top: str = "L/5",
    method: str = "attention",
    model: str = DEFAULT_MODEL,
    min_sep: str = "6",
    color_by: str = "truth",
    top_k: str = "",
    *,
    _self=cmd,
):
    """
    DESCRIPTION

        "attncontacts" predicts residue-residue contacts of each protein chain in
        the selection with an ESM-2 language model (contactplug) and draws the top
        pairs as dashed distances between C-beta atoms (C-alpha for Gly), grouped
        as attn_<object>_<chain>, one object per pair attn_<object>_<chain>_<i>_<j>
        (author residue numbers). Green: C-beta distance < 8 A in this structure
        (virtual C-beta for Gly); red: farther apart.

    USAGE

        attncontacts [ selection [, top [, method [, model [, min_sep [, color_by [, top_k ]]]]]]]

    ARGUMENTS

        selection = str: atoms whose protein chains are used {default: enabled objects}

        top = str: number of pairs per chain, or L, L/2, L/5 {default: L/5}

        method = attention | esm-head | all-heads | jacobian {default: attention}
                 (jacobian runs 20*L+1 forward passes: slow)

        model = str: ESM name, fair-esm .pt file or HuggingFace folder
                {default: esm2_t6_8M_UR50D}

        min_sep = int, A-B, or short (6-11) | medium (12-23) | long (>= 24) {default: 6}

        color_by = truth | score {default: truth}

        top_k = int: number of attention heads to combine (method attention) {default: model's}

    EXAMPLE

        fetch 1ubq, async=0
        attncontacts 1ubq, L/2, min_sep=long
        attncontacts chain A, 30, esm-head, model=/data/esm2_t12_35M_UR50D.pt, color_by=score
        attncontacts_clear

    SEE ALSO

        loadcontacts, attncontacts_clear
    """
    start = time.time()
    lo, hi, color_by = _options(top, min_sep, color_by)
    method = str(method).strip().lower()
    if method not in METHODS:
        raise CmdException(f"method={method!r}: choose from {', '.join(METHODS)}")
    if str(top_k).strip():
        try:
            top_k = int(top_k)
        except ValueError:
            raise CmdException(f"top_k={top_k!r}: give a number of heads") from None
    else:
        top_k = None
    chains = protein_chains(selection or "enabled", _self.get_state(), _self)
    records = [(f"{c.obj}_{c.chain}" if c.chain else c.obj, c.sequence) for c in chains]
    preds = predictor.predict(records, model=str(model), method=str(method), top_k=top_k)
    per_chain = (time.time() - start) / len(chains)
    results = []
    for chain, pred in zip(chains, preds, strict=True):
        t0 = time.time()
        n = parse_top(top, len(chain.residues))
        drawn = draw_pairs(chain, pred.pairs(lo, hi, n), PREFIX, color_by, _self)
        what = f"model {pred.model or model}, method {pred.method or method}"
        seconds = per_chain + time.time() - t0
        results.append(_summary(chain, drawn, what, seconds))
    return results


def _match_chains(pred: Prediction, chains: list[Chain], path: str) -> list[Chain]:
    """Chains the file belongs to: its own chain id, else those whose sequence it is."""
    if len(chains) == 1:
        return chains
    if pred.chain is not None:
        named = [c for c in chains if c.chain == pred.chain]
        if named:
            return named
    if pred.sequence:
        same = [c for c in chains if c.sequence == pred.sequence]
        if same:
            return same
    names = ", ".join(c.title for c in chains)
    raise CmdException(f"{path}: cannot tell which chain it belongs to ({names}); select one")


def _map_positions(pred: Prediction, chain: Chain, path: str) -> np.ndarray:
    """File position -> index into chain.residues (-1 where the chain lacks it)."""
    if pred.resnum is not None:
        where = {(r.resv, r.ins): k for k, r in enumerate(chain.residues)}
        icode = pred.icode if pred.icode is not None else [""] * pred.length
        mapping = np.array(
            [
                where.get((int(n), str(c).strip()), -1)
                for n, c in zip(pred.resnum, icode, strict=True)
            ]
        )
        hit = mapping >= 0
        if not hit.any():
            raise CmdException(f"{path}: none of its residue numbers are in {chain.title}")
        if pred.sequence:
            letters = np.array([chain.residues[k].letter for k in mapping[hit]])
            wrong = int((letters != np.array(list(pred.sequence))[hit]).sum())
            if wrong > hit.sum() // 10:
                raise CmdException(
                    f"{path}: {wrong} of {hit.sum()} numbered residues differ from "
                    f"{chain.title}; is this the right structure?"
                )
        return mapping
    n = len(chain.residues)
    if pred.length > n:
        raise CmdException(
            f"{path}: {pred.length} positions but {chain.title} has {n} residues in the selection"
        )
    if pred.sequence and pred.sequence != chain.sequence[: pred.length]:
        differ = sum(a != b for a, b in zip(pred.sequence, chain.sequence, strict=False))
        raise CmdException(
            f"{path}: its sequence differs from {chain.title} at {differ} positions "
            f"(lengths {pred.length} and {n}); select the matching residues"
        )
    return np.arange(pred.length)


def loadcontacts(
    filename: str,
    selection: str = "",
    top: str = "L/5",
    min_sep: str = "6",
    color_by: str = "truth",
    *,
    _self=cmd,
):
    """
    DESCRIPTION

        "loadcontacts" draws precomputed contacts onto a loaded structure: a
        contactplug .npz (from `contactplug predict` or the Nextflow pipeline) or
        a CASP RR file (1-based `i j d1 d2 p` or `i j p`). npz files that carry
        author numbering (resnum/icode) are placed by it; otherwise position k is
        the k-th protein residue of the selection. Groups: lc_<object>_<chain>.

    USAGE

        loadcontacts filename [, selection [, top [, min_sep [, color_by ]]]]

    ARGUMENTS

        filename = str: .npz or RR file

        selection = str: the chain to draw on {default: enabled objects}

        top = str: number of pairs, or L, L/2, L/5 {default: L/5}

        min_sep = int, A-B, or short | medium | long {default: 6}

        color_by = truth | score {default: truth}

    EXAMPLE

        load 1eaz.pdb
        loadcontacts 1eaz.rr, 1eaz, L, long
        loadcontacts results/maps/1eaz.npz, color_by=score

    SEE ALSO

        attncontacts, attncontacts_clear
    """
    start = time.time()
    lo, hi, color_by = _options(top, min_sep, color_by)
    pred = read_contacts(filename)
    chains = protein_chains(selection or "enabled", _self.get_state(), _self)
    results = []
    for chain in _match_chains(pred, chains, filename):
        mapping = _map_positions(pred, chain, filename)
        n = parse_top(top, len(chain.residues))
        pairs, absent = [], 0
        for i, j, s in pred.pairs(lo, hi):
            if len(pairs) == n:
                break
            if max(i, j) >= len(mapping) or mapping[i] < 0 or mapping[j] < 0:
                absent += 1  # the file's residue is not in this chain/selection
                continue
            pairs.append((int(mapping[i]), int(mapping[j]), s))
        drawn = draw_pairs(chain, pairs, FILE_PREFIX, color_by, _self)
        drawn.skipped += absent
        kind = f"{pred.method} contacts" if pred.method not in ("", "rr") else "contacts"
        what = f"{kind} from {os.path.basename(filename)}"
        results.append(_summary(chain, drawn, what, time.time() - start))
    return results


def attncontacts_clear(selection: str = "", *, _self=cmd) -> int:
    """
    DESCRIPTION

        "attncontacts_clear" deletes the contact groups drawn by attncontacts and
        loadcontacts, for the objects in the selection or everywhere.

    USAGE

        attncontacts_clear [ selection ]

    EXAMPLE

        attncontacts_clear 1eaz
    """
    groups = _self.get_names_of_type("object:group") or []
    if not str(selection).strip():
        doomed = [g for g in groups if g.startswith((f"{PREFIX}_", f"{FILE_PREFIX}_"))]
    else:
        try:
            objects = _self.get_object_list(f"({selection})") or []
        except CmdException:
            raise CmdException(f"invalid selection {selection!r}") from None
        doomed = [
            group_name(prefix, obj, chain)
            for obj in objects
            for chain in _self.get_chains(obj) or [""]
            for prefix in (PREFIX, FILE_PREFIX)
        ]
    removed = sum(delete_group(g, _self) for g in doomed)
    feedback(f"removed {removed} contact group{'s' if removed != 1 else ''}")
    return removed


def method_names() -> list[str]:
    return list(METHODS)
