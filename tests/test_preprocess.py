"""PCAReducer: deterministic, sign-fixed, fitted once and restorable from plain arrays."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from hsi.errors import ConfigError, DataError
from hsi.preprocess import PCAReducer


def test_matches_sklearn_up_to_sign(small_scene):
    cube = small_scene.cube
    ours = PCAReducer(8, whiten=True).fit_transform(cube).reshape(-1, 8)
    ref = PCA(8, whiten=True, svd_solver="full").fit_transform(cube.reshape(-1, cube.shape[2]))
    signs = np.sign((ours * ref).sum(axis=0))
    np.testing.assert_allclose(ours, ref * signs, rtol=1e-3, atol=1e-3)
    assert ours.dtype == np.float32
    # whitened components have unit variance
    np.testing.assert_allclose(ours.var(axis=0, ddof=1), 1.0, rtol=1e-3)


def test_bit_identical_and_sign_convention(small_scene):
    a = PCAReducer(10).fit(small_scene.cube)
    b = PCAReducer(10).fit(small_scene.cube.copy())
    assert a.components_.tobytes() == b.components_.tobytes()
    assert a.transform(small_scene.cube).tobytes() == b.transform(small_scene.cube).tobytes()
    # a flipped input basis still yields the same signs: largest loading is positive
    pivot = np.abs(a.components_).argmax(axis=1)
    assert (a.components_[np.arange(10), pivot] > 0).all()


def test_fit_on_training_pixels_only(small_scene):
    pixels = np.argwhere(small_scene.labels == small_scene.class_ids[0])
    a = PCAReducer(5).fit(small_scene.cube, pixels)
    b = PCAReducer(5).fit(small_scene.cube)
    sub = small_scene.cube[pixels[:, 0], pixels[:, 1]].astype(np.float64)
    np.testing.assert_allclose(a.mean_, sub.mean(axis=0))
    assert not np.allclose(a.mean_, b.mean_)
    # the components and variances too, not only the centre: scikit-learn's PCA of those pixels
    from sklearn.decomposition import PCA

    ref = PCA(5).fit(sub)
    np.testing.assert_allclose(a.explained_variance_, ref.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(np.abs(a.components_), np.abs(ref.components_), atol=1e-6)


def test_state_round_trip(small_scene):
    a = PCAReducer(6, whiten=False).fit(small_scene.cube)
    b = PCAReducer.from_state(a.state_dict())
    assert a.transform(small_scene.cube).tobytes() == b.transform(small_scene.cube).tobytes()
    assert b.whiten is False
    state = a.state_dict()
    assert all(isinstance(v, (int, bool, np.ndarray)) for v in state.values())


def test_errors(small_scene):
    with pytest.raises(ConfigError, match="more components than the cube's 40 bands"):
        PCAReducer(41).fit(small_scene.cube)
    r = PCAReducer(5).fit(small_scene.cube)
    with pytest.raises(DataError, match="39 bands but the PCA was fitted on 40"):
        r.transform(small_scene.cube[:, :, :39])
