"""ChimeraX: contacts as a pseudobond file (.pb) and a command script (.cxc) that opens the
structure and the pseudobonds.

The .pb format (ChimeraX User Guide, "Pseudobonds", Pseudobond Files): plain text, one
pseudobond a line, columns separated by spaces (so no column holds one): two atom
specifiers, then an optional colour; blank lines and comment lines starting with `;`, of
which `; radius = R`, `; dashes = N`, `; color = C` and `; halfbond = true|false` set what
the following lines get. We write `/A:12@CB /B:40@CB #1a9850`: chain, residue (the
structure's numbering when known, else the 1-based position in its chain), the atom a
contact is measured between (CB, CA for Gly), and a hex colour (never a colour name, which
may hold a space). No model number: the specifiers bind to the structure the script opens.

Colours: by truth against --structure (CB-CB < 8 A, virtual CB for Gly, as everywhere in
contactplug), or by calibrated probability; where neither is known, one colour, said in a
comment line. ChimeraX runs a .cxc with its own folder as the current one, so the script
names the .pb by its file name and the structure by its path relative to the script.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from contactplug.files.contactmap import ContactMap
from contactplug.files.errors import ContactplugError, arg
from contactplug.restraints.writers import Row, atom_for

COLORS = ("auto", "truth", "probability")
TRUE, FALSE, UNKNOWN = "#1a9850", "#d73027", "#969696"  # in contact, not, no coordinates
PLAIN = "#ffd700"  # neither truth nor probability known
LOW, HIGH = np.array([0xFE, 0xE0, 0x8B]), np.array([0x7B, 0x32, 0x94])  # p = 0 .. p = 1
RADIUS = {"intra": 0.15, "inter": 0.3}  # inter-chain pairs drawn thicker: they are the news
DASHES = 6
CUTOFF = 8.0


def script_path(out: str | os.PathLike) -> Path:
    """The .cxc beside the .pb: `x.pb` -> `x.cxc`."""
    out = Path(out)
    return out.with_suffix(".cxc") if out.suffix else out.with_name(out.name + ".cxc")


def spec(chain: str, residue: str, atom: str) -> str:
    """`/A:12@CB`; a blank chain id has no `/` part, which ChimeraX reads as any chain."""
    return f"/{chain}:{residue}@{atom}" if chain else f":{residue}@{atom}"


def pseudobonds(
    cmap: ContactMap, rows: list[Row], num, structure: str | None, color: str = "auto"
) -> str:
    """The .pb text: settings lines, then one line per pair, intra-chain pairs first."""
    if color not in COLORS:
        raise ContactplugError(f"{arg('color', value=repr(color))}: choose {', '.join(COLORS)}")
    if color == "truth" and structure is None:
        raise ContactplugError(
            f"{arg('color', value='truth')} needs {arg('structure', 'FILE')} (the true distances)"
        )
    have_p = any(r.p is not None for r in rows)
    by = "truth" if color == "truth" or (color == "auto" and structure) else "probability"
    if by == "probability" and not have_p:
        if color == "probability" and rows:
            raise ContactplugError(
                f"{cmap.id}: {arg('color', value='probability')} needs a calibration"
            )
        by = "plain"
    colours = _truth_colours(rows, num, structure) if by == "truth" else None
    out = [f"; contactplug {cmap.method} contacts of {cmap.id} ({Path(cmap.model).name}): "
           f"{len(rows)} pairs"]  # fmt: skip
    if not cmap.is_complex and rows and rows[0].chain_i == "":
        _check_blank_chain(cmap, structure)
        out.append("; the chain id is blank: residues are named without one (any chain's)")
    out.append(f"; colour: {_legend(by, structure)}")
    out.append(f"; dashes = {DASHES}")
    for kind in ("intra", "inter"):
        part = [(n, r) for n, r in enumerate(rows) if (r.chain_i != r.chain_j) == (kind == "inter")]
        if not part:
            continue
        out.append(f"; {kind}-chain pairs, best first")
        out.append(f"; radius = {RADIUS[kind]}")
        for n, r in part:
            if colours is not None:
                hue = colours[n]
            elif by == "probability":
                hue = UNKNOWN if r.p is None else _ramp(r.p)
            else:
                hue = PLAIN
            a = spec(r.chain_i, r.res_i, atom_for(cmap.sequence[r.i]))
            b = spec(r.chain_j, r.res_j, atom_for(cmap.sequence[r.j]))
            out.append(f"{a} {b} {hue}")
    return "".join(line + "\n" for line in out)


def _legend(by: str, structure: str | None) -> str:
    if by == "truth":
        return (f"truth against {Path(structure).name}: {TRUE} CB-CB < {CUTOFF:g} A, {FALSE} "
                f"farther, {UNKNOWN} atoms missing")  # fmt: skip
    if by == "probability":
        return (f"calibrated probability, #{_hex(LOW)} (p = 0) to #{_hex(HIGH)} (p = 1); "
                f"{UNKNOWN}: no probability (no inter-chain calibration)")  # fmt: skip
    return f"{PLAIN} throughout: no structure to judge by and no calibration"


def _hex(rgb: np.ndarray) -> str:
    return "".join(f"{int(round(v)):02x}" for v in rgb)


def _ramp(p: float) -> str:
    return "#" + _hex(LOW + (HIGH - LOW) * min(max(p, 0.0), 1.0))


def _truth_colours(rows: list[Row], num, structure: str) -> list[str]:
    """Per row: in contact (CB-CB < 8 A) in the structure, not, or unknown (no coordinates)."""
    from contactplug.inputs.structure import read_chain

    if num is None or num.source is None:
        raise ContactplugError(
            f"{arg('color', value='truth')} needs the map aligned to {arg('structure')}"
        )
    coords: dict[str, np.ndarray] = {}
    out = []
    for r in rows:
        xyz = []
        for k, chain in ((r.i, r.chain_i), (r.j, r.chain_j)):
            if chain not in coords:
                coords[chain] = read_chain(structure, chain).cb
            at = num.chain_index[k]
            xyz.append(coords[chain][at] if at >= 0 else np.full(3, np.nan))
        d = float(np.linalg.norm(xyz[0] - xyz[1]))
        out.append(UNKNOWN if not np.isfinite(d) else TRUE if d < CUTOFF else FALSE)
    return out


def script(
    pb_name: str, pb_text: str, structure: str | None, cmap: ContactMap, folder: Path
) -> str:
    """The .cxc: open the structure (when known) and the pseudobonds, show their end atoms
    (a pseudobond is drawn only when both its atoms are shown) and keep the cartoon from
    hiding the ones on the backbone."""
    out = [f"# contactplug: contacts of {cmap.id} as ChimeraX pseudobonds ({pb_name})"]
    if structure is not None:
        where = os.path.relpath(os.path.abspath(structure), os.path.abspath(folder))
        out.append(f"open {_quoted(where)}")
    else:
        out.append("# no --structure given: open your structure first, then this script")
    out.append(f"open {_quoted(pb_name)}")
    ends = _end_atoms(pb_text)
    if ends:
        out.append(f"show {' '.join(ends)} atoms")
        out.append("cartoon suppress false")
    return "".join(line + "\n" for line in out)


def _end_atoms(pb_text: str) -> list[str]:
    """The pseudobonds' atoms, grouped by chain and atom name, from the .pb text."""
    groups: dict[tuple[str, str], list[str]] = {}
    for line in pb_text.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        for word in line.split()[:2]:
            chain, rest = word[1:].split(":", 1) if word.startswith("/") else ("", word[1:])
            residue, atom = rest.split("@", 1)
            seen = groups.setdefault((chain, atom), [])
            if residue not in seen:
                seen.append(residue)
    return [spec(c, ",".join(res), a) for (c, a), res in groups.items()]


def _check_blank_chain(cmap: ContactMap, structure: str | None) -> None:
    """ChimeraX cannot name a blank chain: residues without a chain name every chain's, right
    only when the structure has no other protein chain (checked when it is given)."""
    if structure is None:
        return
    from contactplug.inputs.structure import protein_chains

    others = [name for name in protein_chains(structure) if name != ""]
    if others:
        raise ContactplugError(
            f"{cmap.id}: its chain id is blank and {Path(structure).name} has other protein "
            f"chains ({', '.join(others)}); ChimeraX cannot name a blank chain (':12' means "
            "every chain's residue 12): give the chain a letter in the structure"
        )


def _quoted(path: str) -> str:
    return f'"{path}"' if any(ch.isspace() for ch in path) else path
