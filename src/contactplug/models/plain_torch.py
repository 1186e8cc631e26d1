"""What the families written in plain torch from a published architecture (AMPLIFY, ProGen2)
share: a holder of named children, so that a network's state dict carries the publishers'
tensor names without a class per level, and the rotary embedding that turns adjacent pairs
of dims (q's dims 2i, 2i+1 as one complex number, base 10000), which both use (ProGen2 over
the first `rotary_dim` dims of a head only)."""

from __future__ import annotations

import torch
from torch import nn


def holder(**children: nn.Module) -> nn.Module:
    """An nn.Module holding `children` under their names (their state-dict prefixes)."""
    out = nn.Module()
    for name, child in children.items():
        out.add_module(name, child)
    return out


def pair_rotation(length: int, dims: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin (T x dims/2, fp32) of the rotary embedding that turns adjacent pairs."""
    inv_freq = 1.0 / 10000.0 ** (torch.arange(0, dims, 2, device=device).float() / dims)
    angles = torch.outer(torch.arange(length, device=device).float(), inv_freq)
    return angles.cos(), angles.sin()


def rotate_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """B x H x T x d rotated pairwise: (x0, x1) at dims 2i, 2i+1 by angle T x i, in fp32 (as
    the complex product of the references), cast back to x's dtype."""
    pairs = x.float().unflatten(-1, (-1, 2))
    even, odd = pairs[..., 0], pairs[..., 1]
    turned = torch.stack((even * cos - odd * sin, odd * cos + even * sin), dim=-1)
    return turned.flatten(-2).to(x.dtype)
