"""The wanted heads' softmax(q k^T) streamed in blocks of query rows (the readout path of
every family): each block is softmaxed, handed to the readout's fold and, with every head
wanted, multiplied by v before the next, so no head's T x T map is ever held.

Blocks are sized so one block's fp32 scores stay near ROW_BLOCK_BYTES: smaller blocks (to fit
the 1 MiB L2) were slower, the fixed cost of each torch call (~25 us a bf16 matmul, 3-8 us
other ops) outweighing the cache gain.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

ROW_BLOCK_BYTES = 2**22  # one block's fp32 scores (tuned at L = 300 and 1000, head widths 16-32)
ROW_MIN = 16
LOG2E = 1 / math.log(2)  # scores in base-2 units: softmax(s) = 2^(s log2 e) / sum (_softmax_)


def _block_buffer(shape: tuple[int, ...], dtype: torch.dtype, device) -> Callable:
    """One buffer for every block of a layer; rows -> a contiguous B x k x rows x n view.
    A new tensor per block cost page faults and cache misses; a slice of a larger block would
    not be contiguous for the last one. The full-size view is made once (each torch call
    costs microseconds, and a layer has tens of blocks)."""
    batch, k, rows, n = shape
    flat = torch.empty(batch * k * rows * n, dtype=dtype, device=device)
    full = flat.view(batch, k, rows, n)
    return lambda r: full if r == rows else flat[: batch * k * r * n].view(batch, k, r, n)


def _score_operands(
    q: torch.Tensor, k: torch.Tensor, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """q (B x k x T x d) and log2(e) k^T (B x k x d x T), contiguous, in the scores' matmul
    dtype, so that q k^T comes out in base-2 units for _softmax_ (scaled in fp32, before the
    keys are rounded: no extra rounding in bf16). For bf16 the keys are centred first:
    softmax(q k^T) is unchanged by a shift common to all keys (it adds q . c to a whole row),
    and smaller scores lose less when rounded to bf16 (on the real 8M weights it halved the
    maps' mean P@L/2 change against fp32)."""
    keys = k.float() * LOG2E
    if dtype != torch.float32:
        keys = keys - keys.mean(-2, keepdim=True)
    # a transposed view of k made the matmul 7x slower
    return q.to(dtype).contiguous(), keys.to(dtype).transpose(-1, -2).contiguous()


def _softmax_(block: torch.Tensor) -> None:
    """softmax over the last axis, in place, of scores in base-2 units (s log2 e): exp2 alone
    takes ~0.27x a whole torch.softmax on this CPU (torch 2.13; torch.exp 1.3x), so these five
    passes take 0.70-0.80x of torch.softmax's time (blocks of 20 heads x 6-175 rows x 300-1000
    keys), for the same fp32 accuracy (max relative error against fp64 3.0e-6, torch's 2.3e-6).
    """
    block.sub_(block.amax(-1, keepdim=True))
    block.exp2_()
    block.mul_(block.sum(-1, keepdim=True).reciprocal_())


def _softmax_rows(
    block: torch.Tensor,
    raw: torch.Tensor,
    start: int,
    masked: torch.Tensor | None,
    bias: torch.Tensor | None,
    index: torch.Tensor | None,
) -> None:
    """torch's passes: block (fp32) = softmax(raw + bias rows, padded keys masked)."""
    if raw is not block:
        block.copy_(raw)
    if bias is not None:  # the wanted heads' rows only: a whole k x T x T copy is not made
        rows_bias = bias[:, :, start : start + block.shape[2]]
        shared = rows_bias.shape[1] == 1  # one bias for every head (a mask)
        rows_bias = rows_bias if index is None or shared else rows_bias.index_select(1, index)
        block.add_(rows_bias, alpha=LOG2E)
    if masked is not None:
        block.masked_fill_(masked, float("-inf"))
    _softmax_(block)


def blocked_heads(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    padding: torch.Tensor | None,
    wanted: list[int],
    on_rows: Callable[[list[int], torch.Tensor, int], None],
    output: bool = True,
    bias: torch.Tensor | None = None,
) -> torch.Tensor | None:
    """Stream softmax(q k^T) of the wanted heads to on_rows(wanted, B x k x rows x T, start)
    block by block (fp32, contiguous); with every head wanted (and `output`), also the
    attention output from the same blocks (B x H x T x d in v's dtype, a view of B x T x H x d
    so that the caller's reshape to B x T x dim copies nothing). Returns that output, or None
    (the caller runs SDPA if it needs the output).

    With every head wanted and bf16 q, k, v (the readout's reduced precision), both products
    are bf16 matmuls (fp32 accumulation): the scores (of centred keys) are rounded to bf16
    before the fp32 softmax, and the probabilities to bf16 for P @ v only; the fold gets them
    in fp32. fp32 scores cost up to 30 % more a layer here (head widths 16-32), for maps a
    little closer to fp32's (benchmarks/reduced_precision_gate.py). A subset of heads (the
    attention readout) keeps fp32 scores: it is cheap there, and they are the whole map.

    bias: added to the scores before the softmax (1 or B x H x T x T, or B x 1 x T x T for
    every head, fp32: T5's relative position bias with its padded keys at -inf, ESM C's
    padding mask), in place of the `padding` mask."""
    batch, heads, length, head_dim = q.shape
    every = len(wanted) == heads
    if not every:
        index = torch.tensor(wanted, device=q.device)
        q, k = q.index_select(1, index), k.index_select(1, index)
    score_dtype = q.dtype if every else torch.float32
    queries, keys = _score_operands(q, k, score_dtype)
    rows = min(length, max(ROW_MIN, ROW_BLOCK_BYTES // (4 * batch * len(wanted) * length)))
    shape = (batch, len(wanted), rows, length)
    scores = _block_buffer(shape, torch.float32, q.device)
    low = scores if score_dtype == torch.float32 else _block_buffer(shape, score_dtype, q.device)
    with_output = every and output
    if with_output:  # P @ v in v's dtype (q's), in the low scores' buffer, free again by then
        values = v.contiguous()
        part = _block_buffer((batch, heads, rows, head_dim), v.dtype, q.device)
        out = torch.empty(batch, length, heads, head_dim, dtype=v.dtype, device=v.device)
    masked = None if padding is None else padding[:, None, None, :]
    fused = getattr(on_rows, "scores", None)  # the readout's one-pass kernel, where it runs
    for start in range(0, length, rows):
        end = min(length, start + rows)
        block, raw = scores(end - start), low(end - start)
        torch.matmul(queries[:, :, start:end], keys, out=raw)
        # raw becomes the probabilities (where P @ v reads them), folded already
        done = fused is not None and fused(wanted, raw, start, padding, bias, with_output)
        if not done:
            _softmax_rows(block, raw, start, masked, bias, None if every else index)
            on_rows(wanted, block, start)
        if with_output:
            if raw is not block and not done:
                raw.copy_(block)
            result = part(end - start)
            torch.matmul(raw, values, out=result)
            out[:, start:end].copy_(result.transpose(1, 2))
    return out.transpose(1, 2) if with_output else None


def wanted_heads(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor | None,
    padding: torch.Tensor | None,
    wanted: list[int],
    on_rows: Callable[[list[int], torch.Tensor, int], None] | None,
    output: bool = True,
    bias: torch.Tensor | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The one path of every family's wanted heads: (attention output or None, probabilities
    or None). With `on_rows` (the readout's fold) the blocks go there and no probabilities are
    returned; without, the same blocks are gathered into B x k x T x T (fp32, padded keys 0)
    for a callback that takes a layer's maps whole. The output is None where the caller must
    run its fused attention (a subset of heads, or `output` False)."""
    probs = None
    if on_rows is None:
        batch, _, length, _ = q.shape
        probs = torch.empty(batch, len(wanted), length, length, device=q.device)

        def on_rows(_, block: torch.Tensor, start: int) -> None:
            probs[:, :, start : start + block.shape[2]].copy_(block)

    return blocked_heads(q, k, v, padding, wanted, on_rows, output, bias), probs
