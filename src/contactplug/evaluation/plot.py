"""Contact-map pictures. Uses matplotlib's object API (no pyplot), so no GUI backend is touched.

Axes carry the structure's author numbering when the map has it (1TEN reads 802-891), else
1-based positions; the legend sits below the map, framed, so it covers no data. PNG, SVG or
PDF by the file's suffix, written without timestamps (byte-stable output).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

from contactplug.evaluation.interface import inter_top_pairs
from contactplug.evaluation.metrics import evaluate_rows, precision
from contactplug.files.atomic import atomic_path
from contactplug.files.contactmap import ContactMap
from contactplug.files.errors import ContactplugError, arg
from contactplug.inputs.complex_structure import read_complex_chains
from contactplug.inputs.structure import (
    align,
    contacts_from_coords,
    query_coords,
    read_chain,
)

MIN_SEP = 6
CORRECT = "#1f77b4"
WRONG = "#d62728"
TRUE_GREY = "#b4b4b4"
UNRESOLVED = "#f3e3c3"
# The file's suffix picks the format; metadata keys that would stamp a date are cleared.
FORMATS = {
    ".png": ("png", {"Software": None}),
    ".svg": ("svg", {"Date": None}),
    ".pdf": ("pdf", {"CreationDate": None}),
}
PLOT_INCHES, PLOT_DPI = 8.0, 110  # 880 x 880 pixels: whole on a 1080p screen, text readable


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Atomic write, PNG, SVG or PDF by suffix, without a timestamp in the metadata."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ContactplugError(f"{path}: name the picture *.png, *.svg or *.pdf")
    fmt, metadata = FORMATS[suffix]
    with atomic_path(path) as tmp:
        if fmt == "svg":
            import matplotlib

            with matplotlib.rc_context({"svg.hashsalt": "contactplug"}):  # stable element ids
                fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata)
        else:
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata)
    return Path(path)


def residue_labels(cmap: ContactMap) -> tuple[list[str], str]:
    """Per position: the author number (with insertion code), else the 1-based position; and
    the axis title saying which."""
    if cmap.resnum is None:
        return [str(k + 1) for k in range(cmap.length)], "position in the sequence"
    icode = cmap.icode if cmap.icode is not None else [""] * cmap.length
    labels = [f"{int(n)}{str(c).strip()}" for n, c in zip(cmap.resnum, icode, strict=True)]
    chain = f", chain {cmap.chain}" if cmap.chain else ""
    return labels, f"residue (author numbering{chain})"


def _ticks(cmap: ContactMap, n_ticks: int = 10) -> list[int]:
    """Positions to label: round author numbers (or positions), evenly spread."""
    if cmap.resnum is None:
        numbers = np.arange(1, cmap.length + 1)
        plain = np.ones(cmap.length, bool)
    else:
        numbers = np.asarray(cmap.resnum, dtype=np.int64)
        icode = cmap.icode if cmap.icode is not None else [""] * cmap.length
        plain = np.array([not str(c).strip() for c in icode])
    lo, hi = int(numbers.min()), int(numbers.max())
    steps = MaxNLocator(nbins=n_ticks, steps=[1, 2, 5, 10], integer=True).tick_values(lo, hi)
    step = int(round(steps[1] - steps[0])) if len(steps) > 1 else 1
    picks = [k for k in range(cmap.length) if plain[k] and numbers[k] % max(step, 1) == 0]
    return picks or [0, cmap.length - 1]


def _axes_numbering(ax: Axes, cmap: ContactMap, fontsize: float) -> None:
    labels, title = residue_labels(cmap)
    ticks = _ticks(cmap)
    formatter = FuncFormatter(lambda x, _: labels[int(round(x))] if 0 <= x < len(labels) else "")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(FixedLocator(ticks))
        axis.set_major_formatter(formatter)
    ax.set_xlabel(title, fontsize=fontsize)
    ax.set_ylabel(title, fontsize=fontsize)
    ax.tick_params(labelsize=fontsize * 0.9)


def draw_map(
    ax: Axes,
    cmap: ContactMap,
    contacts: np.ndarray | None = None,
    valid: np.ndarray | None = None,
    top: int | None = None,
    title: str | None = None,
    fontsize: float = 7.0,
) -> None:
    """Without truth: scores in the upper triangle, the top pairs as squares in the lower one.
    With truth: true contacts in grey (both triangles), the top predicted pairs (|i-j| >= 6)
    in the upper triangle coloured correct / incorrect; unresolved residues shaded. The
    legend is framed below the map, its markers drawn large enough to see."""
    L = cmap.length
    top = L if top is None else top
    pairs = cmap.pairs(min_sep=MIN_SEP, top=top)
    if cmap.is_complex:  # and each chain pair's own top pairs, ranked within its block
        pairs += inter_top_pairs(cmap)
    pi = np.array([p[0] for p in pairs], dtype=int)
    pj = np.array([p[1] for p in pairs], dtype=int)
    size = max(1.0, 1000.0 / max(L, 1)) * (fontsize / 7.0) ** 2
    if contacts is None:
        upper = np.where(np.triu(np.ones((L, L), bool), 1), cmap.contacts, np.nan)
        ax.imshow(upper, cmap="Blues", origin="upper", interpolation="nearest")
        ax.scatter(pi, pj, s=size, c=WRONG, marker="s", linewidths=0, label=f"top {len(pi)} pairs")
        ax.plot([], [], "s", color="#6fa8dc", label="score (upper triangle)")
    else:
        sep = np.abs(np.subtract.outer(np.arange(L), np.arange(L))) > 0
        ti, tj = np.nonzero(contacts & sep)
        ax.scatter(tj, ti, s=size, c=TRUE_GREY, marker="s", linewidths=0, label="true contact")
        if valid is not None:
            for k in np.flatnonzero(~np.diag(valid)):
                ax.axvspan(k - 0.5, k + 0.5, color=UNRESOLVED, lw=0, zorder=0)
                ax.axhspan(k - 0.5, k + 0.5, color=UNRESOLVED, lw=0, zorder=0)
            if (~np.diag(valid)).any():
                ax.fill([], [], color=UNRESOLVED, label="unresolved residue")
        hit = contacts[pi, pj] if len(pi) else np.zeros(0, bool)
        ax.scatter(
            pj[hit], pi[hit], s=size * 1.3, c=CORRECT, marker="o", label="predicted, correct"
        )
        ax.scatter(pj[~hit], pi[~hit], s=size * 1.3, c=WRONG, marker="x", label="predicted, wrong")
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.1),
        ncol=2,
        fontsize=fontsize * 0.9,
        frameon=True,
        markerscale=max(1.0, 6.0 / np.sqrt(size)),  # a visible marker even for long maps
    )
    ax.set_xlim(-0.5, L - 0.5)
    ax.set_ylim(L - 0.5, -0.5)
    ax.set_aspect("equal")
    _axes_numbering(ax, cmap, fontsize)
    if cmap.is_complex:
        _chain_boundaries(ax, cmap, fontsize)
    ax.set_title(title or f"{cmap.id} {cmap.method}", fontsize=fontsize * 1.1)


def _chain_boundaries(ax: Axes, cmap: ContactMap, fontsize: float) -> None:
    """A complex's chains: lines where one ends and the next begins, each named on top."""
    top = ax.secondary_xaxis("top")
    spans = cmap.chain_spans()
    top.set_xticks([(first + end - 1) / 2 for _, first, end in spans])
    top.set_xticklabels([f"chain {name}" for name, *_ in spans], fontsize=fontsize)
    for _, _, end in spans[:-1]:
        ax.axvline(end - 0.5, color="black", lw=0.8)
        ax.axhline(end - 0.5, color="black", lw=0.8)


