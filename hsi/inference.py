"""Full-scene classification: every pixel, batched, tiled, always in eval mode.

Two paths give the same labels:

- **dense** — for models whose layers are all stride-1 (HybridSN): the zero-padded scene is
  evaluated as one fully-convolutional pass per tile, the first dense layer acting as a
  ``(p−8)×(p−8)`` convolution. Neighbouring windows share almost all their convolution work, so
  this does a small fraction of the patch-wise arithmetic. Models whose first layers only are
  stride-1 convolutions (HybridSN-SE and -CBAM, SSFTT) share those and run the rest on each
  window's crop of them (``PatchClassifier.dense_logits``). Tiles of ``tile × tile`` output
  pixels (with a ``p − 1`` halo) keep memory bounded on large scenes.
- **patches** — any model: windows are gathered in batches from the padded cube.

The course notebook looped over pixels one forward pass at a time, with dropout still on, and
stored ``prediction + 1`` into the map — right only when class ids are exactly 1..K. Here the
result is class *indices*, and :func:`indices_to_ids` maps them to the ground truth's own ids.
:func:`predict_scores` takes the same paths and keeps the class scores (logits) instead.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import nn

from hsi.augment import mean_over_views
from hsi.errors import ConfigError
from hsi.patches import PatchDataset, pad_cube
from hsi.progress import track

Method = Literal["auto", "dense", "patches"]


def predict_indices(
    model: nn.Module,
    reduced: np.ndarray,
    *,
    patch: int,
    padding: str = "zero",
    method: Method = "auto",
    batch_size: int = 512,
    tile: int = 128,
    mask: np.ndarray | None = None,
    device: torch.device | str = "cpu",
    progress: bool = False,
    tta: bool = False,
) -> np.ndarray:
    """Class index (0..K-1) of every pixel of a reduced cube ``(H, W, k)``; -1 outside ``mask``.

    ``mask`` (H × W bool) limits the work to those pixels (patch path) or tiles (dense path).
    ``tta``: average the logits of the eight flips and rotations of every window
    (:mod:`hsi.augment`); the dense path transforms each padded tile, runs its pass and maps the
    result back, so both paths still agree. Eight times the work.
    """
    return _predict_scene(
        model, reduced, patch, padding, method, batch_size, tile, mask, device, progress, False, tta
    )


def predict_scores(
    model: nn.Module,
    reduced: np.ndarray,
    *,
    patch: int,
    padding: str = "zero",
    method: Method = "auto",
    batch_size: int = 512,
    tile: int = 128,
    mask: np.ndarray | None = None,
    device: torch.device | str = "cpu",
    progress: bool = False,
    tta: bool = False,
) -> np.ndarray:
    """The model's class scores ``(H, W, K)`` (float32) for every pixel; NaN outside ``mask``.

    The same passes as :func:`predict_indices`, whose indices are these scores' arg-max: the
    networks' logits (their softmax gives class probabilities), the SVM's one-vs-one votes;
    with ``tta`` their mean over the eight flips and rotations.
    """
    return _predict_scene(
        model, reduced, patch, padding, method, batch_size, tile, mask, device, progress, True, tta
    )


def _predict_scene(
    model, reduced, patch, padding, method, batch_size, tile, mask, device, progress, scores, tta
) -> np.ndarray:
    dense_ok = bool(getattr(model, "supports_dense", False))
    if method == "dense" and not dense_ok:
        raise ConfigError(
            f"method dense: {type(model).__name__} has no whole-scene pass (it needs "
            "stride-1 layers applied to each window alike); use patches or auto",
            params=("method",),
        )
    use_dense = dense_ok if method == "auto" else method == "dense"
    was_training = model.training
    model.eval()
    device = torch.device(device)
    padded = pad_cube(reduced, patch, padding)
    try:
        with torch.inference_mode():
            if use_dense:
                out = _predict_dense(
                    model, padded, patch, tile, mask, device, progress, scores, tta
                )
            else:
                out = _predict_patches(
                    model, reduced, padded, patch, batch_size, mask, device, progress, scores, tta
                )
    finally:
        model.train(was_training)
    if mask is not None:
        out[~mask] = np.nan if scores else -1
    return out


def _empty_map(h: int, w: int, model: nn.Module, scores: bool) -> np.ndarray:
    if scores:
        return np.full((h, w, int(model.n_classes)), np.nan, dtype=np.float32)
    return np.full((h, w), -1, dtype=np.int64)


def _predict_dense(model, padded, patch, tile, mask, device, progress, scores, tta) -> np.ndarray:
    _, hp, wp = padded.shape
    h, w = hp - patch + 1, wp - patch + 1
    out = _empty_map(h, w, model, scores)
    tiles = [
        (i, j)
        for i in range(0, h, tile)
        for j in range(0, w, tile)
        if mask is None or mask[i : i + tile, j : j + tile].any()
    ]
    for i, j in track(tiles, "mapping (dense)", progress):
        i1, j1 = min(i + tile, h), min(j + tile, w)
        x = torch.from_numpy(padded[:, i : i1 + patch - 1, j : j1 + patch - 1]).to(device)
        # models that run part of the network per window skip the windows outside the mask
        tile_mask = None if mask is None else torch.from_numpy(mask[i:i1, j:j1]).to(device)
        if tta:
            logits = mean_over_views(model.dense_logits, x, mask=tile_mask)
        elif tile_mask is None:
            logits = model.dense_logits(x)
        else:
            logits = model.dense_logits(x, mask=tile_mask)
        if scores:
            out[i:i1, j:j1] = logits.permute(1, 2, 0).float().cpu().numpy()
        else:
            out[i:i1, j:j1] = logits.argmax(0).cpu().numpy()
    return out


def _predict_patches(
    model, reduced, padded, patch, batch_size, mask, device, progress, scores, tta
):
    h, w = reduced.shape[:2]
    coords = np.argwhere(np.ones((h, w), dtype=bool) if mask is None else mask)
    data = PatchDataset(reduced, coords, patch=patch, padded=padded)
    out = _empty_map(h, w, model, scores)
    out[coords[:, 0], coords[:, 1]] = predict_patches(
        model, data, batch_size, device, return_scores=scores, progress=progress, tta=tta
    )
    return out


def predict_patches(
    model: nn.Module,
    data: PatchDataset,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    *,
    return_loss: bool = False,
    return_scores: bool = False,
    progress: bool = False,
    tta: bool = False,
):
    """Class indices for every window of ``data`` (and the mean loss against its targets).

    The one batched patch-wise prediction: validation during training and the patch path of
    :func:`predict_indices` both use it. Dropout is off and autograd too. ``return_scores``:
    the model's scores ``(N, K)`` (float32) instead of their arg-max.
    """
    was_training = model.training
    model.eval()
    out = None if return_scores else np.empty(len(data), dtype=np.int64)
    total_loss = 0.0
    starts = range(0, len(data), batch_size)
    try:
        with torch.inference_mode():
            for start in track(starts, "mapping (patches)", progress):
                idx = np.arange(start, min(start + batch_size, len(data)))
                x, y = data.get_batch(idx)
                x = x.to(device)
                logits = mean_over_views(model, x) if tta else model(x)
                if return_scores:
                    if out is None:
                        out = np.empty((len(data), logits.shape[1]), dtype=np.float32)
                    out[idx] = logits.float().cpu().numpy()
                else:
                    out[idx] = logits.argmax(1).cpu().numpy()
                if return_loss:
                    loss = nn.functional.cross_entropy(logits, y.to(device), reduction="sum")
                    total_loss += float(loss)
    finally:
        model.train(was_training)
    if out is None:  # no window at all
        out = np.empty((0, int(getattr(model, "n_classes", 0))), dtype=np.float32)
    if return_loss:
        return out, total_loss / max(len(data), 1)
    return out
