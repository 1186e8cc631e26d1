"""A protein of up to 5000 residues through each method: windows, wall time, peak memory.

    python benchmarks/long_protein.py --model M | --arch esm2_t6_8M_UR50D \\
        --length 5000 --method attention|esm-head|jacobian [--window 1022 --overlap 511]

One method per process, so the peak resident set (VmHWM, reset once the model is built) is
that method's own. The sequence is random (seeded): this measures cost, not accuracy.
"""

from __future__ import annotations

import argparse
import sys
import time

from contactplug import hardware, timing
from contactplug.files.sequences import Record
from contactplug.jacobian import categorical as jacobian
from contactplug.readout import prediction, windows
from contactplug.readout.ranking import Ranking


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--arch")
    parser.add_argument("--length", type=int, default=5000)
    parser.add_argument("--method", default="attention")
    parser.add_argument("--window", type=int, default=windows.DEFAULT_WINDOW)
    parser.add_argument("--overlap", type=int)
    args = parser.parse_args(argv)
    model = timing.get_model(args.model, args.arch, "cpu")
    heads, note = timing.heads_for(model, None)
    ranking = Ranking(model.name, model.fingerprint, heads, [0.0] * len(heads), len(heads))
    record = Record("long", timing.sequence(args.length, seed=args.length))
    idle = hardware.process_status("VmRSS")
    hardware.reset_peak_rss()
    start = time.perf_counter()
    if args.method == "jacobian":
        cmap = jacobian.contact_map(
            model, record, progress=False, window=args.window, overlap=args.overlap
        )
    else:
        [cmap] = prediction.predict(
            model, [record], args.method, ranking=ranking, window=args.window, overlap=args.overlap
        )
    seconds = time.perf_counter() - start
    peak = hardware.process_status("VmHWM")
    spans = cmap.meta.get("windows", [[0, args.length]])
    print(
        f"| {model.name} | {args.method} | {args.length} | {len(spans)} x {args.window} "
        f"(overlap {cmap.meta.get('overlap', '-')}) | {cmap.n_forward} | {seconds:.1f} | "
        f"{peak / 2**20:.0f} (+{(peak - idle) / 2**20:.0f}) | {note} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
