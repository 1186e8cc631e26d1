"""Contacts from attention heads in one forward pass.

Per head: drop BOS/EOS, symmetrize 0.5(A+A^T), APC, zero the diagonal. The `attention`
method averages the top-K heads of the model's ranking (see `heads`); `all-heads` averages
every head; `esm-head` is ESM's own logistic-regression contact head.

Only the heads a method needs are kept: hooks ask fair-esm's attention for per-head
weights in the layers that hold a wanted head, keep those heads and drop the rest at once,
so layers x heads x L x L is never held (except by `all-heads` and `esm-head`, which need it).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch

from contactplug.contactmap import ContactMap
from contactplug.errors import ContactplugError
from contactplug.models import Model
from contactplug.sequences import Record, check_length

Head = tuple[int, int]  # (layer, head), 0-based
METHODS = ("attention", "all-heads", "esm-head")


class HeadCapture:
    """Context manager: during a forward, keep per-head attention of `heads` only."""

    def __init__(self, model: Model, heads: Sequence[Head]):
        self.model = model
        self.heads = list(heads)
        self.by_layer: dict[int, list[int]] = {}
        for layer, head in self.heads:
            self.by_layer.setdefault(layer, []).append(head)
        self.captured: dict[int, torch.Tensor] = {}
        self._handles: list = []

    def __enter__(self) -> HeadCapture:
        for layer, wanted in self.by_layer.items():
            attn = self.model.esm.layers[layer].self_attn
            index = torch.tensor(wanted, device=self.model.device)

            def pre_hook(module, args, kwargs):
                kwargs["need_head_weights"] = True
                return args, kwargs

            def post_hook(module, args, kwargs, output, layer=layer, index=index):
                out, weights = output  # weights: heads x batch x T x T
                self.captured[layer] = weights.index_select(0, index).float()
                return out, None

            self._handles.append(attn.register_forward_pre_hook(pre_hook, with_kwargs=True))
            self._handles.append(attn.register_forward_hook(post_hook, with_kwargs=True))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def stacked(self) -> torch.Tensor:
        """batch x K x T x T, in the order the heads were given."""
        position = {layer: {h: n for n, h in enumerate(hs)} for layer, hs in self.by_layer.items()}
        maps = [self.captured[layer][position[layer][head]] for layer, head in self.heads]
        return torch.stack(maps, dim=1)


def process_heads(attn: torch.Tensor, length: int) -> torch.Tensor:
    """K x T x T raw attention of one sequence -> K x L x L symmetrized, APC'd, zero diagonal."""
    a = attn[..., 1 : length + 1, 1 : length + 1]
    a = 0.5 * (a + a.transpose(-1, -2))
    row = a.sum(-1, keepdim=True)
    col = a.sum(-2, keepdim=True)
    total = a.sum((-1, -2), keepdim=True).clamp_min(torch.finfo(a.dtype).tiny)
    a = a - row * col / total
    return a * (1 - torch.eye(length, dtype=a.dtype, device=a.device))


@torch.no_grad()
def head_maps(model: Model, sequence: str, heads: Sequence[Head]) -> torch.Tensor:
    """K x L x L processed maps of the given heads from one forward pass (float32)."""
    tokens = model.tokens([sequence])
    with HeadCapture(model, heads) as capture:
        model.esm(tokens)
    return process_heads(capture.stacked()[0], len(sequence))


def all_heads(model: Model) -> list[Head]:
    return [(layer, head) for layer in range(model.num_layers) for head in range(model.num_heads)]


@torch.no_grad()
def esm_head_map(model: Model, sequence: str) -> np.ndarray:
    tokens = model.tokens([sequence])
    contacts = model.esm(tokens, return_contacts=True)["contacts"][0].float()
    contacts = 0.5 * (contacts + contacts.T)
    contacts.fill_diagonal_(0)
    return contacts.cpu().numpy()


def contact_map(
    model: Model, sequence: str, method: str = "attention", heads: Sequence[Head] | None = None
) -> np.ndarray:
    """One L x L map. `heads` is required for `attention` (the ranked top-K)."""
    if method == "esm-head":
        return esm_head_map(model, sequence)
    if method == "all-heads":
        heads = all_heads(model)
    elif method != "attention":
        raise ContactplugError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if not heads:
        raise ContactplugError("the attention method needs a head ranking (see select-heads)")
    return head_maps(model, sequence, heads).mean(0).cpu().numpy()


def predict(
    model: Model,
    records: Iterable[Record],
    method: str = "attention",
    top_k: int | None = None,
    ranking=None,
) -> Iterator[ContactMap]:
    """One ContactMap per record, one forward pass each; the model is loaded once by the caller."""
    model.require(method)
    heads: list[Head] | None = None
    meta: dict = {"device": str(model.device), "dtype": str(model.dtype).replace("torch.", "")}
    if method == "attention":
        from contactplug.heads import get_ranking

        ranking = ranking or get_ranking(model)
        heads = ranking.top(top_k)
        meta.update(heads=[list(h) for h in heads], k=len(heads), ranking=ranking.fingerprint)
    for record in records:
        check_length(record, model.max_length)
        start = time.perf_counter()
        scores = contact_map(model, record.sequence, method, heads)
        seconds = time.perf_counter() - start
        yield ContactMap(
            contacts=scores,
            sequence=record.sequence,
            id=record.id,
            method=method,
            model=model.name,
            n_forward=1,
            seconds=seconds,
            meta=dict(meta, model_source=model.source, fingerprint=model.fingerprint),
        )
