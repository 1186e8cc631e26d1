"""Every head's processed map of every benchmark protein, once, cached, for readout_accuracy.

One forward per protein (every head through `attention.process_heads`) and one esm-head map; what is
kept per protein is what any linear readout over heads needs to be judged exactly:

* `scores`: K x n, each head's processed map (symmetrized, APC'd, zero diagonal) at the n
  resolved pairs with |i-j| >= 6, in (i, j) order (so a stable sort breaks ties by (i, j),
  as `evaluation.metrics.precision` does);
* `row_sums` (K x L) and `totals` (K): enough to apply APC once more to any weighted mean of
  the heads (a final APC after averaging) without the full maps;
* `raw_row_sums`, `raw_totals`: the same of each head's symmetrized map before APC, which
  undo APC at the pairs (`Protein.raw_scores`), so that APC can be taken after the sum only;
* `esm_head`: ESM's contact head at the same pairs; `truth`, the pairs `i`, `j`, `length`.

Proteins: the shipped selection set (40) and each protein chain of ../shared/structures/bm5_dev
read alone (84 chains). Cached under /tmp keyed by the weights' fingerprint.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from contactplug.files.errors import ContactplugError
from contactplug.inputs import structure
from contactplug.models.base import Model
from contactplug.readout import attention
from contactplug.readout.selection_set import load as load_selection_set

MIN_SEP = 6
SHARED = Path(__file__).resolve().parents[2] / "shared" / "structures"


@dataclass
class Protein:
    id: str
    length: int
    scores: np.ndarray  # K x n float32
    row_sums: np.ndarray  # K x L
    totals: np.ndarray  # K
    esm_head: np.ndarray  # n
    truth: np.ndarray  # n bool
    i: np.ndarray  # n int: the pairs, i < j
    j: np.ndarray
    raw_row_sums: np.ndarray  # K x L: row sums of each head's symmetrized map before APC
    raw_totals: np.ndarray  # K

    def raw_scores(self) -> np.ndarray:
        """K x n: each head's symmetrized map before APC, at the pairs (APC undone)."""
        r = self.raw_row_sums
        return self.scores + r[:, self.i] * r[:, self.j] / self.raw_totals[:, None]

    @property
    def sep(self) -> np.ndarray:
        return self.j - self.i


def _read(path: str):
    """The structure; a file whose columns past 78 are not PDB's charge field (1ATN carries a
    segment number there) is read again with those columns cut (nothing used lies past 78)."""
    try:
        return structure.read_structure(path)
    except ContactplugError:
        lines = Path(path).read_text().splitlines()
        cut = [line[:78] if re.match(r"ATOM|HETATM", line) else line for line in lines]
        return structure.parse_structure("\n".join(cut) + "\n", path)


def bm5_chains(folder: Path = SHARED / "bm5_dev") -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """(id, sequence, contacts, valid) of every protein chain of every complex, read alone."""
    out = []
    for path in sorted(glob.glob(str(folder / "*.pdb"))):
        st = _read(path)
        names = [ch.name for ch in structure.pick_model(st, path) if structure._is_protein(ch)]
        for name in names:
            chain = structure.read_chain(path, name, structure=st)
            contacts, valid = structure.true_contacts(chain.sequence, chain)
            out.append((f"{Path(path).stem}_{chain.name}", chain.sequence, contacts, valid))
    return out


def _head_maps(model: Model, sequence: str) -> tuple[np.ndarray, np.ndarray]:
    """K x L x L processed maps (as attention.head_maps), and K x L row sums of the
    symmetrized maps before APC (diagonal included, as process_heads's APC takes them)."""
    length, first = len(sequence), model.first_residue
    kept: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def keep(layer: int, wanted: list[int], probs: torch.Tensor) -> None:
        a = probs[0, :, first : first + length, first : first + length].float()
        raw_rows = (0.5 * (a + a.transpose(-1, -2))).sum(-1)
        maps = attention.process_heads(probs[0], length, first=first)
        for n, head in enumerate(wanted):
            kept[(layer, head)] = maps[n], raw_rows[n]

    heads = attention.all_heads(model)
    with torch.no_grad():
        model.forward(model.tokens([sequence]), attention.by_layer(heads), keep, logits=False)
    maps = torch.stack([kept[h][0] for h in heads]).numpy()
    return maps, torch.stack([kept[h][1] for h in heads]).numpy()


def features(model: Model, pid: str, sequence: str, contacts, valid) -> Protein:
    maps, raw_rows = _head_maps(model, sequence)
    length = len(sequence)
    i, j = np.triu_indices(length, MIN_SEP)
    keep = valid[i, j]
    i, j = i[keep], j[keep]
    esm = attention.contact_map(model, sequence, "esm-head") if model.has_contact_head else None
    return Protein(
        id=pid,
        length=length,
        scores=maps[:, i, j].astype(np.float32),
        row_sums=maps.sum(-1).astype(np.float32),
        totals=maps.sum((-1, -2)).astype(np.float32),
        esm_head=(esm[i, j] if esm is not None else np.full(len(i), np.nan)).astype(np.float32),
        truth=contacts[i, j].astype(bool),
        i=i.astype(np.int32),
        j=j.astype(np.int32),
        raw_row_sums=raw_rows.astype(np.float32),
        raw_totals=raw_rows.sum(-1).astype(np.float32),
    )


def _save(protein: Protein, path: Path) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **{k: v for k, v in vars(protein).items() if k != "id"})
    tmp.rename(path)


def _load(pid: str, path: Path) -> Protein:
    with np.load(path) as data:
        return Protein(
            id=pid, length=int(data["length"]), **{k: data[k] for k in data.files if k != "length"}
        )


def cached(model: Model, cache: Path, quiet: bool = False) -> dict[str, list[Protein]]:
    """{'selection': 40 proteins, 'bm5': 84 chains}, computed once per weights."""
    folder = cache / model.fingerprint
    folder.mkdir(parents=True, exist_ok=True)
    sets = {
        "selection": [(p.id, p.sequence, p.contacts, p.valid) for p in load_selection_set()],
        "bm5": bm5_chains(),
    }
    out: dict[str, list[Protein]] = {}
    for name, items in sets.items():
        out[name] = []
        for n, (pid, seq, contacts, valid) in enumerate(items):
            path = folder / f"{name}-{pid}.npz"
            if not path.exists():
                if not quiet:
                    print(f"  features {name} {n + 1}/{len(items)} {pid} L={len(seq)}", flush=True)
                _save(features(model, pid, seq, contacts, valid), path)
            out[name].append(_load(pid, path))
    return out
