"""A complex's chains joined into the one token row a model reads, and where each chain's
residues sit in it.

Every family sees one sequence. How chains are joined is a linker, named on the command line
(`--linker`) and recorded in each complex map:

- `special`: each chain keeps its own row as the family writes it, end to end, so the
  family's own end and start tokens stand between chains (ESM-2 and ESM-1b `<eos><cls>`,
  ESM C `<eos><bos>`, ProtT5 `</s>`): what the model saw at the ends of every training
  sequence.
- `G<n>` (e.g. `G25`, ESMFold's poly-glycine linker): n glycines between chains, one row with
  one BOS/EOS.
- `none`: the chains end to end, nothing between.

Linker positions are never part of a map: the readout keeps each chain's residue rows and
columns only (`Layout.spans`). The default per family (`Model.default_linker`) was chosen
from measurements on Docking Benchmark 5 complexes (README, Complexes). Built only on each
family's `tokens()`, so a new family joins chains without code of its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from contactplug.files.errors import ContactplugError, arg
from contactplug.files.sequences import Record

LINKERS = ("special", "G<n>", "none")
_GLYCINES = re.compile(r"G(\d{1,3})")


@dataclass(frozen=True)
class Layout:
    """One token row (unpadded) and, per chain, (token index of its first residue, length)."""

    tokens: list[int]
    spans: list[tuple[int, int]]

    @property
    def positions(self) -> int:
        """The residues read, linker tokens counted (what the model's residue limit bounds)."""
        return len(self.tokens)


def check_linker(linker: str) -> str:
    """A linker name (`special`, `none`, `G<n>` with 1 <= n <= 200), else one line."""
    text = str(linker).strip()
    match = _GLYCINES.fullmatch(text.upper())
    if text in ("special", "none") or (match and 1 <= int(match[1]) <= 200):
        return text.upper() if match else text
    raise ContactplugError(
        f"unknown linker {linker!r}; choose special (the model's own end and start tokens), "
        "G<n> (n glycines, 1-200, e.g. G25) or none"
    )


def _row(model, sequence: str) -> list[int]:
    """The family's own unpadded token row of one sequence."""
    row = model.tokens([sequence])[0]
    return row[: len(sequence) + model.special_tokens].tolist()


def layout(model, record: Record, linker: str | None = None) -> Layout:
    """Where each chain's residues sit in the row the model reads (one span for one chain)."""
    chains = record.chains()
    first = model.first_residue
    if len(chains) == 1:
        return Layout(_row(model, record.sequence), [(first, len(record.sequence))])
    linker = check_linker(linker or model.default_linker)
    if linker == "special":
        tokens: list[int] = []
        spans = []
        for chain in chains:
            spans.append((len(tokens) + first, len(chain)))
            tokens += _row(model, chain)
        return Layout(tokens, spans)
    between = "" if linker == "none" else "G" * int(linker[1:])
    spans, start = [], first
    for chain in chains:
        spans.append((start, len(chain)))
        start += len(chain) + len(between)
    return Layout(_row(model, between.join(chains)), spans)


def check_fits(model, record: Record, linker: str | None = None) -> Layout:
    """The layout, refused in one line when the joined row exceeds the model's limit: a
    complex is never cut or windowed silently."""
    got = layout(model, record, linker)
    used = got.positions - model.special_tokens
    if used > model.max_length:
        raise ContactplugError(
            f"{record.id}: {len(record.chain_lengths)} chains of {sum(record.chain_lengths)} "
            f"residues joined by linker {linker or model.default_linker} take {used} positions; "
            f"{model.name} reads at most {model.max_length}. Predict fewer chains "
            f"{arg('chains', value='A,B', phrase='({})')}, a shorter linker "
            f"{arg('linker', value='none', phrase='({})')}, or each chain alone"
        )
    return got


def pad_id(model) -> int:
    """The family's padding token, as its own `tokens()` pads a shorter row."""
    return int(model.tokens(["A", "AA"])[0, -1])


def batch(model, layouts: Sequence[Layout]) -> torch.Tensor:
    """B x T token ids of the layouts, right-padded as the family pads."""
    width = max(lay.positions for lay in layouts)
    out = torch.full((len(layouts), width), pad_id(model), dtype=torch.long)
    for row, lay in enumerate(layouts):
        out[row, : lay.positions] = torch.tensor(lay.tokens, dtype=torch.long)
    return out.to(model.device)
