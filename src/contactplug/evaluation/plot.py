"""Contact-map PNGs. Uses matplotlib's object API (no pyplot), so no GUI backend is touched."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from contactplug.evaluation.precision import precision
from contactplug.files.atomic import atomic_path
from contactplug.files.contactmap import ContactMap
from contactplug.files.errors import ContactplugError
from contactplug.inputs.structure import (
    align,
    contacts_from_coords,
    query_coords,
    read_chain,
)

MIN_SEP = 6
CORRECT = "#1f77b4"
WRONG = "#d62728"
TRUE_GREY = "#c8c8c8"


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Atomic PNG write without a timestamp or version in the metadata (byte-stable output)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
    return Path(path)


def draw_map(
    ax: Axes,
    cmap: ContactMap,
    contacts: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    top: int | None = None,
    title: str | None = None,
) -> None:
    """Without truth: scores in the upper triangle, the top pairs as dots in the lower one.
    With truth: true contacts in grey (both triangles), the top predicted pairs (|i-j| >= 6)
    in the upper triangle coloured correct / incorrect; unresolved residues shaded."""
    L = cmap.length
    top = L if top is None else top
    pairs = cmap.pairs(min_sep=MIN_SEP, top=top)
    pi = np.array([p[0] for p in pairs], dtype=int)
    pj = np.array([p[1] for p in pairs], dtype=int)
    size = max(1.0, 1000.0 / max(L, 1))
    if contacts is None:
        upper = np.where(np.triu(np.ones((L, L), bool), 1), cmap.contacts, np.nan)
        ax.imshow(upper, cmap="Blues", origin="upper", interpolation="nearest")
        ax.scatter(pi, pj, s=size, c="#d62728", marker="s", linewidths=0)
    else:
        ti, tj = np.nonzero(contacts & (np.abs(np.subtract.outer(np.arange(L), np.arange(L))) > 0))
        ax.scatter(tj, ti, s=size, c=TRUE_GREY, marker="s", linewidths=0, label="true contact")
        if valid is not None:
            missing = np.flatnonzero(~np.diag(valid))
            for k in missing:
                ax.axvspan(k - 0.5, k + 0.5, color="#f3e3c3", lw=0, zorder=0)
                ax.axhspan(k - 0.5, k + 0.5, color="#f3e3c3", lw=0, zorder=0)
        hit = contacts[pi, pj] if len(pi) else np.zeros(0, bool)
        ax.scatter(pj[hit], pi[hit], s=size * 1.3, c=CORRECT, marker="o", label="correct")
        ax.scatter(pj[~hit], pi[~hit], s=size * 1.3, c=WRONG, marker="x", label="incorrect")
        ax.legend(loc="lower left", fontsize=6, markerscale=1.5, frameon=False)
    ax.set_xlim(-0.5, L - 0.5)
    ax.set_ylim(L - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_xlabel("residue", fontsize=7)
    ax.set_ylabel("residue", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.set_title(title or f"{cmap.id} {cmap.method}", fontsize=8)


def plot_map(
    cmap: ContactMap,
    out_png: str | os.PathLike,
    structure: str | os.PathLike | None = None,
    chain: str | None = None,
    top: int | None = None,
    cutoff: float = 8.0,
) -> Path:
    """One PNG of a map; with a structure the top-L pairs are marked correct or incorrect."""
    if not str(out_png).lower().endswith(".png"):
        raise ContactplugError(f"{out_png}: the plot is written as PNG; name the file *.png")
    if top is not None and top < 1:
        raise ContactplugError(f"--top must be at least 1, not {top}")
    contacts = valid = None
    title = f"{cmap.id}  {cmap.method}  L={cmap.length}"
    if structure is not None:
        found = read_chain(structure, chain or cmap.chain)
        mapping = align(cmap.sequence, found.sequence)
        contacts, valid = contacts_from_coords(query_coords(found, mapping), cutoff)
        score = precision(cmap.contacts, contacts, valid)["long_P@L"]
        title += f"  long P@L={score:.2f}"
    fig = Figure(figsize=(5, 5))
    draw_map(fig.add_subplot(1, 1, 1), cmap, contacts, valid, top, title)
    fig.tight_layout()
    return save_figure(fig, out_png)
