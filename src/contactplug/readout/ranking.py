"""Head rankings: which attention heads carry contacts, made once per model.

Every head is ranked by its mean long-range (|i-j| >= 24) precision at L/2 over labelled
proteins; K is then chosen by the same criterion on the mean of the top-K maps (the smallest
K reaching the best value). Rankings are keyed by the weights' fingerprint, not the name:
a fine-tuned esm2_t6_8M is a different model. Lookup order: shipped with the package,
the user cache, else computed now on the shipped selection set and cached.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from contactplug import __version__
from contactplug.files.atomic import write_text
from contactplug.files.errors import ContactplugError, arg
from contactplug.models.base import Model
from contactplug.progress import Progress
from contactplug.readout.attention import all_heads, head_maps
from contactplug.readout.cache import cached_path, shipped_path, stored_path
from contactplug.readout.selection_set import LabelledProtein, split
from contactplug.readout.selection_set import load as load_selection_set

log = logging.getLogger("contactplug")
FORMAT = "contactplug-head-ranking/1"
LONG_RANGE = 24
# Rankings read and checked in this process: (resolved path, mtime_ns, size, layers, heads) ->
# the Ranking. The PyMOL plugin and other library callers predict many times per process, and
# reading and checking the file again cost more than a small model's readout; a file changed
# since (new mtime or size) is a new key, so it is read again. Shared objects: not to be changed.
_READ: dict[tuple, Ranking] = {}
# Shipped rankings by (fingerprint, layers, heads): package data does not change while a
# process runs, so these skip even the look for the file.
_SHIPPED: dict[tuple, Ranking] = {}


@dataclass
class Ranking:
    model: str
    fingerprint: str
    heads: list[tuple[int, int]]  # best first
    scores: list[float]  # mean long P@L/2 of each head, same order
    k: int
    k_curve: list[float] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    def top(self, k: int | None = None) -> list[tuple[int, int]]:
        k = self.k if k is None else k
        if not 1 <= k <= len(self.heads):
            raise ContactplugError(
                f"{arg('top_k')} must be between 1 and {len(self.heads)}, not {k}"
            )
        return self.heads[:k]

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "model": self.model,
            "fingerprint": self.fingerprint,
            "k": self.k,
            "metric": "mean long-range (|i-j|>=24) precision at L/2",
            "heads": [
                [layer, head, round(s, 6)]
                for (layer, head), s in zip(self.heads, self.scores, strict=True)
            ],
            "k_curve": [round(v, 6) for v in self.k_curve],
            **self.info,
        }

    @classmethod
    def from_json(cls, data: dict, source: str = "ranking") -> Ranking:
        if data.get("format") != FORMAT:
            raise ContactplugError(f"{source}: not a contactplug head ranking")
        known = {"format", "model", "fingerprint", "k", "metric", "heads", "k_curve"}
        try:
            heads = [(_index(r[0]), _index(r[1])) for r in data["heads"]]
            ranking = cls(
                model=str(data["model"]),
                fingerprint=str(data["fingerprint"]),
                heads=heads,
                scores=[float(r[2]) for r in data["heads"]],
                k=_index(data["k"]),
                k_curve=list(data.get("k_curve", [])),
                info={k: v for k, v in data.items() if k not in known},
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            why = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ContactplugError(f"{source}: not a valid head ranking ({why})") from None
        twice = sorted(h for h, n in Counter(heads).items() if n > 1)  # linear, not n^2
        if not heads or twice or not 1 <= ranking.k <= len(heads):
            why = f"head {twice[0]} listed twice" if twice else f"K={ranking.k} of {len(heads)}"
            raise ContactplugError(f"{source}: not a valid head ranking ({why})")
        return ranking

    def check(self, model: Model, source: str = "head ranking") -> Ranking:
        """Refuse, before any work, heads the model does not have (an all-zero map or a crash
        later): every (layer, head) must be within its layers x heads."""
        bad = [h for h in self.heads if h[0] >= model.num_layers or h[1] >= model.num_heads]
        if bad:
            raise ContactplugError(
                f"{source} names layer {bad[0][0]} head {bad[0][1]}, but {model.name} has "
                f"{model.num_layers} layers x {model.num_heads} heads (0-based); it was made "
                "for another model"
            )
        return self

    def save(self, path: str | os.PathLike) -> Path:
        return write_text(path, json.dumps(self.to_json(), indent=1) + "\n")


def _index(value) -> int:
    """A 0-based layer, head or K from JSON: a non-negative integer, not 1.5, -1 or "3"."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{value!r} is not a 0-based index")
    return value


