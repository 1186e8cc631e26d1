"""The PyMOL commands: attncontacts, loadcontacts, attncontacts_clear."""

from __future__ import annotations

import os
import re
import time

import numpy as np
from pymol import CmdException, cmd

from . import predictor
from .complex_chains import chain_pairs, prediction_sets, record_of
from .contact_files import parse_min_sep, parse_top, read_contacts
from .draw import delete_group, group_name, is_contact_group
from .loaded_chains import Chain, chain_length, protein_chains
from .map_blocks import draw_block, plan, planned_count, summarise
from .messages import feedback
from .placing import FILE_PREFIX, Placed, file_group, place
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


def _check_count(count: int, top, force: bool) -> None:
    if count > MAX_DRAWN and not force:
        raise CmdException(
            f"top={top} would draw {count} distance objects, more than {MAX_DRAWN}: PyMOL "
            "slows down or stops responding; give a smaller top, or force=1 to draw them"
        )


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
    complex: str = "0",
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

        With complex=1 the protein chains of each object in the selection are
        predicted as one complex: each chain's own pairs as above, and each chain
        pair's inter-chain pairs between the two chains' atoms, grouped as
        attn_<object>_<A>_<B>, ranked on their own (top counts from the shorter
        chain), with the inter-chain precision and its random baseline (the
        fraction of that chain pair's residue pairs in contact) in the summary.

    USAGE

        attncontacts [ selection [, top [, method [, model [, min_sep [, color_by
                     [, top_k [, force [, complex ]]]]]]]]]

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

        complex = 0 | 1: predict each object's chains as one complex {default: 0}

    EXAMPLE

        fetch 1ubq, async=0
        attncontacts 1ubq, L/2, min_sep=long
        fetch 1tii, async=0
        attncontacts 1tii and chain A+C, 10, complex=1
        attncontacts chain A, 30, esm-head, model=/data/esm2_t12_35M_UR50D.pt, color_by=score
        attncontacts_clear

    SEE ALSO

        loadcontacts, attncontacts_clear
    """
    start = time.time()
    lo, hi, color_by = _options(top, min_sep, color_by)
    method, top_k = _method_arg(method), _top_k_arg(top_k)
    force, as_complex = _flag(force, "force"), _flag(complex, "complex")
    chains = protein_chains(selection or "enabled", _self.get_state(), _self)
    sets = prediction_sets(chains, as_complex)
    count = planned_count([[len(c.residues) for c in s] for s in sets], top, lo, hi)
    _check_count(count, top, force)  # before any model work
    parts = [{c.chain: _part_of_chain(c, _self) for c in s} for s in sets]
    records = [record_of(s) for s in sets]
    maps = predictor.predict(records, model=str(model), method=str(method), top_k=top_k)
    n_blocks = sum(len(s) + len(s) * (len(s) - 1) // 2 for s in sets)
    per_block = (time.time() - start) / n_blocks
    results = []
    for group, cmap, part in zip(sets, maps, parts, strict=True):
        what = f"model {cmap.model or model}, method {cmap.method or method}"
        results += _draw_prediction(
            cmap, group, part, per_block, (top, lo, hi, color_by, what), _self
        )
    return results


def _draw_prediction(cmap, group: list[Chain], part: dict, per_block: float, args, _self):
    """One prediction's groups and summary lines: each chain's, then each chain pair's."""
    top, lo, hi, color_by, what = args
    if any(part.values()):
        cmap.meta["part_of_chain"] = part if cmap.is_complex else part[group[0].chain]
    placed = [Placed(c, np.arange(len(c.residues))) for c in group]
    results = []
    for block in plan(cmap, placed, top, lo, hi):
        t0 = time.time()
        chain, partner = block.first.chain, block.partner
        name = group_name(PREFIX, chain.obj, chain.chain, partner.chain if partner else "")
        drawn = draw_block(block, name, color_by, _self)
        piece = part[chain.chain] if partner is None else None
        extra = ""
        if piece is not None:
            extra = f"; part of the chain: {piece['selected']} of {piece['chain']} residues"
        seconds = per_block + time.time() - t0
        results.append(summarise(block, drawn, what, seconds, "attncontacts", extra))
        results[-1]["part_of_chain"] = piece
    return results


def _method_arg(method) -> str:
    method = str(method).strip().lower()
    if method not in METHODS:
        raise CmdException(f"method={method!r}: choose from {', '.join(METHODS)}")
    return method


def _top_k_arg(top_k) -> int | None:
    if not str(top_k).strip():
        return None
    try:
        top_k = int(top_k)
    except ValueError:
        raise CmdException(f"top_k={top_k!r}: give a number of heads") from None
    if top_k < 1:
        raise CmdException(
            f"top_k={top_k}: give 1 or more heads, or leave top_k out for the model's own K"
        )
    return top_k


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
        A complex's file (npz with chain_ids, or an RR file whose residues carry
        chain letters with a `REMARK chains A 1-186 C 187-222` line of spans, as
        `contactplug export -f casp-rr` writes) is drawn on the object holding its
        chains (by name, or in order when the names differ and the sequences match):
        a group per chain and one per chain pair, lc_<object>_<A>_<B>, as
        attncontacts complex=1 draws.

    USAGE

        loadcontacts filename [, selection [, top [, min_sep [, color_by [, name
                     [, force ]]]]]]

    ARGUMENTS

        filename = str: .npz, RR file, or a pairs store as pairs.parquet#ID

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
    cmap = read_contacts(filename)
    chains = protein_chains(selection or "enabled", _self.get_state(), _self)
    blocks = [
        b for placed in place(cmap, chains, filename) for b in plan(cmap, placed, top, lo, hi)
    ]
    _check_count(sum(len(b.pairs) for b in blocks), top, force)
    kind = f"{cmap.method} contacts" if cmap.method not in ("", "rr") else "contacts"
    what = f"{kind} from {os.path.basename(filename)}"
    results = []
    for block in blocks:
        group, note = file_group(block.first.chain, name, len(blocks), _self, block.partner)
        drawn = draw_block(block, group, color_by, _self)
        seconds = time.time() - start
        results.append(summarise(block, drawn, what, seconds, "loadcontacts", note))
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
            group_name(prefix, obj, *names)
            for obj in objects
            for names in _own_groups(_self.get_chains(obj) or [""])
            for prefix in (PREFIX, FILE_PREFIX)
        }
        # lc_<object>_<chain>[_<chain>] and the ones drawn beside it, lc_<object>_<chain>_2, ...
        doomed = [g for g in groups if g in bases or re.sub(r"_\d+$", "", g) in bases]
    removed = sum(delete_group(g, _self) for g in doomed)
    feedback(f"removed {removed} contact group{'s' if removed != 1 else ''}", "attncontacts_clear")
    return removed


def _own_groups(chains: list[str]) -> list[tuple[str, ...]]:
    """An object's chains, and its chain pairs (a complex's inter-chain groups)."""
    return [(c,) for c in chains] + chain_pairs([c for c in chains if c])


def method_names() -> list[str]:
    return list(METHODS)
