"""Pictures of label maps, predictions, confusion matrices, training curves and sweeps.

Every map speaks in the ground truth's own class ids (any positive integers); 0 is unlabeled and
drawn black. Figures are built on :class:`matplotlib.figure.Figure` with an Agg canvas rather than
through pyplot, so nothing touches global state, no display is needed, and rendering from several
threads is safe. Every file goes through :func:`hsi.atomic.atomic_path`, so a crash never leaves a
truncated image under the final name. Files are PNG at 150 dpi; a path without a suffix gets
``.png``, and other formats matplotlib knows (``.pdf``, ``.svg``) are chosen by suffix.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FormatStrFormatter, MaxNLocator
from spectral import spy_colors

from hsi.atomic import atomic_path
from hsi.errors import HSIError

__all__ = [
    "BACKGROUND",
    "RenderError",
    "colorize",
    "default_palette",
    "save_confusion",
    "save_curves",
    "save_map",
    "save_panels",
    "save_sweep_plot",
]

DPI = 150
BACKGROUND = np.array([0, 0, 0], dtype=np.uint8)
CORRECT = np.array([185, 185, 185], dtype=np.uint8)
WRONG = np.array([228, 26, 28], dtype=np.uint8)
# Grey/red rather than green/red: readable for the common red-green colour blindness.

_TRAIN_COLOR = "#1f77b4"
_VAL_COLOR = "#ff7f0e"
_BEST_COLOR = "#2ca02c"
_METRIC_LABELS = {"oa": "OA", "aa": "AA", "kappa": "Kappa", "f1": "F1"}


class RenderError(HSIError, ValueError):
    """Inputs to a plot do not fit together (an unknown class id, mismatched shapes, ...).

    A ValueError too, so callers that validate arrays the numpy way can catch it as one.
    """


# --------------------------------------------------------------------------------------------
# Colours
# --------------------------------------------------------------------------------------------


def _base_colors() -> np.ndarray:
    spy = np.asarray(spy_colors, dtype=np.int64)[1:]
    # spy_colors holds a dark grey (50, 50, 50) that vanishes against the black background.
    spy = spy[spy.max(axis=1) >= 80]
    extra = []
    for name in ("tab20", "tab20b", "tab20c"):
        cmap = mpl.colormaps[name]
        extra.append(np.round(np.asarray(cmap.colors)[:, :3] * 255).astype(np.int64))
    colors = [tuple(c) for c in spy] + [tuple(c) for c in np.concatenate(extra)]
    # Keep first occurrences only, so no two classes share a colour until the list runs out.
    unique = list(dict.fromkeys(colors))
    return np.asarray(unique, dtype=np.uint8)


_BASE_COLORS = _base_colors()


def default_palette(n: int) -> np.ndarray:
    """``(n, 3)`` uint8 colours: spectral's ``spy_colors`` (without its black), then tab20*.

    Deterministic; the first ~90 colours are distinct, beyond that the list repeats.
    """
    n = int(n)
    if n < 0:
        raise RenderError(f"palette size must be non-negative, got {n}")
    idx = np.arange(n) % len(_BASE_COLORS)
    return _BASE_COLORS[idx].copy()


def _as_class_ids(class_ids: Any) -> np.ndarray:
    ids = np.asarray(class_ids)
    if ids.ndim != 1:
        raise RenderError(f"class_ids must be a 1-D sequence, got shape {ids.shape}")
    integral = np.issubdtype(ids.dtype, np.integer) or (
        np.issubdtype(ids.dtype, np.floating) and np.all(ids == np.round(ids))
    )
    if ids.size and not integral:
        raise RenderError(f"class_ids must be integers, got {ids.tolist()[:10]}")
    ids = ids.astype(np.int64)
    if np.any(ids <= 0):
        raise RenderError(
            f"class_ids must be positive (0 means unlabeled), got {ids[ids <= 0].tolist()}"
        )
    if len(np.unique(ids)) != len(ids):
        raise RenderError(f"class_ids must be unique, got {ids.tolist()}")
    return ids


def _as_palette(palette: Any, k: int) -> np.ndarray:
    if palette is None:
        return default_palette(k)
    pal = np.asarray(palette)
    if pal.shape != (k, 3):
        raise RenderError(f"palette must have shape ({k}, 3) for {k} classes, got {pal.shape}")
    if np.issubdtype(pal.dtype, np.floating) and pal.size and pal.max() <= 1.0:
        # A matplotlib-style palette in [0, 1]; accept it rather than render it all black.
        pal = np.round(pal * 255)
    if pal.size and (pal.min() < 0 or pal.max() > 255):
        raise RenderError("palette values must lie in 0..255")
    return pal.astype(np.uint8)


def _as_label_map(ids_map: Any, what: str = "label map") -> np.ndarray:
    arr = np.asarray(ids_map)
    if arr.ndim != 2:
        raise RenderError(f"{what} must be a 2-D (H, W) array, got shape {arr.shape}")
    integral = (
        np.issubdtype(arr.dtype, np.integer)
        or arr.dtype == np.bool_
        or (np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)))
    )
    if not integral:
        raise RenderError(f"{what} must hold integer class ids, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def colorize(ids_map: np.ndarray, class_ids: Any, palette: np.ndarray | None = None) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB: each pixel in its class id's palette colour, 0 in black.

    ``palette`` rows follow ``class_ids`` (default: :func:`default_palette`). An id that is
    neither 0 nor in ``class_ids`` raises :class:`RenderError` (a ValueError).
    """
    ids = _as_class_ids(class_ids)
    pal = _as_palette(palette, len(ids))
    arr = _as_label_map(ids_map)
    # Work on the distinct values only: ids may be large and sparse (e.g. {1, 10, 200}).
    values, inverse = np.unique(arr, return_inverse=True)
    order = np.argsort(ids)
    sorted_ids = ids[order]
    pos = np.clip(np.searchsorted(sorted_ids, values), 0, max(len(ids) - 1, 0))
    found = (sorted_ids[pos] == values) if len(ids) else np.zeros(len(values), dtype=bool)
    unknown = values[~found & (values != 0)]
    if unknown.size:
        shown = ", ".join(str(v) for v in unknown[:10]) + (", ..." if unknown.size > 10 else "")
        raise RenderError(f"label map holds ids not among the class ids {ids.tolist()}: {shown}")
    lut = np.empty((len(values), 3), dtype=np.uint8)
    lut[:] = BACKGROUND
    lut[found] = pal[order[pos[found]]]
    return lut[inverse.reshape(arr.shape)]


