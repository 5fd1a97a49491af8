"""Class colours and colourised label maps: numpy only, matplotlib is not imported.

Every map speaks in the ground truth's own class ids (any positive integers); 0 is unlabeled and
drawn black.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from hsi.errors import HSIError

BACKGROUND = np.array([0, 0, 0], dtype=np.uint8)


class RenderError(HSIError, ValueError):
    """Inputs to a plot do not fit together (an unknown class id, mismatched shapes, ...).

    A ValueError too, so callers that validate arrays the numpy way can catch it as one.
    """


@functools.cache
def _base_colors() -> np.ndarray:
    """spectral's ``spy_colors`` then matplotlib's tab20*: built on first use, so that importing
    this module (and colouring with an explicit palette) needs neither library."""
    import matplotlib as mpl
    from spectral import spy_colors

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


def default_palette(n: int) -> np.ndarray:
    """``(n, 3)`` uint8 colours: spectral's ``spy_colors`` (without its black), then tab20*.

    Deterministic; the first ~90 colours are distinct, beyond that the list repeats.
    """
    n = int(n)
    if n < 0:
        raise RenderError(f"palette size must be non-negative, got {n}")
    base = _base_colors()
    return base[np.arange(n) % len(base)].copy()


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
