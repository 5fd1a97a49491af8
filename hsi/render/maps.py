"""Label maps as pictures: one map with its class legend, and ground truth | prediction | errors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.patches import Patch

from hsi.render.figure import (
    DPI,
    _check_names,
    _class_handles,
    _legend_inches,
    _map_inches,
    _new_figure,
    _place_class_legend,
    _save,
    _show_map,
)
from hsi.render.palette import (
    BACKGROUND,
    RenderError,
    _as_class_ids,
    _as_label_map,
    _as_palette,
    colorize,
)

CORRECT = np.array([185, 185, 185], dtype=np.uint8)
WRONG = np.array([228, 26, 28], dtype=np.uint8)
# pixels the model was trained (or validated) on: never scored, drawn apart from test pixels
USED = np.array([70, 130, 200], dtype=np.uint8)
USED_LABEL = "used for training"
# labeled pixels that are neither trained on nor tested: a spatial split's buffer around its
# training blocks, whose windows overlap the training pixels (scoring them would leak)
BUFFER = np.array([235, 190, 80], dtype=np.uint8)
BUFFER_LABEL = "buffer, not scored"
# Grey/red rather than green/red: readable for the common red-green colour blindness.


def save_map(
    path: str | Path,
    ids_map: np.ndarray,
    class_ids: Any,
    class_names: Sequence[str],
    palette: np.ndarray | None = None,
    *,
    title: str | None = None,
    legend: bool = True,
    background_label: str | None = None,
    used: np.ndarray | None = None,
    buffer: np.ndarray | None = None,
) -> Path:
    """Write a label map (original ids, 0 = unlabeled) as an image with a class legend beside it.

    ``background_label`` (e.g. ``"unlabeled"``) adds a legend entry for 0. ``used`` (H × W
    bool) marks the training and validation pixels, drawn in one colour of their own ("used for
    training"), and ``buffer`` (H × W bool) the labeled pixels a spatial split keeps out of
    both training and test, in another ("buffer, not scored"), so that the map shows
    predictions only where they are a test. Returns the path.
    """
    ids = _as_class_ids(class_ids)
    names = _check_names(class_names, len(ids))
    pal = _as_palette(palette, len(ids))
    rgb = colorize(ids_map, ids, pal)
    handles = _class_handles(ids, names, pal, background_label) if legend else []
    if buffer is not None:
        buffer = _as_mask(buffer, rgb.shape[:2], "buffer")
        rgb[buffer] = BUFFER
    if used is not None:
        used = _as_mask(used, rgb.shape[:2], "training-pixel")
        rgb[used] = USED
    if legend and used is not None:
        handles.append(_patch(USED, f"{USED_LABEL} ({int(used.sum()):,})"))
    if legend and buffer is not None and buffer.any():  # only spatial splits have one
        n_buffer = int((buffer & ~used).sum()) if used is not None else int(buffer.sum())
        handles.append(_patch(BUFFER, f"{BUFFER_LABEL} ({n_buffer:,})"))
    h, w = rgb.shape[:2]
    map_w, map_h = _map_inches(h, w)
    wide = w / h > 2.0
    fig_w, fig_h = map_w + 0.3, map_h + (0.5 if title else 0.2)
    if handles:
        leg_w, leg_h = _legend_inches(handles, wide)
        if wide:
            fig_w, fig_h = max(fig_w, leg_w), fig_h + leg_h
        else:
            fig_w, fig_h = fig_w + leg_w, max(fig_h, leg_h)
    fig = _new_figure((fig_w, fig_h))
    ax = fig.add_subplot()
    _show_map(ax, rgb)
    ax.set_xlabel(f"{h} × {w} px", fontsize=8, color="0.4")
    if title:
        ax.set_title(title, fontsize=12)
    if handles:
        _place_class_legend(fig, handles, wide)
    return _save(fig, path)


def _error_rgb(
    gt: np.ndarray,
    pred: np.ndarray,
    used: np.ndarray | None = None,
    buffer: np.ndarray | None = None,
) -> tuple[np.ndarray, int, int]:
    """Correct / wrong on the scored pixels (labeled, neither ``used`` nor ``buffer``); the
    others apart, each in its colour."""
    labeled = gt != 0
    scored = labeled.copy()
    for mask in (used, buffer):
        if mask is not None:
            scored &= ~mask
    correct = scored & (pred == gt)
    wrong = scored & ~correct
    rgb = np.empty(gt.shape + (3,), dtype=np.uint8)
    rgb[:] = BACKGROUND
    rgb[correct] = CORRECT
    rgb[wrong] = WRONG
    if buffer is not None:
        rgb[labeled & buffer] = BUFFER
    if used is not None:
        rgb[labeled & used] = USED
    return rgb, int(correct.sum()), int(wrong.sum())


def _as_mask(mask: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != tuple(shape):
        raise RenderError(f"the {what} mask is {mask.shape} but the map is {tuple(shape)}")
    return mask


def _patch(color: np.ndarray, label: str) -> Patch:
    return Patch(facecolor=color / 255, edgecolor="0.35", lw=0.5, label=label)


def save_panels(
    path: str | Path,
    gt_ids: np.ndarray,
    pred_ids: np.ndarray,
    class_ids: Any,
    class_names: Sequence[str],
    palette: np.ndarray | None = None,
    *,
    title: str | None = None,
    background_label: str | None = None,
    used: np.ndarray | None = None,
    buffer: np.ndarray | None = None,
    rgb: np.ndarray | None = None,
    rgb_title: str = "Scene",
) -> Path:
    """[RGB view |] ground truth | prediction | errors, with a shared class legend; OA in the
    errors title. ``rgb`` is an ``(H, W, 3)`` uint8 view of the scene (:func:`hsi.rgb.rgb_view`).

    Errors are judged on the test pixels only: labeled (gt != 0) and not ``used`` (H × W bool,
    the pixels the model was trained or validated on, drawn in blue as "used for training" and
    never counted) and not ``buffer`` (H × W bool: a spatial split's buffer, labeled pixels in
    neither training nor test, drawn in amber as "buffer, not scored"). Correct in grey, wrong
    in red (a 0 in the prediction there counts as wrong), unlabeled in black. Returns the path.
    """
    ids = _as_class_ids(class_ids)
    names = _check_names(class_names, len(ids))
    pal = _as_palette(palette, len(ids))
    gt = _as_label_map(gt_ids, "ground truth")
    pred = _as_label_map(pred_ids, "prediction")
    if gt.shape != pred.shape:
        raise RenderError(f"ground truth is {gt.shape} but prediction is {pred.shape}")
    gt_rgb = colorize(gt, ids, pal)
    pred_rgb = colorize(pred, ids, pal)
    if used is not None:
        used = _as_mask(used, gt.shape, "training-pixel")
    if buffer is not None:
        buffer = _as_mask(buffer, gt.shape, "buffer")
    err_rgb, n_ok, n_bad = _error_rgb(gt, pred, used, buffer)
    if rgb is not None and np.shape(rgb) != gt.shape + (3,):
        raise RenderError(f"the RGB view is {np.shape(rgb)} but the maps are {gt.shape}")
    n_scored = n_ok + n_bad
    n_lab = int(np.count_nonzero(gt))

    h, w = gt.shape
    n = 3 if rgb is None else 4
    # Three or four wide scenes side by side would be slivers: stack them instead.
    stacked = w / h > 1.6
    panel_long = float(np.clip(max(h, w) / DPI, 6.5 if stacked else 4.2, 10.0))
    scale = panel_long / max(h, w)
    pw, ph = max(w * scale, 1.2), max(h * scale, 1.2)
    handles = _class_handles(ids, names, pal, background_label)
    leg_w, leg_h = _legend_inches(handles, wide=False)
    if stacked:
        fig_w, fig_h = pw + 0.4 + leg_w, max(n * (ph + 0.45) + 0.3, leg_h)
    else:
        fig_w, fig_h = n * (pw + 0.15) + 0.3 + leg_w, max(ph + 0.8, leg_h)
    if title:
        fig_h += 0.4
    fig = _new_figure((fig_w, fig_h))
    axes = list(fig.subplots(n, 1) if stacked else fig.subplots(1, n))

    what = "test OA" if used is not None or buffer is not None else "OA"
    if n_scored:
        oa_text = f"{what} {100 * n_ok / n_scored:.2f}% ({n_scored:,} px)"
    else:
        oa_text = f"{what} n/a (no pixel to score)"
    panels = [
        (gt_rgb, f"Ground truth ({n_lab:,} labeled px)"),
        (pred_rgb, "Prediction"),
        (err_rgb, f"Errors · {oa_text}"),
    ]
    if rgb is not None:
        panels.insert(0, (np.asarray(rgb, dtype=np.uint8), rgb_title))
    for ax, (image, panel_title) in zip(axes, panels, strict=True):
        _show_map(ax, image)
        ax.set_title(panel_title, fontsize=10)
    err_handles = [_patch(CORRECT, f"correct ({n_ok:,})"), _patch(WRONG, f"wrong ({n_bad:,})")]
    if used is not None:
        err_handles.append(_patch(USED, f"{USED_LABEL} ({int((used & (gt != 0)).sum()):,})"))
    if buffer is not None:
        shown = buffer & (gt != 0) if used is None else buffer & (gt != 0) & ~used
        if shown.any():  # only spatial splits have one
            err_handles.append(_patch(BUFFER, f"{BUFFER_LABEL} ({int(shown.sum()):,})"))
    axes[-1].legend(
        handles=err_handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.01),
        ncols=len(err_handles),
        fontsize=8,
        frameon=False,
        handlelength=1.2,
        columnspacing=1.0,
    )
    _place_class_legend(fig, handles, wide=False)
    if title:
        fig.suptitle(title, fontsize=12)
    return _save(fig, path)


def save_rgb(path: str | Path, rgb: np.ndarray, *, title: str | None = None) -> Path:
    """An ``(H, W, 3)`` uint8 view of the scene as a picture, at the size of the maps."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise RenderError(f"an RGB view must be (H, W, 3), got shape {rgb.shape}")
    h, w = rgb.shape[:2]
    map_w, map_h = _map_inches(h, w)
    fig = _new_figure((map_w + 0.3, map_h + (0.5 if title else 0.2)))
    ax = fig.add_subplot()
    _show_map(ax, rgb.astype(np.uint8, copy=False))
    ax.set_xlabel(f"{h} × {w} px", fontsize=8, color="0.4")
    if title:
        ax.set_title(title, fontsize=12)
    return _save(fig, path)
