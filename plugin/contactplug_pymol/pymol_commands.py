"""The PyMOL commands: attncontacts, loadcontacts, attncontacts_clear."""

from __future__ import annotations

import os
import re
import time

from pymol import CmdException, cmd

from . import predictor
from .chains import Chain, chain_length, protein_chains
from .contact_files import parse_min_sep, parse_top, read_contacts
from .draw import Drawn, color_key, delete_group, draw_pairs, group_name, is_contact_group
from .messages import feedback
from .placing import FILE_PREFIX, file_group, map_positions, match_chains
from .predictor import DEFAULT_MODEL, METHODS

PREFIX = "attn"  # groups drawn by attncontacts
COLOR_BY = ("truth", "score")
# One distance object per pair: PyMOL's time per object grows with their number (headless,
# 2000 took 0.6 s and 4000 took 2.8 s), so a bigger `top` asks for force=1 first.
MAX_DRAWN = 2000


def _options(top, min_sep, color_by) -> tuple[int, int | None, str]:
    """Check the cheap arguments before any model work."""
    parse_top(top, 100)
    lo, hi = parse_min_sep(min_sep)
    color_by = str(color_by).strip().lower()
    if color_by not in COLOR_BY:
        raise CmdException(f"color_by={color_by!r}: choose truth or score")
    return lo, hi, color_by


def _flag(value, name: str) -> bool:
    text = str(value).strip().lower()
    if text in ("", "0", "no", "false", "off"):
        return False
    if text in ("1", "yes", "true", "on"):
        return True
    raise CmdException(f"{name}={value!r}: give 1 or 0")


def _candidates(length: int, lo: int, hi: int | None) -> int:
    """Pairs i < j of a chain with lo <= j - i <= hi."""
    top = length - 1 if hi is None else min(hi, length - 1)
    return sum(length - d for d in range(lo, top + 1))


def _check_count(count: int, top, force: bool) -> None:
    if count > MAX_DRAWN and not force:
        raise CmdException(
            f"top={top} would draw {count} distance objects, more than {MAX_DRAWN}: PyMOL "
            "slows down or stops responding; give a smaller top, or force=1 to draw them"
        )


def _summary(
    chain: Chain, drawn: Drawn, what: str, seconds: float, command: str, extra: str = ""
) -> dict:
    p = drawn.precision
    known = sum(1 for t in drawn.in_contact if t is not None)
    prec = "n/a" if p is None else f"{p:.2f} ({drawn.n_true}/{known})"
    if drawn.skipped:
        extra += f"; {drawn.skipped} pairs skipped (atoms absent)"
    if chain.ca_only:
        extra += "; C-alpha trace: drawn and measured CA-CA"
    feedback(
        f"{chain.title}: {what}, {len(drawn.names)} drawn as {drawn.group}, "
        f"precision {prec} against this structure, {seconds:.1f} s{extra}",
        command,
    )
    if drawn.score_range is not None:
        feedback(f"{drawn.group} colours: {color_key(*drawn.score_range)}", command)
    return {
        "group": drawn.group,
        "names": drawn.names,
        "pairs": drawn.pairs,
        "in_contact": drawn.in_contact,
        "skipped": drawn.skipped,
        "precision": p,
        "score_range": drawn.score_range,
    }


def _part_of_chain(chain: Chain, _self) -> dict | None:
    """When the selection holds only part of a chain: say so in one line, and return what
    the result (and the prediction's meta) carry. The selected residues are predicted as a
    protein of their own: a domain can be asked for alone, and it costs less."""
    whole = chain_length(chain, _self)
    n = len(chain.residues)
    if n >= whole:
        return None
    first, last = chain.residues[0].label, chain.residues[-1].label
    feedback(
        f"{chain.title}: the selection holds {n} of the chain's {whole} protein residues "
        f"({first}-{last}); predicted as a protein of its own, not in the context of the "
        "whole chain (select the whole chain for that)"
    )
    return {"selected": n, "chain": whole, "first": first, "last": last}