def long_precision(maps: torch.Tensor, protein: LabelledProtein, divisor: int = 2) -> np.ndarray:
    """Long-range precision at L/divisor of each of H maps (H x L x L) -> H values."""
    length = len(protein.sequence)
    i, j = np.triu_indices(length, LONG_RANGE)
    keep = protein.valid[i, j]
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return np.full(maps.shape[0], np.nan)
    n = min(max(1, length // divisor), len(i))
    scores = maps[:, torch.as_tensor(i), torch.as_tensor(j)]
    top = scores.topk(n, dim=1).indices.cpu().numpy()
    truth = protein.contacts[i, j]
    return truth[top].mean(axis=1)


def _usable(proteins: list[LabelledProtein]) -> list[LabelledProtein]:
    return [p for p in proteins if len(p.sequence) > LONG_RANGE + 1]


def rank_heads(
    model: Model, proteins: list[LabelledProtein], held_out: list[LabelledProtein] | None = None
) -> Ranking:
    """Rank every head, then choose K; `held_out` proteins only get reported."""
    proteins = _usable(proteins)
    if not proteins:
        raise ContactplugError("head ranking needs labelled proteins longer than 25 residues")
    heads = all_heads(model)
    per_head = []
    with Progress(len(proteins), "rank heads", "proteins") as bar:
        for p in proteins:
            per_head.append(long_precision(head_maps(model, p.sequence, heads), p))
            bar.update()
    mean = np.nanmean(np.stack(per_head), axis=0)
    order = sorted(range(len(heads)), key=lambda n: (-mean[n], n))
    ranked = [heads[n] for n in order]

    def k_curve(group: list[LabelledProtein]) -> np.ndarray:
        curves = []
        with Progress(len(group), "choose K", "proteins") as bar:
            for p in group:
                maps = head_maps(model, p.sequence, ranked)
                means = maps.cumsum(0) / torch.arange(1, len(ranked) + 1).view(-1, 1, 1)
                curves.append(long_precision(means, p))
                bar.update()
        return np.nanmean(np.stack(curves), axis=0)

    curve = k_curve(proteins)
    k = int(np.argmax(curve)) + 1  # argmax takes the first, i.e. the smallest K at the best
    info = {
        "n_proteins": len(proteins),
        "fit_ids": [p.id for p in proteins],
        "created_by": f"contactplug {__version__}",
        "source": model.source,
    }
    held_out = _usable(held_out or [])
    if held_out:
        held_curve = k_curve(held_out)
        info["held_out"] = {
            "ids": [p.id for p in held_out],
            "top_k": float(held_curve[k - 1]),
            "best_head": float(held_curve[0]),
            "all_heads": float(held_curve[-1]),
        }
    return Ranking(
        model=model.name,
        fingerprint=model.fingerprint,
        heads=ranked,
        scores=[float(mean[n]) for n in order],
        k=k,
        k_curve=[float(v) for v in curve],
        info=info,
    )


def read_ranking(path: str | os.PathLike) -> Ranking:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ContactplugError(f"{path}: cannot read head ranking ({exc})") from None
    return Ranking.from_json(data, str(path))


def checked_ranking(path: str | os.PathLike, model: Model) -> Ranking:
    """`read_ranking(path).check(model)`, once per file version and model shape (`_READ`)."""
    try:
        stat = os.stat(path)
        key = (os.path.realpath(path), stat.st_mtime_ns, stat.st_size)
    except OSError:  # read_ranking says why in one line
        return read_ranking(path).check(model, str(path))
    shape = (model.num_layers, model.num_heads)
    ranking = _READ.get((*key, *shape))
    if ranking is None:
        ranking = read_ranking(path).check(model, str(path))
        for old in [k for k in _READ if k[0] == key[0]]:  # earlier versions of this file
            del _READ[old]
        _READ[(*key, *shape)] = ranking
    return ranking


def get_ranking(model: Model, path: str | os.PathLike | None = None) -> Ranking:
    """The model's ranking: an explicit file, shipped, cached, or computed now and cached."""
    if path is not None:
        ranking = checked_ranking(path, model)
        if ranking.fingerprint != model.fingerprint:
            log.warning(
                "%s was made for weights %s, not these (%s)",
                path,
                ranking.fingerprint,
                model.fingerprint,
            )
        return ranking
    identity = (model.fingerprint, model.num_layers, model.num_heads)
    if identity in _SHIPPED:
        return _SHIPPED[identity]
    stored = stored_path(model.fingerprint)
    if stored is not None:
        ranking = checked_ranking(stored, model)
        if stored == shipped_path(model.fingerprint):
            _SHIPPED[identity] = ranking
        return ranking
    fit, held = split(load_selection_set())
    log.info(
        "no head ranking for %s (weights %s) yet: ranking heads on %d labelled proteins, once",
        model.name,
        model.fingerprint,
        len(fit),
    )
    ranking = rank_heads(model, fit, held)
    try:
        ranking.save(cached_path(model.fingerprint))
    except OSError as exc:
        log.warning("could not cache the head ranking (%s); it will be recomputed next time", exc)
    return ranking