# --------------------------------------------------------------------------------------------
# Shared plumbing
# --------------------------------------------------------------------------------------------


def _new_figure(figsize: tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    fmt = path.suffix[1:].lower()
    if fmt not in fig.canvas.get_supported_filetypes():
        raise RenderError(
            f"{path}: cannot write a .{fmt} image; use .png "
            f"(or one of {sorted(fig.canvas.get_supported_filetypes())})"
        )
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=DPI, facecolor="white")
    finally:
        # Not registered with pyplot, so clearing drops the artists and their memory now.
        fig.clear()
    return path


def _check_names(class_names: Sequence[str], k: int) -> list[str]:
    names = [str(n) for n in class_names]
    if len(names) != k:
        raise RenderError(f"{len(names)} class names for {k} class ids")
    return names


def _legend_label(class_id: int, name: str, width: int = 36) -> str:
    label = f"{class_id} · {name}"
    return "\n".join(textwrap.wrap(label, width, subsequent_indent="     ")) or label


def _class_handles(
    ids: np.ndarray,
    names: list[str],
    pal: np.ndarray,
    background_label: str | None,
) -> list[Patch]:
    handles = [
        Patch(facecolor=pal[i] / 255, edgecolor="0.35", linewidth=0.5, label=_legend_label(c, n))
        for i, (c, n) in enumerate(zip(ids.tolist(), names, strict=True))
    ]
    if background_label is not None:
        handles.insert(
            0,
            Patch(
                facecolor=BACKGROUND / 255,
                edgecolor="0.35",
                linewidth=0.5,
                label=_legend_label(0, background_label),
            ),
        )
    return handles