def _complex_truth(cmap: ContactMap, structure, chain, cutoff: float) -> tuple:
    """(contacts, valid, title words) of a complex against its multi-chain structure: each
    chain's long-range P@L, each chain pair's P@L_min/5 beside its random baseline."""
    contacts, valid = contacts_from_coords(
        read_complex_chains(cmap, structure, chain).coords(), cutoff
    )
    chains, pairs = [], []
    for r in evaluate_rows(cmap, structure, chain, cutoff):
        if r["chain"].startswith("inter "):
            pairs.append(f"{r['chain']} P@Lmin/5 = {r['inter_P@Lmin/5']:.2f} "
                         f"(random {r['inter_base_rate']:.3f})")  # fmt: skip
        else:
            chains.append(f"{r['chain']} {r['long_P@L']:.2f}")
    # one pair a line, so the title never runs past the figure's edge
    more = [f"(+{len(pairs) - 2} more chain pairs: metrics.csv)"] if len(pairs) > 2 else []
    return contacts, valid, ["long-range P@L: " + ", ".join(chains), *pairs[:2], *more]


def plot_map(
    cmap: ContactMap,
    out: str | os.PathLike,
    structure: str | os.PathLike | None = None,
    chain: str | None = None,
    top: int | None = None,
    cutoff: float = 8.0,
) -> Path:
    """One picture of a map (PNG, SVG or PDF by suffix); with a structure the top-L pairs
    are marked correct or incorrect."""
    if Path(out).suffix.lower() not in FORMATS:
        raise ContactplugError(f"{out}: name the picture *.png, *.svg or *.pdf")
    if top is not None and top < 1:
        raise ContactplugError(f"{arg('top')} must be at least 1, not {top}")
    contacts = valid = None
    title = f"{cmap.id}  {cmap.method}  L={cmap.length}"
    if structure is not None and cmap.is_complex:
        contacts, valid, words = _complex_truth(cmap, structure, chain, cutoff)
        title = "\n".join([title, *words])
    elif structure is not None:
        found = read_chain(structure, chain or cmap.chain)
        mapping = align(cmap.sequence, found.sequence)
        contacts, valid = contacts_from_coords(query_coords(found, mapping), cutoff)
        score = precision(cmap.contacts, contacts, valid)["long_P@L"]
        title += f"  long-range P@L = {score:.2f}"
    fig = Figure(figsize=(PLOT_INCHES, PLOT_INCHES))
    draw_map(fig.add_subplot(1, 1, 1), cmap, contacts, valid, top, title, fontsize=12)
    fig.tight_layout()
    return save_figure(fig, out, dpi=PLOT_DPI)
