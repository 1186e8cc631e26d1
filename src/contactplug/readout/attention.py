"""Contacts from attention heads in one forward pass.

Per head: drop BOS/EOS, symmetrize 0.5(A+A^T), APC, zero the diagonal. The `attention`
method averages the top-K heads of the model's ranking (see `heads`); `all-heads` averages
every head; `esm-head` is ESM's own logistic-regression contact head.

The readout runs the model's forward (`Model.forward`, any family) with a `HeadFold` as its
callback: the wanted heads' probabilities (all heads for all-heads and esm-head) are folded
into one L x L sum per sequence as they come, in blocks of query rows where the family
streams them (ESM-2 does), so neither layers x heads x T x T nor one head's APC'd copy is
ever held; APC's correction is one rank-K product at the end. The forward stops after the
last wanted layer. Many sequences run in length-sorted padded batches
(`batching`); proteins longer than the window are read in overlapping windows and stitched
(`windows`). Where the residues sit in a token row (after a BOS or not) is the model's say.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from contactplug.files.errors import ContactplugError, arg
from contactplug.files.methods import READOUT_METHODS
from contactplug.files.sequences import Record
from contactplug.models import batching, joining
from contactplug.models.base import Model
from contactplug.readout import fold_kernel, windows

log = logging.getLogger("contactplug")
Head = tuple[int, int]  # (layer, head), 0-based
METHODS = READOUT_METHODS  # the readout rows of the method table


def process_heads(
    attn: torch.Tensor, length: int, apc: bool = True, first: int = 1
) -> torch.Tensor:
    """K x T x T raw attention of one sequence -> K x L x L symmetrized, APC'd, zero diagonal
    (first: the row index of residue 0, `Model.first_residue`)."""
    a = attn[..., first : first + length, first : first + length].float()
    a = a + a.transpose(-1, -2)
    a.mul_(0.5)
    if apc:
        row = a.sum(-1, keepdim=True)
        col = a.sum(-2, keepdim=True)
        total = a.sum((-1, -2), keepdim=True).clamp_min(torch.finfo(a.dtype).tiny)
        a.sub_(row * col / total)
    a.diagonal(dim1=-2, dim2=-1).zero_()
    return a


def by_layer(heads: Sequence[Head]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for layer, head in heads:
        out.setdefault(layer, [])
        if head not in out[layer]:
            out[layer].append(head)
    return out


def all_heads(model: Model) -> list[Head]:
    return [(layer, head) for layer in range(model.num_layers) for head in range(model.num_heads)]


class HeadFold:
    """The wanted heads' maps of a batch folded into one L x L map per sequence as they come.

    Every method is a weighted sum over heads of APC(0.5 (A + A^T)) of the cropped maps A
    (`attention`: weights 1/K; `all-heads`: 1/(layers x heads); `esm-head`: twice the
    regression weights, as fair-esm's symmetrize is A + A^T). APC is linear but for its
    correction r c^T / t (r, c: row and column sums of the symmetrized block, t: its total),
    so the fold keeps sum_h c_h A_h, and per head its row sums over each chain's keys and
    column sums over each chain's queries; the corrections are rank-K products at the end.
    Nothing per head is materialised, and with the forward's row blocks (`rows`) the cropped
    maps are never copied.

    A complex (several spans per sequence, `joining.Layout`) takes APC per block: each chain's
    own block as a single chain's, and each pair of chains' inter-chain block on its own, as a
    rectangular block, since its signal is orders of magnitude weaker than the intra-chain one
    and would vanish under the whole map's correction. Linker tokens are left out of every
    block.
    """

    def __init__(self, spans: list[list[tuple[int, int]]], weights: dict[int, torch.Tensor]):
        self.spans, self.weights = spans, weights  # spans: per sequence, (first token, length)
        self.chains = max(len(s) for s in spans)
        self.sums: torch.Tensor | None = None  # B x T x T, sum_h c_h A_h (uncropped)
        self.row_sums: dict[int, torch.Tensor] = {}  # layer -> B x C x k x T (chain d's keys)
        self.col_sums: dict[int, torch.Tensor] = {}  # layer -> B x C x k x T (chain c's rows)
        self.order: dict[int, list[int]] = {}  # layer -> its heads, in the order they came
        self.coeffs: dict[int, torch.Tensor] = {}  # layer -> B x 1 x k coefficients
        self.bias_planes: dict[int, torch.Tensor] = {}  # layer -> its heads (int32), the kernel's
        # the fused kernel's view of the spans: B x C x (first, length), length 0 where absent
        self.span_table = torch.zeros(len(spans), self.chains, 2, dtype=torch.int32)
        for b, own in enumerate(spans):
            self.span_table[b, : len(own)] = torch.tensor(own, dtype=torch.int32)

    def _start(self, layer: int, wanted: list[int], block: torch.Tensor) -> None:
        batch, k, _, tokens = block.shape
        if self.sums is None:
            self.sums = torch.zeros(batch, tokens, tokens, device=block.device)
        self.order[layer] = list(wanted)
        shape = (batch, self.chains, k, tokens)
        self.row_sums[layer] = torch.zeros(shape, device=block.device)
        self.col_sums[layer] = torch.zeros(shape, device=block.device)
        coeffs = self.weights[layer][wanted].to(block.device, torch.float32)
        self.coeffs[layer] = coeffs.expand(batch, 1, k).contiguous()

    def layer_rows(self, layer: int) -> LayerRows:
        """What a family's row blocks call for this layer (`models.row_blocks`)."""
        return LayerRows(self, layer)

    def scores(
        self,
        layer: int,
        wanted: list[int],
        scores: torch.Tensor,
        start: int,
        padding: torch.Tensor | None,
        bias: torch.Tensor | None,
        probabilities: bool = True,
    ) -> bool:
        """Softmax and fold query rows start.. in one pass (`fold_kernel`), given the raw
        scores (B x k x rows x T, base-2 units, bf16 or fp32), which become the probabilities
        in place where `probabilities` (the caller multiplies them by v), and are left as they
        were otherwise; padding (B x T, True: a padded key) and bias as
        `row_blocks.blocked_heads` takes them. False, nothing done, where the kernel cannot
        run."""
        if not fold_kernel.takes(scores):
            return False
        if layer not in self.row_sums:
            self._start(layer, wanted, scores)
        keys = None if padding is None else padding.contiguous().view(torch.uint8)
        bias_heads = None
        if bias is not None and bias.shape[1] > 1:  # per head: the wanted heads' planes
            if layer not in self.bias_planes:  # once a layer, not once a block
                self.bias_planes[layer] = torch.tensor(wanted, dtype=torch.int32)
            bias_heads = self.bias_planes[layer]
        return fold_kernel.softmax_fold(
            scores, start, keys, bias, bias_heads, self.coeffs[layer], self.sums,
            self.col_sums[layer], self.row_sums[layer], self.span_table, probabilities,
        )  # fmt: skip

    def rows(self, layer: int, wanted: list[int], block: torch.Tensor, start: int) -> None:
        """Fold query rows start.. of the wanted heads (block: B x k x rows x T, attention
        probabilities: each row sums to one over the T keys)."""
        batch, k, rows, tokens = block.shape
        block = block.float()
        if layer not in self.row_sums:
            self._start(layer, wanted, block)
        target = self.sums[:, start : start + rows].view(batch, 1, rows * tokens)
        target.baddbmm_(self.coeffs[layer], block.reshape(batch, k, rows * tokens))
        for b, spans in enumerate(self.spans):
            for c, (first, length) in enumerate(spans):
                # this block's rows of chain c of sequence b, and their sums over each chain
                lo, hi = max(start, first), min(start + rows, first + length)
                if lo < hi:
                    self._fold_rows(layer, b, c, block[b, :, lo - start : hi - start], lo, hi)

    def _fold_rows(self, layer: int, b: int, c: int, part: torch.Tensor, lo: int, hi: int):
        spans = self.spans[b]
        self.col_sums[layer][b, c] += part.sum(-2)
        if len(spans) == 1:
            # each row sums to one over all keys (softmax), so its sum over the residue columns
            # is one less the few others (BOS, EOS, padding): no pass over L columns
            first, length = spans[0]
            others = part[..., :first].sum(-1) + part[..., first + length :].sum(-1)
            torch.sub(1.0, others, out=self.row_sums[layer][b, 0, :, lo:hi])
            return
        for d, (first, length) in enumerate(spans):
            self.row_sums[layer][b, d, :, lo:hi] = part[..., first : first + length].sum(-1)

    def __call__(self, layer: int, wanted: list[int], probs: torch.Tensor) -> None:
        """The whole-map protocol of families that hand over B x k x T x T at once."""
        self.rows(layer, wanted, probs, 0)

    def maps(self) -> list[torch.Tensor]:
        """Per sequence: sym(sum_h c_h A_h) less, block by block, sum_h c_h r_h c_h^T / t_h
        (sum L x sum L over the chains' residues, zero diagonal left to the caller)."""
        out = []
        layers = sorted(self.row_sums)
        coeff = torch.cat([self.weights[n][self.order[n]] for n in layers])
        for b, spans in enumerate(self.spans):
            if len(spans) == 1:  # a view: index_select took 3 ms of a 1000-residue map
                ((first, length),) = spans
                total = self.sums[b, first : first + length, first : first + length]
            else:
                keep = torch.cat([torch.arange(f, f + n) for f, n in spans]).to(self.sums.device)
                total = self.sums[b].index_select(0, keep).index_select(1, keep)
            folded = (total + total.T).mul_(0.5)
            rows = [torch.cat([self.row_sums[n][b, d] for n in layers]) for d in range(len(spans))]
            cols = [torch.cat([self.col_sums[n][b, d] for n in layers]) for d in range(len(spans))]
            at = [0]
            for _, n in spans:
                at.append(at[-1] + n)
            w = coeff.to(folded)
            for c, (fc, nc) in enumerate(spans):
                for d, (fd, nd) in enumerate(spans[c:], c):
                    # block (c, d): rows i of chain c summed over chain d's columns, columns j
                    # of chain d summed over chain c's rows, of the symmetrized map
                    r = 0.5 * (rows[d][:, fc : fc + nc] + cols[d][:, fc : fc + nc])
                    s = 0.5 * (cols[c][:, fd : fd + nd] + rows[c][:, fd : fd + nd])
                    t = r.sum(-1).clamp_min(torch.finfo(r.dtype).tiny)
                    r = r * (w / t)[:, None]  # the correction is r^T s, subtracted in place
                    folded[at[c] : at[c + 1], at[d] : at[d + 1]].addmm_(r.T, s, alpha=-1)
                    if d != c:
                        folded[at[d] : at[d + 1], at[c] : at[c + 1]].addmm_(s.T, r, alpha=-1)
            out.append(folded)
        return out


class LayerRows:
    """One layer of a HeadFold, as the families' row blocks call it: with a block of
    probabilities (`__call__`), or with the raw scores for the fused kernel (`scores`)."""

    def __init__(self, fold: HeadFold, layer: int):
        self.fold, self.layer = fold, layer

    def __call__(self, wanted: list[int], block: torch.Tensor, start: int) -> None:
        self.fold.rows(self.layer, wanted, block, start)

    def scores(
        self, wanted: list[int], scores: torch.Tensor, start: int, padding, bias, probabilities
    ) -> bool:
        return self.fold.scores(self.layer, wanted, scores, start, padding, bias, probabilities)


def fold_weights(
    model: Model, method: str, heads: Sequence[Head]
) -> tuple[dict[int, torch.Tensor], dict[int, list[int]]]:
    """layer -> per-head coefficients (num_heads long), and layer -> wanted heads."""
    wanted = by_layer(heads)
    weights = {}
    if method == "esm-head":
        regression = model.contact_regression()[0].view(model.num_layers, model.num_heads)
        weights = {layer: 2 * regression[layer] for layer in wanted}
    else:
        weights = {layer: torch.full((model.num_heads,), 1 / len(heads)) for layer in wanted}
    return weights, wanted


@torch.no_grad()
def batch_maps(
    model: Model,
    sequences: Sequence[str | Record],
    method: str,
    heads: Sequence[Head] | None = None,
    autocast: torch.dtype | None = None,
    linker: str | None = None,
) -> list[np.ndarray]:
    """One L x L map per sequence from one padded batch forward (float32 numpy); a complex
    Record's map is sum L x sum L over its chains joined by `linker` (None: the model's
    default), linker positions left out. autocast: the forward's reduced matmul precision
    (e.g. torch.bfloat16), None for fp32."""
    if method in ("all-heads", "esm-head"):
        heads = all_heads(model)
    elif method != "attention":
        raise ContactplugError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if not heads:
        raise ContactplugError("the attention method needs a head ranking (see select-heads)")
    bias = model.contact_regression()[1] if method == "esm-head" else None
    weights, wanted = fold_weights(model, method, heads)
    if all(isinstance(s, str) for s in sequences):
        tokens = model.tokens(list(sequences))
        spans = [[(model.first_residue, len(s))] for s in sequences]
    else:
        layouts = [
            joining.layout(model, s if isinstance(s, Record) else Record("", s), linker)
            for s in sequences
        ]
        tokens, spans = joining.batch(model, layouts), [lay.spans for lay in layouts]
    fold = HeadFold(spans, weights)
    model.forward(tokens, wanted, fold, logits=False, autocast=autocast)
    out = []
    for a in fold.maps():
        if bias is not None:
            a = torch.sigmoid(a + bias.to(a))
            a = 0.5 * (a + a.T)
        a.fill_diagonal_(0)
        out.append(a.cpu().numpy())
    return out


@torch.no_grad()
def head_maps(model: Model, sequence: str, heads: Sequence[Head]) -> torch.Tensor:
    """K x L x L processed maps of the given heads from one forward pass (float32)."""
    length = len(sequence)
    kept: dict[Head, torch.Tensor] = {}

    def keep(layer: int, wanted: list[int], probs: torch.Tensor) -> None:
        maps = process_heads(probs[0], length, first=model.first_residue)
        for n, head in enumerate(wanted):
            kept[(layer, head)] = maps[n]

    model.forward(model.tokens([sequence]), by_layer(heads), keep, logits=False)
    return torch.stack([kept[tuple(h)] for h in heads]).cpu()


def windowed_map(
    model: Model,
    sequence: str,
    method: str,
    heads: Sequence[Head] | None,
    window: int,
    overlap: int | None = None,
    batch_size: int | None = None,
    autocast: torch.dtype | None = None,
) -> tuple[np.ndarray, dict]:
    """A long protein's map from overlapping windows (see `windows`); and the meta it earns."""
    if window > model.max_length:
        raise ContactplugError(
            f"{arg('window', value=window)} exceeds the model's {model.max_length}"
        )
    overlap = windows.default_overlap(window) if overlap is None else overlap
    spans = windows.spans(len(sequence), window, overlap)
    stitcher = windows.Stitcher(len(sequence))
    per_layer = (
        model.num_heads if method != "attention" else max(map(len, by_layer(heads).values()))
    )
    sizes = [e - s for s, e in spans]
    for group in batching.plan(sizes, model, batch_size, per_layer):
        chunk = [sequence[spans[n][0] : spans[n][1]] for n in group]
        maps = batch_maps(model, chunk, method, heads, autocast)
        for n, block in zip(group, maps, strict=True):
            stitcher.add(spans[n], block)
    scores, uncovered = stitcher.result(0.0 if method == "esm-head" else "min")
    meta = windows.describe(len(sequence), window, overlap)
    meta["uncovered_pairs"] = uncovered
    return scores, meta


def contact_map(
    model: Model,
    sequence: str,
    method: str = "attention",
    heads: Sequence[Head] | None = None,
    window: int | None = None,
    overlap: int | None = None,
    autocast: torch.dtype | None = None,
) -> np.ndarray:
    """One L x L map. `heads` is required for `attention` (the ranked top-K). With `window`,
    a protein longer than it is read in overlapping windows. autocast: as in `batch_maps`."""
    if window and len(sequence) > window:
        return windowed_map(model, sequence, method, heads, window, overlap, autocast=autocast)[0]
    return batch_maps(model, [sequence], method, heads, autocast)[0]