def _legend_columns(n: int, rows_per_column: int = 20) -> int:
    return max(1, math.ceil(n / rows_per_column))


def _map_inches(h: int, w: int) -> tuple[float, float]:
    """Inches for an image panel: a readable size for small scenes, native-ish for large ones."""
    long_px = max(h, w)
    # 6.5 in at 150 dpi upsamples a 145-pixel scene ~6.7×; large scenes get up to native size.
    long_in = float(np.clip(long_px / DPI, 6.5, 13.0))
    scale = long_in / long_px
    return max(w * scale, 1.5), max(h * scale, 1.5)


def _show_map(ax: Any, rgb: np.ndarray) -> None:
    # Nearest neighbour: a label map must show only palette colours, never blends between them.
    ax.imshow(rgb, interpolation="nearest", resample=False)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor("0.6")
        spine.set_linewidth(0.6)


def _place_class_legend(
    fig: Figure, handles: list[Patch], wide: bool, title: str = "class"
) -> None:
    fontsize = 9 if len(handles) <= 24 else 8
    common = dict(
        handles=handles,
        fontsize=fontsize,
        title=title,
        title_fontsize=fontsize,
        frameon=False,
        handlelength=1.6,
        handleheight=1.2,
    )
    if wide:
        fig.legend(loc="outside lower center", ncols=min(len(handles), 4), **common)
    else:
        fig.legend(
            loc="outside right center",
            ncols=_legend_columns(len(handles)),
            labelspacing=0.45,
            **common,
        )


def _legend_inches(handles: list[Patch], wide: bool) -> tuple[float, float]:
    """Room the class legend needs beside (width) or below (height) the images."""
    longest = max((len(line) for h in handles for line in h.get_label().split("\n")), default=8)
    col_w = 0.6 + 0.075 * longest
    lines = sum(h.get_label().count("\n") + 1 for h in handles)
    if wide:
        ncols = min(len(handles), 4)
        rows = math.ceil(lines / max(ncols, 1))
        return col_w * ncols, 0.5 + 0.22 * rows
    ncols = _legend_columns(len(handles))
    return col_w * ncols, 0.6 + 0.24 * math.ceil(lines / ncols)


# --------------------------------------------------------------------------------------------
# Maps
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Confusion matrix
# --------------------------------------------------------------------------------------------


