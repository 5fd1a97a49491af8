"""Pictures of label maps, predictions, confusion matrices, training curves and sweeps.

Three modules, by job:

- :mod:`hsi.render.palette`: class colours and :func:`colorize` (numpy only; importing it, or
  ``hsi.render`` itself, loads no matplotlib);
- :mod:`hsi.render.maps`: :func:`save_map`, :func:`save_panels` and :func:`save_rgb`;
- :mod:`hsi.render.plots`: :func:`save_confusion`, :func:`save_curves`, :func:`save_sweep_plot`;

and :mod:`hsi.render.figure`, the plumbing they share (Agg canvas, atomic save, legends). The
names below are re-exported here, the figures loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from hsi.render.palette import BACKGROUND, RenderError, colorize, default_palette

__all__ = [
    "BACKGROUND",
    "RenderError",
    "colorize",
    "default_palette",
    "save_confusion",
    "save_curves",
    "save_map",
    "save_panels",
    "save_rgb",
    "save_sweep_plot",
]

_FIGURES = {
    "save_map": "hsi.render.maps",
    "save_panels": "hsi.render.maps",
    "save_rgb": "hsi.render.maps",
    "save_confusion": "hsi.render.plots",
    "save_curves": "hsi.render.plots",
    "save_sweep_plot": "hsi.render.plots",
}


def __getattr__(name: str) -> Any:
    if name in _FIGURES:
        return getattr(importlib.import_module(_FIGURES[name]), name)
    raise AttributeError(f"module 'hsi.render' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
