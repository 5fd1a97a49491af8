"""Diagnostic plots: the confusion matrix, training curves and a sweep's scores."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import FormatStrFormatter, MaxNLocator

from hsi.render.figure import _check_names, _new_figure, _save, _series
from hsi.render.palette import RenderError, _as_class_ids
from hsi.tables import mean_pm_std

_TRAIN_COLOR = "#1f77b4"
_VAL_COLOR = "#ff7f0e"
_BEST_COLOR = "#2ca02c"
_METRIC_LABELS = {"oa": "OA", "aa": "AA", "kappa": "Kappa", "f1": "F1"}


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
            spread = mean_pm_std(float(v.mean()), sd)
            ax.set_title(f"{label}\n{spread}  (n={len(v)})", fontsize=10)
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
