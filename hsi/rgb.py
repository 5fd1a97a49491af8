"""An RGB picture of a hyperspectral cube, for eyes and for GIS backdrops.

True colour from the bands nearest 640 / 550 / 470 nm when the band wavelengths are known and
the sensor sees all three; otherwise a false colour of the first three principal components.
Each channel is stretched between its 2nd and 98th percentiles. NaN or Inf pixels come out
black. Nothing here imports matplotlib.

    from hsi import read_scene
    from hsi.rgb import rgb_view
    scene = read_scene("flightline.tif")
    rgb = rgb_view(scene.cube, scene.wavelengths)   # (H, W, 3) uint8
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["TRUE_COLOUR_NM", "rgb_bands", "rgb_view"]

TRUE_COLOUR_NM = (640.0, 550.0, 470.0)
# A band further than this from its target is no true colour (a SWIR-only sensor's "blue").
MAX_BAND_DISTANCE_NM = 50.0
# Percentiles and the PCA are computed from at most this many pixels (an even, fixed sample).
_SAMPLE_PIXELS = 200_000


def rgb_bands(
    wavelengths: Any, *, max_distance: float = MAX_BAND_DISTANCE_NM
) -> tuple[int, int, int] | None:
    """Indices of the bands nearest 640, 550 and 470 nm, or ``None`` if one is too far away."""
    if wavelengths is None:
        return None
    wl = np.asarray(wavelengths, dtype=np.float64).ravel()
    if wl.size == 0 or not np.all(np.isfinite(wl)):
        return None
    picked = []
    for target in TRUE_COLOUR_NM:
        i = int(np.argmin(np.abs(wl - target)))
        if abs(wl[i] - target) > max_distance:
            return None
        picked.append(i)
    return picked[0], picked[1], picked[2]


def rgb_view(
    cube: np.ndarray,
    wavelengths: Any = None,
    reducer: Any = None,
    *,
    components: np.ndarray | None = None,
    percentiles: tuple[float, float] = (2.0, 98.0),
) -> np.ndarray:
    """``(H, W, 3)`` uint8: true colour where the wavelengths allow, else PCA false colour.

    ``reducer`` is an already fitted :class:`~hsi.preprocess.PCAReducer` (a model bundle's, say)
    whose first three components make the false colour; without one, a 3-component PCA is
    fitted on a sample of the cube's finite pixels. ``components``: the cube already reduced
    by that PCA (``(H, W, k)``, k ≥ 3), so that a caller holding it does not transform the
    whole cube again. A cube of fewer than three bands is shown with its bands repeated.
    """
    if not isinstance(cube, np.ndarray):
        cube = np.asarray(cube)
    if cube.ndim != 3:
        raise ValueError(f"expected a cube (H, W, B), got shape {cube.shape}")
    h, w, b = cube.shape
    if wavelengths is not None and len(wavelengths) != b:
        raise ValueError(f"{len(wavelengths)} wavelengths for a cube of {b} bands")
    bands = rgb_bands(wavelengths)
    if bands is not None:
        channels = np.asarray(cube[:, :, list(bands)], dtype=np.float32)
    elif b < 3:
        channels = np.asarray(cube[:, :, [0, min(1, b - 1), min(2, b - 1)]], dtype=np.float32)
    elif components is not None and components.shape[2] >= 3:
        channels = np.asarray(components[:, :, :3], dtype=np.float32)
    else:
        channels = _principal_components(cube, reducer)
    return _stretch(channels, percentiles)


def rgb_title(wavelengths: Any = None) -> str:
    """What :func:`rgb_view` shows for these wavelengths: a true or a false colour."""
    if rgb_bands(wavelengths) is not None:
        return "true colour (640 / 550 / 470 nm)"
    return "false colour (PCA 1–3)"


def _sample_index(n: int) -> np.ndarray:
    step = max(1, n // _SAMPLE_PIXELS)
    return np.arange(0, n, step)


def _principal_components(cube: np.ndarray, reducer: Any) -> np.ndarray:
    """The first three PCs, float32; a pixel with NaN/Inf in any band stays non-finite."""
    h, w, b = cube.shape
    if reducer is not None and reducer.n_components < 3:
        reducer = None  # a model's PCA of 1 or 2 components: fit three here instead
    if reducer is None:
        from hsi.errors import HSIError
        from hsi.preprocess import PCAReducer

        sample = _sample_index(h * w)
        if np.issubdtype(cube.dtype, np.floating):  # fit on finite pixels only
            rows = cube.reshape(-1, b)[sample]
            sample = sample[np.isfinite(rows).all(axis=1)]
        pixels = np.stack(np.unravel_index(sample, (h, w)), axis=1)
        try:
            with np.errstate(all="ignore"):  # a flat cube divides 0 by 0 before it is refused
                reducer = PCAReducer(3, whiten=False).fit(cube, pixels)
        except HSIError:  # fewer than 3 directions of variance: show the first bands instead
            return np.asarray(cube[:, :, :3], dtype=np.float32)
    # a projection is row by row: NaN in a pixel gives NaN in its components, nowhere else
    return reducer.transform(cube)[:, :, :3]


def _stretch(channels: np.ndarray, percentiles: tuple[float, float]) -> np.ndarray:
    h, w, _ = channels.shape
    flat = channels.reshape(-1, 3)
    sample = flat[_sample_index(flat.shape[0])]
    out = np.zeros((h * w, 3), dtype=np.uint8)
    bad = ~np.isfinite(flat).all(axis=1)
    for c in range(3):
        values = sample[:, c]
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        lo, hi = np.percentile(values, percentiles)
        if not hi > lo:
            continue  # a flat channel: black, not noise stretched to full scale
        scaled = (flat[:, c] - lo) * (255.0 / (hi - lo))
        np.clip(scaled, 0, 255, out=scaled)
        scaled[~np.isfinite(scaled)] = 0
        out[:, c] = np.rint(scaled).astype(np.uint8)
    out[bad] = 0
    return out.reshape(h, w, 3)
