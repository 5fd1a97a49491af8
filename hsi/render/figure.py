"""Figure plumbing shared by the map and diagnostic plots: an Agg canvas, the atomic save,
class legends and panel sizes.

Figures are built on :class:`matplotlib.figure.Figure` with an Agg canvas rather than through
pyplot, so nothing touches global state, no display is needed, and rendering from several threads
is safe. Every file goes through :func:`hsi.atomic.atomic_path`, so a crash never leaves a
truncated image under the final name. Files are PNG at 150 dpi; a path without a suffix gets
``.png``, and other formats matplotlib knows (``.pdf``, ``.svg``) are chosen by suffix.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from hsi.atomic import atomic_path
from hsi.render.palette import BACKGROUND, RenderError

DPI = 150


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
