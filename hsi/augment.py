"""The eight flips and 90° rotations of a window (the dihedral group D4), for training-time
augmentation and test-time averaging.

A land-cover label does not change when its neighbourhood is seen mirrored or rotated, so these
eight views of a training window are eight samples of the same class (Paoletti et al. 2019 and
most HSI CNN papers use them). The transforms act on the last two axes (rows, columns) of a
tensor; the spectral axis is untouched.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: transform t: rotate by 90°·(t % 4) counter-clockwise, then flip left-right when t >= 4
N_TRANSFORMS = 8


def transform(x: Tensor, t: int) -> Tensor:
    """View ``t`` (0..7) of ``x`` over its last two axes; 0 is ``x`` itself."""
    y = torch.rot90(x, t % 4, dims=(-2, -1))
    return torch.flip(y, dims=(-1,)) if t >= 4 else y


def inverse(x: Tensor, t: int) -> Tensor:
    """Undo :func:`transform` ``t``: ``inverse(transform(x, t), t)`` equals ``x``."""
    y = torch.flip(x, dims=(-1,)) if t >= 4 else x
    return torch.rot90(y, -(t % 4), dims=(-2, -1))


def random_views(x: Tensor, generator: torch.Generator) -> Tensor:
    """Each window of a batch ``(N, …, p, p)`` in one of the eight views, drawn from
    ``generator`` (seeded: the same seed draws the same views)."""
    choice = torch.randint(0, N_TRANSFORMS, (x.shape[0],), generator=generator)
    out = x.clone()
    for t in range(1, N_TRANSFORMS):
        picked = (choice == t).nonzero(as_tuple=True)[0].to(x.device)
        if len(picked):
            out[picked] = transform(x[picked], t)
    return out


def mean_over_views(logits_of, x: Tensor, *, mask: Tensor | None = None) -> Tensor:
    """Mean logits of the eight views of ``x``, each mapped back to ``x``'s own frame when the
    logits are a map (``(K, H, W)`` from a whole-scene pass), as they are for windows ``(N, K)``.

    ``logits_of(view)`` runs the model; the result keeps its shape. ``mask``, a map of the
    output's pixels, is turned with each view and passed as ``logits_of(view, mask=…)``.
    """
    total = None
    for t in range(N_TRANSFORMS):
        view = transform(x, t)
        logits = logits_of(view) if mask is None else logits_of(view, mask=transform(mask, t))
        if logits.dim() == 3:  # a map: its pixels moved with the scene
            logits = inverse(logits, t)
        total = logits if total is None else total + logits
    return total / N_TRANSFORMS
