"""Seeded synthetic scenes: learnable, not trivial, for tests, demos and benchmarks.

- :func:`make_scene` draws spatially coherent class regions (the arg-max of smoothed random
  fields), gives every class a smooth spectrum, and adds what real scenes have: within-class
  variability that is spatially correlated (illumination, a low-rank spectral drift), band noise,
  and an unlabeled background with spectra of its own.
- :func:`paint_layout` paints such spectra onto a real ground-truth layout (e.g. Indian Pines'
  145×145 map with its 16 classes and its imbalance), to benchmark at the real size. This is the
  "semi-synthetic" mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from hsi.data.scene import Scene
from hsi.errors import ConfigError


def make_scene(
    height: int = 48,
    width: int = 48,
    bands: int = 60,
    n_classes: int = 5,
    *,
    seed: int = 0,
    class_ids: Sequence[int] | None = None,
    unlabeled_fraction: float = 0.15,
    region_scale: float = 6.0,
    variability: float = 0.15,
    noise: float = 0.05,
    similarity: float = 0.9,
    name: str = "synthetic",
) -> Scene:
    """A seeded scene of ``n_classes`` coherent regions plus an unlabeled background.

    ``class_ids`` (default 1..K) may be any distinct positive integers, e.g. ``[1, 10, 11]``.
    ``region_scale`` is the typical region radius in pixels; ``similarity`` in [0, 1) pulls the
    class spectra towards a common one (higher is harder); ``variability`` and ``noise`` are
    relative to the mean reflectance.
    """
    if n_classes < 1:
        raise ConfigError(f"n_classes must be at least 1, got {n_classes}")
    ids = _class_ids(class_ids, n_classes)
    rng = np.random.default_rng(seed)
    # Region map: index 0..K-1 for classes, K for background, as the arg-max of smooth fields.
    fields = rng.standard_normal((n_classes + 1, height, width))
    fields = ndimage.gaussian_filter(fields, sigma=(0, region_scale, region_scale), mode="wrap")
    fields[n_classes] += _background_bias(fields, unlabeled_fraction)
    region = fields.argmax(axis=0)
    _ensure_every_class(region, n_classes, rng)
    labels = np.where(region < n_classes, ids[np.minimum(region, n_classes - 1)], 0)
    cube = _paint(region, n_classes + 1, bands, rng, variability, noise, similarity, region_scale)
    return Scene(
        cube=cube,
        labels=labels.astype(np.int64),
        class_ids=ids,
        class_names=[f"class {i}" for i in ids],
        name=name,
        meta={"synthetic": {"seed": seed, "bands": bands, "n_classes": n_classes}},
    )


def paint_layout(
    labels: np.ndarray,
    bands: int = 200,
    *,
    seed: int = 0,
    variability: float = 0.15,
    noise: float = 0.05,
    similarity: float = 0.9,
    class_names: Sequence[str] | None = None,
    name: str = "semi_synthetic",
) -> Scene:
    """Paint synthetic spectra onto a real ground-truth layout (0 = unlabeled background)."""
    labels = np.asarray(labels).astype(np.int64)
    ids = np.unique(labels[labels != 0])
    if ids.size == 0:
        raise ConfigError("the layout has no labeled pixels")
    rng = np.random.default_rng(seed)
    region = np.where(labels == 0, len(ids), np.searchsorted(ids, labels))
    cube = _paint(region, len(ids) + 1, bands, rng, variability, noise, similarity, 6.0)
    names = list(class_names) if class_names is not None else [f"class {i}" for i in ids]
    return Scene(
        cube=cube,
        labels=labels,
        class_ids=ids,
        class_names=names,
        name=name,
        meta={"synthetic": {"seed": seed, "bands": bands, "layout": True}},
    )


def indian_pines_like(
    shared_data: str | Path | None = None,
    bands: int = 200,
    seed: int = 0,
    *,
    data_dir: str | Path | None = None,
) -> Scene:
    """The semi-synthetic Indian Pines scene: real 145×145 layout, synthetic 200-band spectra.

    The layout is ``Indian_pines_gt.mat`` from ``<shared_data>/indian_pines/`` when
    ``shared_data`` is given, else the standard scene's ground truth from the dataset cache
    (``data_dir``, as :func:`hsi.data.fetch.download_dataset`; fetched once if missing).
    """
    from hsi.data.io import read_labels
    from hsi.data.registry import get_scene_info

    if shared_data is None:
        from hsi.data.fetch import download_dataset

        gt_file = download_dataset("indian_pines", data_dir)["labels"]
    else:
        gt_file = Path(shared_data) / "indian_pines" / "Indian_pines_gt.mat"
    gt = read_labels(gt_file)
    names = list(get_scene_info("indian_pines").class_names)
    return paint_layout(gt, bands, seed=seed, class_names=names, name="indian_pines_semisynthetic")


def _class_ids(class_ids: Sequence[int] | None, n_classes: int) -> np.ndarray:
    if class_ids is None:
        return np.arange(1, n_classes + 1, dtype=np.int64)
    ids = np.asarray(class_ids, dtype=np.int64)
    if len(ids) != n_classes or len(np.unique(ids)) != n_classes or ids.min() < 1:
        raise ConfigError(
            f"class_ids must be {n_classes} distinct positive integers, got {ids.tolist()}"
        )
    return np.sort(ids)


def _background_bias(fields: np.ndarray, fraction: float) -> float:
    """Offset of the background field so that it wins on about ``fraction`` of the pixels."""
    if fraction <= 0:
        return -np.inf
    others = fields[:-1].max(axis=0)
    margin = others - fields[-1]
    return float(np.quantile(margin, min(fraction, 0.95)))


def _ensure_every_class(region: np.ndarray, n_classes: int, rng: np.random.Generator) -> None:
    """Stamp a small square for any class the random fields left out."""
    h, w = region.shape
    side = max(2, min(h, w) // 8)
    for c in range(n_classes):
        if not (region == c).any():
            i = int(rng.integers(0, h - side + 1))
            j = int(rng.integers(0, w - side + 1))
            region[i : i + side, j : j + side] = c


def _paint(region, n_regions, bands, rng, variability, noise, similarity, scale) -> np.ndarray:
    """Cube (H, W, bands) float32: class spectra × smooth illumination + low-rank drift + noise."""
    h, w = region.shape
    x = np.linspace(0.0, 1.0, bands)
    spectra = np.stack([_smooth_spectrum(x, rng) for _ in range(n_regions)])
    common = _smooth_spectrum(x, rng)
    spectra = similarity * common + (1 - similarity) * spectra
    mean_level = float(spectra.mean())

    # Within-class variability, spatially correlated: pixels near each other look alike, so
    # spatial context helps — as it does in real scenes.
    illumination = 1.0 + variability * _smooth_field(rng, (h, w), scale)
    n_drift = 3
    drift_basis = np.stack([_smooth_spectrum(x, rng) - 0.5 for _ in range(n_drift)])  # (3, B)
    drift_coef = variability * np.stack(
        [_smooth_field(rng, (h, w), scale / 2) for _ in range(n_drift)]
    )
    cube = spectra[region] * illumination[..., None]
    cube += mean_level * np.einsum("dhw,db->hwb", drift_coef, drift_basis)
    cube += noise * mean_level * rng.standard_normal((h, w, bands))
    return cube.astype(np.float32)


def _smooth_spectrum(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A positive, smooth reflectance-like curve: baseline slope plus a few Gaussian bumps."""
    y = 0.2 + 0.3 * rng.random() * x
    for _ in range(4):
        centre, width, height = rng.random(), 0.05 + 0.2 * rng.random(), 0.4 * rng.random()
        y = y + height * np.exp(-0.5 * ((x - centre) / width) ** 2)
    return y


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=max(scale, 0.5), mode="wrap")
    return f / (f.std() + 1e-12)