def attncontacts(
    selection: str = "",
    top: str = "L/5",
    method: str = "attention",
    model: str = DEFAULT_MODEL,
    min_sep: str = "6",
    color_by: str = "truth",
    top_k: str = "",
    force: str = "0",
    *,
    _self=cmd,
):
    """
    DESCRIPTION

        "attncontacts" predicts residue-residue contacts of each protein chain in
        the selection with a protein language model (contactplug) and draws the top
        pairs as dashed distances between C-beta atoms (C-alpha for Gly), grouped
        as attn_<object>_<chain>, one object per pair attn_<object>_<chain>_<i>_<j>
        (author residue numbers). Green: C-beta distance < 8 A in this structure
        (virtual C-beta for Gly); red: farther apart.

    USAGE

        attncontacts [ selection [, top [, method [, model [, min_sep [, color_by
                     [, top_k [, force ]]]]]]]]

    ARGUMENTS

        selection = str: atoms whose protein chains are used {default: enabled objects}.
                    Part of a chain is predicted as a protein of its own (said in a line).

        top = str: number of pairs per chain, L, L/2, L/5, or all {default: L/5}

        method = attention | esm-head | all-heads | jacobian | repr-jacobian
                 {default: attention}. jacobian runs 20*L+1 forward passes (slow): the
                 logit Jacobian, or repr-jacobian when the model has no MLM head

        model = str: ESM name, fair-esm .pt file or HuggingFace folder
                {default: esm2_t6_8M_UR50D; offline: model=/path/to/folder}

        min_sep = int, A-B, or short (6-11) | medium (12-23) | long (>= 24) {default: 6}

        color_by = truth | score {default: truth}; score prints its colour key

        top_k = int: number of attention heads to combine (method attention) {default: model's}

        force = 0 | 1: draw more than 2000 pairs {default: 0}

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
        if top_k < 1:
            raise CmdException(
                f"top_k={top_k}: give 1 or more heads, or leave top_k out for the model's own K"
            )
    else:
        top_k = None
    force = _flag(force, "force")
    chains = protein_chains(selection or "enabled", _self.get_state(), _self)
    sizes = [len(c.residues) for c in chains]
    count = sum(
        min(_candidates(n, lo, hi), parse_top(top, n) or _candidates(n, lo, hi)) for n in sizes
    )
    _check_count(count, top, force)  # before any model work
    parts = [_part_of_chain(c, _self) for c in chains]
    records = [(f"{c.obj}_{c.chain}" if c.chain else c.obj, c.sequence) for c in chains]
    preds = predictor.predict(records, model=str(model), method=str(method), top_k=top_k)
    per_chain = (time.time() - start) / len(chains)
    results = []
    for chain, pred, part in zip(chains, preds, parts, strict=True):
        t0 = time.time()
        n = parse_top(top, len(chain.residues))
        group = group_name(PREFIX, chain.obj, chain.chain)
        drawn = draw_pairs(chain, pred.pairs(lo, hi, n), group, color_by, _self)
        what = f"model {pred.model or model}, method {pred.method or method}"
        extra = ""
        if part is not None:
            pred.meta["part_of_chain"] = part
            extra = f"; part of the chain: {part['selected']} of {part['chain']} residues"
        seconds = per_chain + time.time() - t0
        results.append(_summary(chain, drawn, what, seconds, "attncontacts", extra))
        results[-1]["part_of_chain"] = part
    return results


def loadcontacts(
    filename: str,
    selection: str = "",
    top: str = "L/5",
    min_sep: str = "6",
    color_by: str = "truth",
    name: str = "",
    force: str = "0",
    *,
    _self=cmd,
):
    """
    DESCRIPTION

        "loadcontacts" draws precomputed contacts onto a loaded structure: a
        contactplug .npz (from `contactplug predict` or the Nextflow pipeline) or
        a CASP RR file (1-based `i j d1 d2 p` or `i j p`). npz files that carry
        author numbering (resnum/icode) are placed by it; otherwise position k is
        the k-th protein residue of the selection. Groups: lc_<object>_<chain>; a
        second file on the same chain is drawn beside the first as
        lc_<object>_<chain>_2 (and so on), or under the group name given by name=.

    USAGE

        loadcontacts filename [, selection [, top [, min_sep [, color_by [, name
                     [, force ]]]]]]

    ARGUMENTS

        filename = str: .npz or RR file

        selection = str: the chain to draw on {default: enabled objects}

        top = str: number of pairs, L, L/2, L/5, or all {default: L/5}

        min_sep = int, A-B, or short | medium | long {default: 6}

        color_by = truth | score {default: truth}

        name = str: the group to draw into (replaced if it exists) {default: a new lc_ group}

        force = 0 | 1: draw more than 2000 pairs {default: 0}

    EXAMPLE

        load 1eaz.pdb
        loadcontacts 1eaz.rr, 1eaz, L, long
        loadcontacts results/maps/1eaz.npz, color_by=score
        loadcontacts results/jacobian/1eaz.npz, 1eaz, name=cj_1eaz

    SEE ALSO

        attncontacts, attncontacts_clear
    """
    start = time.time()
    lo, hi, color_by = _options(top, min_sep, color_by)
    force = _flag(force, "force")
    name = str(name).strip()
    if name and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*", name):
        raise CmdException(f"name={name!r}: use letters, digits and _ . + - in a group name")
    pred = read_contacts(filename)
    chains = protein_chains(selection or "enabled", _self.get_state(), _self)
    plans = []
    for chain in match_chains(pred, chains, filename):
        mapping = map_positions(pred, chain, filename)
        n = parse_top(top, len(chain.residues))
        pairs, absent = [], 0
        for i, j, s in pred.pairs(lo, hi):
            if len(pairs) == n:
                break
            if max(i, j) >= len(mapping) or mapping[i] < 0 or mapping[j] < 0:
                absent += 1  # the file's residue is not in this chain/selection
                continue
            pairs.append((int(mapping[i]), int(mapping[j]), s))
        plans.append((chain, pairs, absent))
    _check_count(sum(len(pairs) for _, pairs, _ in plans), top, force)
    results = []
    for chain, pairs, absent in plans:
        group, note = file_group(chain, name, len(plans), _self)
        drawn = draw_pairs(chain, pairs, group, color_by, _self)
        drawn.skipped += absent
        kind = f"{pred.method} contacts" if pred.method not in ("", "rr") else "contacts"
        what = f"{kind} from {os.path.basename(filename)}"
        seconds = time.time() - start
        results.append(_summary(chain, drawn, what, seconds, "loadcontacts", note))
    return results


def attncontacts_clear(selection: str = "", *, _self=cmd) -> int:
    """
    DESCRIPTION

        "attncontacts_clear" deletes the contact groups drawn by attncontacts and
        loadcontacts, for the objects in the selection or everywhere. Groups drawn
        under name= belong to no one object: attncontacts_clear without a selection
        deletes them too (or: delete <name>).

    USAGE

        attncontacts_clear [ selection ]

    EXAMPLE

        attncontacts_clear 1eaz
    """
    groups = _self.get_names_of_type("object:group") or []
    if not str(selection).strip():
        doomed = [
            g
            for g in groups
            if g.startswith((f"{PREFIX}_", f"{FILE_PREFIX}_")) or is_contact_group(g, _self)
        ]
    else:
        try:
            objects = _self.get_object_list(f"({selection})") or []
        except CmdException:
            raise CmdException(f"invalid selection {selection!r}") from None
        bases = {
            group_name(prefix, obj, chain)
            for obj in objects
            for chain in _self.get_chains(obj) or [""]
            for prefix in (PREFIX, FILE_PREFIX)
        }
        # lc_<object>_<chain> and the ones drawn beside it, lc_<object>_<chain>_2, ...
        doomed = [g for g in groups if g in bases or re.sub(r"_\d+$", "", g) in bases]
    removed = sum(delete_group(g, _self) for g in doomed)
    feedback(f"removed {removed} contact group{'s' if removed != 1 else ''}", "attncontacts_clear")
    return removed


def method_names() -> list[str]:
    return list(METHODS)
