"""The :class:`Scene`: one hyperspectral cube and, optionally, its ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Scene:
    """A cube ``(H, W, B)`` with optional labels ``(H, W)``.

    ``labels`` keep the ground truth's own ids (any non-negative integers, 0 = unlabeled).
    ``class_ids`` are the sorted non-zero ids; inside the pipeline class *indices* 0..K-1 are used
    and ``class_ids[k]`` maps index ``k`` back to the ground truth's id.

    Where the file says so (GeoTIFF, ENVI), the scene keeps its place on the ground and its bands'
    wavelengths; every other source leaves these ``None``:

    - ``crs``: the coordinate reference system as WKT.
    - ``transform``: the 6 coefficients of the GDAL geotransform ``(x0, dx, rx, y0, ry, dy)``:
      the map position of pixel (row, col)'s upper-left corner is
      ``(x0 + col*dx + row*rx, y0 + col*ry + row*dy)``; ``dy`` is negative for north-up images.
      ``affine.Affine.from_gdal(*transform)`` gives rasterio's form.
    - ``wavelengths``: each band's centre wavelength in nanometres, float64 ``(B,)``.
    """

    cube: np.ndarray
    labels: np.ndarray | None
    class_ids: np.ndarray
    class_names: list[str]
    name: str
    palette: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    crs: str | None = None
    transform: tuple[float, ...] | None = None
    wavelengths: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        h, w, b = self.cube.shape
        return int(h), int(w), int(b)

    @property
    def n_classes(self) -> int:
        return len(self.class_ids)

    @property
    def n_labeled(self) -> int:
        return 0 if self.labels is None else int(np.count_nonzero(self.labels))

    def class_index_map(self) -> np.ndarray:
        """Labels as class indices: 0..K-1 for labeled pixels, -1 for unlabeled ones."""
        if self.labels is None:
            raise ValueError(f"scene {self.name!r} has no labels")
        return ids_to_indices(self.labels, self.class_ids)


def ids_to_indices(labels: np.ndarray, class_ids: np.ndarray) -> np.ndarray:
    """Map ground-truth ids to class indices 0..K-1; 0 (unlabeled) and unknown ids become -1."""
    class_ids = np.asarray(class_ids, dtype=np.int64)
    out = np.full(labels.shape, -1, dtype=np.int64)
    pos = np.searchsorted(class_ids, labels)
    pos_clipped = np.clip(pos, 0, max(len(class_ids) - 1, 0))
    known = (labels != 0) & (len(class_ids) > 0)
    if len(class_ids):
        known &= class_ids[pos_clipped] == labels
    out[known] = pos_clipped[known]
    return out


def indices_to_ids(indices: np.ndarray, class_ids: np.ndarray) -> np.ndarray:
    """Map class indices 0..K-1 back to the ground truth's ids; negative indices become 0."""
    class_ids = np.asarray(class_ids, dtype=np.int64)
    indices = np.asarray(indices)
    out = np.zeros(indices.shape, dtype=np.int64)
    valid = indices >= 0
    out[valid] = class_ids[indices[valid]]
    return out
