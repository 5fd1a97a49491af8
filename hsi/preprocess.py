"""PCA band reduction, fitted once, deterministic, and saved with the model.

The course notebook refitted PCA on the scene it was mapping, so a model trained on one basis was
applied to another. Here the reducer is fitted once and its state travels in the model bundle.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.decomposition import PCA

from hsi.errors import ConfigError, DataError

# Rows handled at once by transform(): bounds the float64 temporary for large scenes.
_TRANSFORM_CHUNK_PIXELS = 262_144
# A component whose variance is below this share of the first one's is numerical noise of a
# rank-deficient cube (float32 rounding gives ~1e-14); whitening would blow it up to unit scale.
_MIN_VARIANCE_RATIO = 1e-12


def check_components(k: int, n_bands: int | None = None, *, param: str = "pca") -> int:
    """The one check of a component count: at least 1, and no more than the cube's bands."""
    if k < 1:
        raise ConfigError(f"{param} must be at least 1, got {k}", params=(param,))
    if n_bands is not None and k > n_bands:
        raise ConfigError(
            f"{param} {k} asks for more components than the cube's {n_bands} bands",
            params=(param,),
        )
    return k


class PCAReducer:
    """Reduce a cube ``(H, W, B)`` to ``(H, W, k)`` float32 principal components.

    Parameters follow scikit-learn's style: the constructor only stores them, :meth:`fit` learns
    ``mean_``, ``components_`` (k × B) and ``explained_variance_``.

    The solver is deterministic (eigen-decomposition of the covariance, never randomized SVD), and
    each component's sign is fixed so that its largest-magnitude loading is positive: the same
    input gives bit-identical components on every run, whatever scikit-learn's own sign rule.
    ``whiten=True`` (the default, as in HybridSN's reference code) scales components to unit
    variance.
    """

    def __init__(self, n_components: int = 30, *, whiten: bool = True) -> None:
        self.n_components = n_components
        self.whiten = whiten

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, cube: np.ndarray, pixels: np.ndarray | None = None) -> PCAReducer:
        """Fit on every pixel of ``cube`` or, with ``pixels`` (N × 2 row/col), on those only."""
        cube = _as_cube(cube)
        n_bands = cube.shape[2]
        k = check_components(int(self.n_components), n_bands, param="n_components")
        if pixels is None:
            x = cube.reshape(-1, n_bands)
        else:
            pixels = np.asarray(pixels, dtype=np.int64).reshape(-1, 2)
            x = cube[pixels[:, 0], pixels[:, 1], :]
        if x.shape[0] <= k:
            raise ConfigError(
                f"PCA with {k} components needs more than {k} pixels, got {x.shape[0]}"
            )
        x = np.asarray(x, dtype=np.float64)
        pca = PCA(n_components=k, whiten=self.whiten, svd_solver="covariance_eigh")
        pca.fit(x)
        _check_rank(pca.explained_variance_, k, "the scene" if pixels is None else "those pixels")
        components = pca.components_.copy()
        # Fix each sign: largest-|loading| entry positive (deterministic and library-independent).
        pivot = np.abs(components).argmax(axis=1)
        signs = np.sign(components[np.arange(k), pivot])
        signs[signs == 0] = 1.0
        self.components_ = components * signs[:, None]
        self.mean_ = pca.mean_.copy()
        self.explained_variance_ = pca.explained_variance_.copy()
        self.explained_variance_ratio_ = pca.explained_variance_ratio_.copy()
        self.n_bands_ = n_bands
        return self

    # -- applying ---------------------------------------------------------------------------
    def transform(self, cube: np.ndarray) -> np.ndarray:
        """Project a cube ``(H, W, B)`` onto the fitted components: ``(H, W, k)`` float32."""
        self._check_fitted()
        cube = _as_cube(cube)
        h, w, b = cube.shape
        if b != self.n_bands_:
            raise DataError(
                f"the scene has {b} bands but the PCA was fitted on {self.n_bands_}; "
                f"use a scene from the same sensor and band selection"
            )
        projection = self.components_.T.copy()  # B × k
        if self.whiten:
            projection /= np.sqrt(self.explained_variance_)[None, :]
        offset = self.mean_ @ projection
        flat = cube.reshape(-1, b)
        out = np.empty((flat.shape[0], projection.shape[1]), dtype=np.float32)
        for start in range(0, flat.shape[0], _TRANSFORM_CHUNK_PIXELS):
            block = np.asarray(flat[start : start + _TRANSFORM_CHUNK_PIXELS], dtype=np.float64)
            out[start : start + block.shape[0]] = block @ projection - offset
        return out.reshape(h, w, -1)

    def fit_transform(self, cube: np.ndarray, pixels: np.ndarray | None = None) -> np.ndarray:
        return self.fit(cube, pixels).transform(cube)

    # -- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain arrays and numbers, safe for ``torch.save`` / ``torch.load(weights_only=True)``."""
        self._check_fitted()
        return {
            "n_components": int(self.n_components),
            "whiten": bool(self.whiten),
            "n_bands": int(self.n_bands_),
            "mean": self.mean_.copy(),
            "components": self.components_.copy(),
            "explained_variance": self.explained_variance_.copy(),
            "explained_variance_ratio": self.explained_variance_ratio_.copy(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PCAReducer:
        try:
            reducer = cls(int(state["n_components"]), whiten=bool(state["whiten"]))
            reducer.mean_ = _array(state["mean"])
            reducer.components_ = _array(state["components"])
            reducer.explained_variance_ = _array(state["explained_variance"])
            reducer.explained_variance_ratio_ = _array(state["explained_variance_ratio"])
            reducer.n_bands_ = int(state["n_bands"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"invalid PCA state: {exc}") from exc
        if reducer.components_.shape != (reducer.n_components, reducer.n_bands_):
            raise DataError("invalid PCA state: components do not match n_components × n_bands")
        for name in ("mean_", "components_", "explained_variance_"):
            if not np.isfinite(getattr(reducer, name)).all():
                raise DataError(f"invalid PCA state: {name.rstrip('_')} holds NaN or Inf")
        if not (reducer.explained_variance_ > 0).all():
            raise DataError("invalid PCA state: a component has zero or negative variance")
        return reducer

    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise RuntimeError("PCAReducer is not fitted; call fit() first")

    def __repr__(self) -> str:
        return f"PCAReducer(n_components={self.n_components}, whiten={self.whiten})"


def _check_rank(variance: np.ndarray, k: int, where: str) -> None:
    """Refuse components that carry no variance: whitening divides by it."""
    top = float(variance[0]) if len(variance) else 0.0
    usable = int(np.sum(variance > _MIN_VARIANCE_RATIO * top)) if top > 0 else 0
    if usable == 0:
        raise DataError(f"PCA: every pixel of {where} has the same spectrum; nothing to reduce")
    if usable < k:
        raise ConfigError(
            f"pca {k}: {where} has only {usable} spectral directions with non-zero variance; "
            f"use pca {usable} or fewer",
            params=("pca",),
        )


def _as_cube(cube: np.ndarray) -> np.ndarray:
    cube = np.asarray(cube)
    if cube.ndim != 3:
        raise DataError(f"expected a cube of shape (H, W, B), got shape {cube.shape}")
    return cube


def _array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor from a loaded bundle
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)