def save_confusion(
    path: str | Path,
    confusion: np.ndarray,
    class_ids: Any,
    class_names: Sequence[str],
    *,
    normalize: bool = True,
) -> Path:
    """Heat map of a ``(K, K)`` confusion matrix (rows = true, columns = predicted).

    With ``normalize`` each row is shown as a percentage of its true class, so rare and common
    classes read alike. Cells are annotated when K ≤ 20. Returns the path.
    """
    ids = _as_class_ids(class_ids)
    k = len(ids)
    names = _check_names(class_names, k)
    cm = np.asarray(confusion, dtype=np.float64)
    if cm.shape != (k, k):
        raise RenderError(f"confusion matrix must be ({k}, {k}) for {k} classes, got {cm.shape}")
    if k == 0:
        raise RenderError("confusion matrix is empty: no classes")
    if np.any(~np.isfinite(cm)) or np.any(cm < 0):
        raise RenderError("confusion matrix must hold finite, non-negative counts")
    total = cm.sum()
    oa = np.trace(cm) / total if total else float("nan")
    row_sums = cm.sum(axis=1, keepdims=True)
    if normalize:
        values = np.divide(100 * cm, row_sums, out=np.zeros_like(cm), where=row_sums > 0)
        vmax, cbar_label = 100.0, "% of true class"
    else:
        values = cm
        vmax, cbar_label = max(float(cm.max()), 1.0), "pixels"

    # The support tells a reader whether a 100% row rests on 3 pixels or on 3,000.
    ylabels = [
        f"{c} · {textwrap.shorten(n, 40, placeholder='…')}  (n={int(s):,})"
        for c, n, s in zip(ids.tolist(), names, row_sums[:, 0], strict=True)
    ]
    tick_size = 8 if k <= 30 else 6
    longest = max(len(label) for label in ylabels)
    cell = 0.42 if k <= 20 else max(0.16, 8.0 / k)
    side = max(cell * k, 3.0)
    fig = _new_figure((side + 0.009 * tick_size * longest + 2.0, side + 1.5))
    ax = fig.add_subplot()
    im = ax.imshow(values, cmap="Blues", vmin=0, vmax=vmax, interpolation="nearest")
    fig.colorbar(im, ax=ax, label=cbar_label, shrink=0.8, pad=0.02)

    xlabels = [str(c) for c in ids.tolist()]
    ax.set_xticks(range(k), xlabels, fontsize=tick_size, rotation=90 if k > 20 else 0)
    ax.set_yticks(range(k), ylabels, fontsize=tick_size)
    ax.set_xlabel("predicted class id")
    ax.set_ylabel("true class")
    kind = "row-normalised" if normalize else "counts"
    oa_text = f" · OA {100 * oa:.2f}%" if total else ""
    ax.set_title(f"Confusion matrix ({kind}){oa_text}", fontsize=11)
    # Thin grid between cells so neighbouring pale cells stay apart.
    ax.set_xticks(np.arange(-0.5, k, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, k, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=0.6)
    ax.tick_params(which="minor", length=0)

    if k <= 20:
        fontsize = 8 if k <= 12 else 6.5
        for i in range(k):
            for j in range(k):
                v = values[i, j]
                if cm[i, j] == 0:
                    continue
                text = f"{int(round(v))}"
                if normalize and v < 0.5:
                    text = "<1"  # a rare confusion should not read as none at all
                color = "white" if v > 0.55 * vmax else "0.15"
                ax.text(j, i, text, ha="center", va="center", fontsize=fontsize, color=color)
    return _save(fig, path)


# --------------------------------------------------------------------------------------------
# Training curves
# --------------------------------------------------------------------------------------------


def _series(history: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    out = np.full(len(history), np.nan)
    for i, row in enumerate(history):
        v = row.get(key)
        if v is not None:
            try:
                out[i] = float(v)
            except (TypeError, ValueError):
                out[i] = np.nan
    return out


def save_curves(path: str | Path, history: Sequence[Mapping[str, Any]]) -> Path:
    """Loss and accuracy per epoch, train and validation; the best validation epoch is marked.

    Each entry has ``epoch``, ``train_loss``, ``train_acc`` and optionally ``val_loss`` and
    ``val_acc`` (None or NaN where not measured). Returns the path.
    """
    if not history:
        raise RenderError("training history is empty: nothing to plot")
    epochs = np.array(
        [float(row.get("epoch", i + 1)) for i, row in enumerate(history)], dtype=np.float64
    )
    fig = _new_figure((10.0, 4.0))
    ax_loss, ax_acc = fig.subplots(1, 2)
    val_acc = _series(history, "val_acc")
    best = int(np.nanargmax(val_acc)) if np.any(np.isfinite(val_acc)) else None

    for ax, key, label in ((ax_loss, "loss", "Loss"), (ax_acc, "acc", "Accuracy")):
        for split, color in (("train", _TRAIN_COLOR), ("val", _VAL_COLOR)):
            y = _series(history, f"{split}_{key}")
            ok = np.isfinite(y)
            if not ok.any():
                continue
            # Markers only when few points, or a lone validation point would be invisible.
            marker = "o" if ok.sum() <= 30 else None
            ax.plot(
                epochs[ok],
                y[ok],
                color=color,
                marker=marker,
                markersize=3,
                linewidth=1.6,
                label="train" if split == "train" else "validation",
            )
        if best is not None:
            ax.axvline(
                epochs[best],
                color=_BEST_COLOR,
                linestyle="--",
                linewidth=1.2,
                label=f"best val (epoch {epochs[best]:g}, acc {val_acc[best]:.4f})",
            )
        ax.set_title(label, fontsize=11)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=8, frameon=False)
    ax_loss.set_ylabel("loss")
    ax_acc.set_ylabel("accuracy")
    return _save(fig, path)


# --------------------------------------------------------------------------------------------
# Sweeps
# --------------------------------------------------------------------------------------------


def _group_key(value: Any) -> tuple[int, float | str]:
    # Numbers in numeric order (5 before 10), anything else after them as text.
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return (0, float(value))
    return (1, str(value))


def _fmt_group(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _box_and_strip(
    ax: Any, data: list[np.ndarray], positions: list[float], seed: int, width: float
) -> None:
    ax.boxplot(
        data,
        positions=positions,
        widths=width,
        showfliers=False,  # every run is drawn as a point already
        patch_artist=True,
        boxprops={"facecolor": "#dbe7f3", "edgecolor": "#4a6f96"},
        medianprops={"color": "#1f3b5a", "linewidth": 1.6},
        whiskerprops={"color": "#4a6f96"},
        capprops={"color": "#4a6f96"},
    )
    rng = np.random.default_rng(seed)  # fixed jitter: the same sweep gives the same picture
    for pos, values in zip(positions, data, strict=True):
        x = pos + rng.uniform(-width / 4, width / 4, size=len(values))
        ax.scatter(x, values, s=14, color="#d62728", alpha=0.75, zorder=3, linewidths=0)


def save_sweep_plot(
    path: str | Path,
    rows: Sequence[Mapping[str, Any]],
    metrics: Sequence[str] = ("oa", "aa", "kappa"),
    group_by: str | None = None,
) -> Path:
    """Box plot with every run as a point, one subplot per metric; one box per ``group_by`` value.

    ``rows`` are one dict per run holding the metrics as floats in [0, 1] (None/NaN are skipped).
    Returns the path.
    """
    if not rows:
        raise RenderError("sweep has no runs: nothing to plot")
    metrics = list(metrics)
    if not metrics:
        raise RenderError("no metrics to plot")
    missing = [m for m in metrics if all(row.get(m) is None for row in rows)]
    if missing:
        raise RenderError(f"no run has the metric(s) {missing}; runs have {sorted(rows[0])}")
    if group_by is not None:
        absent = [i for i, row in enumerate(rows) if group_by not in row]
        if absent:
            raise RenderError(f"{len(absent)} run(s) have no {group_by!r}, e.g. run #{absent[0]}")
        groups = sorted({row[group_by] for row in rows}, key=_group_key)
    else:
        groups = [None]

    n_m = len(metrics)
    sub_w = max(2.6, 0.75 * len(groups) + 1.4)
    fig = _new_figure((sub_w * n_m + 0.4, 4.2))
    axes = np.atleast_1d(fig.subplots(1, n_m, squeeze=False)[0])
    for m_idx, (ax, metric) in enumerate(zip(axes, metrics, strict=True)):
        data, positions, ticklabels = [], [], []
        for g_idx, g in enumerate(groups):
            sel = rows if g is None else [row for row in rows if row[group_by] == g]
            vals = _series(sel, metric)
            vals = vals[np.isfinite(vals)]
            data.append(vals)
            positions.append(float(g_idx))
            ticklabels.append(f"{_fmt_group(g)}\n(n={len(vals)})" if g is not None else "")
        # boxplot cannot draw an empty group; leave its slot blank but keep the tick.
        drawn = [(d, p) for d, p in zip(data, positions, strict=True) if len(d)]
        if drawn:
            width = 0.5 if group_by is not None else 0.35
            _box_and_strip(ax, [d for d, _ in drawn], [p for _, p in drawn], m_idx, width)
        label = _METRIC_LABELS.get(metric.lower(), metric)
        if group_by is None and len(data[0]):
            v = data[0]
            sd = float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
            ax.set_title(f"{label}\n{v.mean():.4f} ± {sd:.4f}  (n={len(v)})", fontsize=10)
            ax.set_xticks([])
        else:
            ax.set_title(label, fontsize=11)
            ax.set_xticks(positions, ticklabels, fontsize=8)
            ax.set_xlabel(group_by or "")
        ax.set_xlim(-0.6, len(groups) - 0.4)
        ax.grid(True, axis="y", alpha=0.3)
        ax.yaxis.set_major_formatter(FormatStrFormatter("%.3f"))
    axes[0].set_ylabel("score")
    return _save(fig, path)
