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
) -> Path:
    """Write a label map (original ids, 0 = unlabeled) as an image with a class legend beside it.

    ``background_label`` (e.g. ``"unlabeled"``) adds a legend entry for 0. Returns the path.
    """
    ids = _as_class_ids(class_ids)
    names = _check_names(class_names, len(ids))
    pal = _as_palette(palette, len(ids))
    rgb = colorize(ids_map, ids, pal)
    h, w = rgb.shape[:2]
    map_w, map_h = _map_inches(h, w)
    wide = w / h > 2.0
    handles = _class_handles(ids, names, pal, background_label) if legend else []
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


def _error_rgb(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, int, int]:
    labeled = gt != 0
    correct = labeled & (pred == gt)
    wrong = labeled & ~correct
    rgb = np.empty(gt.shape + (3,), dtype=np.uint8)
    rgb[:] = BACKGROUND
    rgb[correct] = CORRECT
    rgb[wrong] = WRONG
    return rgb, int(correct.sum()), int(wrong.sum())


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
) -> Path:
    """Ground truth | prediction | errors, with a shared class legend; OA in the errors title.

    Errors are judged on labeled pixels only (gt != 0): correct in grey, wrong in red (a 0 in
    the prediction there counts as wrong), unlabeled in black. Returns the path.
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
    err_rgb, n_ok, n_bad = _error_rgb(gt, pred)
    n_lab = n_ok + n_bad

    h, w = gt.shape
    # Three wide scenes side by side would be slivers: stack them instead.
    stacked = w / h > 1.6
    panel_long = float(np.clip(max(h, w) / DPI, 6.5 if stacked else 4.2, 10.0))
    scale = panel_long / max(h, w)
    pw, ph = max(w * scale, 1.2), max(h * scale, 1.2)
    handles = _class_handles(ids, names, pal, background_label)
    leg_w, leg_h = _legend_inches(handles, wide=False)
    if stacked:
        fig_w, fig_h = pw + 0.4 + leg_w, max(3 * (ph + 0.45) + 0.3, leg_h)
    else:
        fig_w, fig_h = 3 * (pw + 0.15) + 0.3 + leg_w, max(ph + 0.8, leg_h)
    if title:
        fig_h += 0.4
    fig = _new_figure((fig_w, fig_h))
    axes = fig.subplots(3, 1) if stacked else fig.subplots(1, 3)

    oa_text = f"OA {100 * n_ok / n_lab:.2f}%" if n_lab else "OA n/a (no labeled pixels)"
    panels = (
        (gt_rgb, f"Ground truth ({n_lab:,} labeled px)"),
        (pred_rgb, "Prediction"),
        (err_rgb, f"Errors · {oa_text}"),
    )
    for ax, (rgb, panel_title) in zip(axes, panels, strict=True):
        _show_map(ax, rgb)
        ax.set_title(panel_title, fontsize=10)
    err_handles = [
        Patch(facecolor=CORRECT / 255, edgecolor="0.35", lw=0.5, label=f"correct ({n_ok:,})"),
        Patch(facecolor=WRONG / 255, edgecolor="0.35", lw=0.5, label=f"wrong ({n_bad:,})"),
    ]
    axes[2].legend(
        handles=err_handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.01),
        ncols=2,
        fontsize=8,
        frameon=False,
        handlelength=1.2,
        columnspacing=1.0,
    )
    _place_class_legend(fig, handles, wide=False)
    if title:
        fig.suptitle(title, fontsize=12)
    return _save(fig, path)
