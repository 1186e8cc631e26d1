"""Ray-traced pictures of drawn contacts: the tests' image check and the README figure
(plugin/make_readme_image.py) run this same code."""

from __future__ import annotations

import os

from pymol import cmd

from . import pymol_commands


def style(_self=cmd) -> None:
    """Cartoon in light grey, thick dashes, white background, view on the protein."""
    _self.bg_color("white")
    _self.hide("everything", "polymer.protein")
    _self.show("cartoon", "polymer.protein")
    _self.color("grey80", "polymer.protein and elem C")
    _self.set("cartoon_transparency", 0.2)
    _self.set("dash_radius", 0.22)
    _self.set("dash_gap", 0.35)
    _self.set("dash_length", 0.6)
    _self.set("ray_opaque_background", 1)
    _self.set("ray_shadows", 0)
    _self.orient("polymer.protein")


def render_png(path: str, width: int = 1000, height: int = 800, _self=cmd) -> str:
    """Style the scene and write a ray-traced PNG (atomically: temp file, then rename)."""
    style(_self)
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp.png")
    _self.png(tmp, width=width, height=height, ray=1, quiet=1)
    if not os.path.isfile(tmp):
        raise RuntimeError(f"PyMOL wrote no image to {tmp}")
    os.replace(tmp, path)
    return path


def contacts_figure(
    structure: str,
    out: str,
    model: str,
    top: str = "L/2",
    min_sep: str = "6",
    width: int = 1000,
    height: int = 800,
    _self=cmd,
) -> list[dict]:
    """Load a structure, draw predicted contacts (truth colours) and render them."""
    name = os.path.splitext(os.path.basename(structure))[0]
    _self.load(structure, name)
    results = pymol_commands.attncontacts(
        name, top, "attention", model, min_sep, "truth", _self=_self
    )
    render_png(out, width, height, _self=_self)
    return results
