"""What `bench` prints above and around its figures: the machine's header, the device, tables
(shared by `commands.bench` and `commands.bench_complex`)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable


def describe_device(model) -> str:
    import torch

    from contactplug import hardware

    if model.device.type == "cuda":
        return torch.cuda.get_device_name(model.device)
    return f"{hardware.cpu_name()}, {os.cpu_count()} logical CPUs"


def rows_of(results: list[dict]) -> Callable[[str, Callable[[dict], str]], list[str]]:
    """row(label, cell): a table row, the label then `cell` of each length's results."""
    return lambda label, cell: [label] + [cell(r) for r in results]


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def print_header(args: argparse.Namespace, model, machine: list[str], load) -> None:
    import torch

    print(f"## contactplug bench: {model.name} ({'random weights' if args.arch else model.source})")
    print()
    print(
        f"{model.family}, {model.num_layers} layers x {model.num_heads} heads, "
        f"dim {model.embed_dim}; "
        f"device {model.device} ({describe_device(model)}); torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {args.clock} clock; "
        f"load average {load[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end "
        f"({os.cpu_count()} logical CPUs)"
    )
    for line in machine:
        print(f"- {line}")
