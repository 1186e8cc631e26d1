"""Contacts as PyMOL distance objects: one group per object and chain (and per chain pair of
a complex), one object per pair.

Names: group `<prefix>_<object>_<chain>` (`<prefix>_<object>` for a blank chain), a chain
pair's inter-chain group `<prefix>_<object>_<chain>_<chain>`, pairs
`<group>_<label i>_<label j>` with author labels (resnum + insertion code, `m` for a minus).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .loaded_chains import Chain

CONTACT_CUTOFF = 8.0  # Angstrom between C-beta atoms, as the core's true contacts
TRUE_COLOR, FALSE_COLOR = "green", "red"
# score gradient (low -> high): blue, cyan, yellow, orange, magenta
RAMP = np.array(
    [[0.2, 0.3, 1.0], [0.0, 0.8, 0.9], [1.0, 0.9, 0.1], [1.0, 0.5, 0.0], [0.9, 0.0, 0.6]]
)
RAMP_STEPS = 10


@dataclass
class Drawn:
    group: str
    names: list[str]
    pairs: list[tuple[int, int, float]]  # the drawn ones, 0-based over chain.residues
    in_contact: list[bool | None]  # per drawn pair; None where truth could not be measured
    skipped: int
    score_range: tuple[float, float] | None = None  # the colour key of color_by=score

    @property
    def precision(self) -> float | None:
        known = [t for t in self.in_contact if t is not None]
        return sum(known) / len(known) if known else None

    @property
    def n_true(self) -> int:
        return sum(1 for t in self.in_contact if t)


def _token(text: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "m" if c == "-" else "_" for c in text)


def group_name(prefix: str, obj: str, chain: str, partner: str = "") -> str:
    """`<prefix>_<object>_<chain>`, and `..._<chain>_<partner>` for a chain pair's
    inter-chain contacts (complexes: their chains always have names)."""
    base = f"{prefix}_{obj}_{_token(chain)}" if chain else f"{prefix}_{obj}"
    return f"{base}_{_token(partner)}" if partner else base


def free_group(base: str, _self) -> str:
    """`base`, or `base_2`, `base_3`, ... when a group of that name is drawn already: a second
    file loaded onto the same chain is drawn beside the first, not over it."""
    taken = set(_self.get_names("all") or [])
    if base not in taken:
        return base
    n = 2
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"


def pair_name(group: str, label_i: str, label_j: str) -> str:
    return f"{group}_{_token(label_i)}_{_token(label_j)}"


def score_colors(_self) -> list[str]:
    """Named PyMOL colours along RAMP (defined once per instance)."""
    names = []
    x = np.linspace(0, len(RAMP) - 1, RAMP_STEPS)
    for k, t in enumerate(x):
        lo = int(np.floor(t))
        hi = min(lo + 1, len(RAMP) - 1)
        rgb = RAMP[lo] + (t - lo) * (RAMP[hi] - RAMP[lo])
        name = f"attn_score_{k}"
        _self.set_color(name, [float(v) for v in rgb])
        names.append(name)
    return names


def draw_pairs(
    chain: Chain,
    pairs: list[tuple[int, int, float]],
    group: str,
    color_by: str,
    _self,
    partner: Chain | None = None,
) -> Drawn:
    """Draw the group (replacing one of that name): one distance object per pair, labels
    hidden. i indexes chain.residues, j those of `partner` (another chain: inter-chain pairs)
    or of the same chain. A pair whose residue lacks its anchor atom (C-beta, C-alpha for Gly)
    is skipped: the rule `contactplug export --numbering author` applies too (README)."""
    delete_group(group, _self)
    second = partner or chain
    names, drawn, truth, skipped = [], [], [], 0
    for i, j, score in pairs:
        ri, rj = chain.residues[i], second.residues[j]
        ai, aj = ri.anchor(chain.ca_only), rj.anchor(second.ca_only)
        if ai is None or aj is None:
            skipped += 1
            continue
        name = pair_name(group, ri.label, rj.label)
        _self.distance(
            name,
            f"%{chain.obj} and index {ai[0]}",
            f"%{second.obj} and index {aj[0]}",
            cutoff=1000.0,  # draw whatever the distance: these are predictions
            mode=0,
            label=0,
            state=chain.state,
        )
        _self.hide("labels", name)
        cbi, cbj = ri.cb(chain.ca_only), rj.cb(second.ca_only)
        near = None if cbi is None or cbj is None else np.linalg.norm(cbi - cbj) < CONTACT_CUTOFF
        truth.append(None if near is None else bool(near))
        names.append(name)
        drawn.append((i, j, score))
    key = _color(names, drawn, truth, color_by, _self)
    if names:
        _self.group(group, " ".join(names))
    return Drawn(group, names, drawn, truth, skipped, key)


def _color(names, pairs, truth, color_by: str, _self) -> tuple[float, float] | None:
    """Colour each pair; for color_by=score, the (lowest, highest) score, the ramp's ends."""
    if color_by == "truth":
        for name, t in zip(names, truth, strict=True):
            color = "grey70" if t is None else TRUE_COLOR if t else FALSE_COLOR
            _self.set("dash_color", color, name)
        return None
    ramp = score_colors(_self)
    scores = np.array([p[2] for p in pairs], dtype=np.float64)
    if not len(scores):
        return None
    span = scores.max() - scores.min()
    level = (scores - scores.min()) / span if span > 0 else np.ones_like(scores)
    for name, x in zip(names, level, strict=True):
        _self.set("dash_color", ramp[int(round(x * (RAMP_STEPS - 1)))], name)
    return float(scores.min()), float(scores.max())


def color_key(low: float, high: float) -> str:
    """The ramp's words with the scores at its ends, for PyMOL's output."""
    return f"score {low:.4g} blue -> cyan -> yellow -> orange -> magenta {high:.4g}"


MEASUREMENT = 4  # PyMOL's object type code for distance objects in session records


def is_contact_group(group: str, _self) -> bool:
    """Whether `group` is one contactplug drew, whatever its name (name= groups too): its
    members, read from PyMOL's session record of the group, are all distance objects named
    <group>_<residue>_<residue>. A user's own group is never taken for one."""
    if group not in (_self.get_names_of_type("object:group") or []):
        return False
    members = [e for e in _self.get_session(group, partial=1)["names"] if e and e[6] == group]
    return bool(members) and all(
        e[4] == MEASUREMENT and e[0].startswith(f"{group}_") for e in members
    )


def delete_group(group: str, _self) -> bool:
    """Delete a group with the objects in it (PyMOL deletes members with the group)."""
    if group not in _self.get_names_of_type("object:group"):
        return False
    _self.delete(group)
    return True
