"""rgb_view: true colour from wavelengths, PCA false colour otherwise, percentile stretch."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

from hsi.preprocess import PCAReducer
from hsi.rgb import rgb_bands, rgb_view

RNG = np.random.default_rng(0)
WL = np.arange(400.0, 1001.0, 10.0)  # 61 bands, 400..1000 nm
CUBE = RNG.random((20, 16, WL.size)).astype(np.float32)


def test_rgb_bands_nearest_640_550_470():
    assert rgb_bands(WL) == (24, 15, 7)  # 640, 550, 470 nm
    assert rgb_bands(WL + 3) == (24, 15, 7)
    assert rgb_bands(np.arange(1000.0, 2500.0, 10.0)) is None  # no visible bands
    assert rgb_bands(None) is None


def test_true_colour_stretches_each_band_2_to_98_percent():
    cube = np.zeros((10, 10, WL.size), np.float32)
    ramp = np.arange(100, dtype=np.float32).reshape(10, 10)
    cube[:, :, 24] = ramp  # red
    cube[:, :, 15] = 100 - ramp  # green
    cube[:, :, 7] = 5.0  # blue: flat
    rgb = rgb_view(cube, WL)
    assert rgb.dtype == np.uint8 and rgb.shape == (10, 10, 3)
    lo, hi = np.percentile(ramp, [2, 98])
    expected = np.rint(np.clip((ramp - lo) * 255 / (hi - lo), 0, 255))
    np.testing.assert_array_equal(rgb[:, :, 0], expected)
    assert rgb[0, 0, 0] == 0 and rgb[9, 9, 0] == 255 and rgb[0, 0, 1] == 255
    assert (rgb[:, :, 2] == 0).all()  # a flat channel is black, not stretched noise


def test_false_colour_without_wavelengths_is_pca():
    rgb = rgb_view(CUBE)
    assert rgb.shape == (20, 16, 3) and rgb.dtype == np.uint8
    assert all(rgb[:, :, c].std() > 10 for c in range(3))
    np.testing.assert_array_equal(rgb, rgb_view(CUBE))  # deterministic
    # a reducer fitted elsewhere (a model bundle's) gives its own first components
    reducer = PCAReducer(5, whiten=False).fit(CUBE)
    np.testing.assert_array_equal(rgb_view(CUBE, reducer=reducer), rgb)


def test_swir_only_wavelengths_fall_back_to_pca():
    swir = np.linspace(1000, 2500, WL.size)
    np.testing.assert_array_equal(rgb_view(CUBE, swir), rgb_view(CUBE))


@pytest.mark.parametrize("wavelengths", [None, WL])
def test_nan_pixels_are_black_and_quiet(wavelengths):
    cube = CUBE.copy()
    cube[3, 4, :] = np.nan
    cube[5, 6, 24] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rgb = rgb_view(cube, wavelengths)
    assert (rgb[3, 4] == 0).all()
    assert (rgb[5, 6] == 0).all()  # an Inf in one band: black too
    assert rgb.reshape(-1, 3).std(axis=0).min() > 10


def test_degenerate_cubes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (rgb_view(np.ones((4, 4, 6), np.float32)) == 0).all()
    one_band = RNG.random((4, 5, 1)).astype(np.float32)
    rgb = rgb_view(one_band)
    assert (rgb[:, :, 0] == rgb[:, :, 1]).all() and (rgb[:, :, 0] == rgb[:, :, 2]).all()
    with pytest.raises(ValueError, match="3 wavelengths for a cube of 61 bands"):
        rgb_view(CUBE, [400, 500, 600])


def test_importable_without_matplotlib():
    code = (
        "import sys, numpy as np; from hsi.rgb import rgb_view; "
        "rgb_view(np.random.default_rng(0).random((8, 8, 5))); "
        "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_model_pca_of_two_components_still_gives_a_false_colour():
    """--pca 2 is allowed for the 2-D backbones: the run's RGB view must not fail after the
    training (it fits its own three components instead)."""
    from hsi.preprocess import PCAReducer

    cube = np.random.default_rng(0).random((12, 10, 8)).astype(np.float32)
    rgb = rgb_view(cube, None, PCAReducer(2).fit(cube))
    assert rgb.shape == (12, 10, 3) and rgb.dtype == np.uint8


def test_the_reduced_cube_a_caller_holds_gives_the_same_view():
    """Runs hand their reduced cube over instead of transforming the scene a second time."""
    from hsi.preprocess import PCAReducer

    cube = np.random.default_rng(1).random((12, 10, 8)).astype(np.float32)
    reducer = PCAReducer(5).fit(cube)
    again = rgb_view(cube, None, reducer)
    given = rgb_view(cube, None, reducer, components=reducer.transform(cube))
    np.testing.assert_array_equal(given, again)
    wrong = rgb_view(cube, None, reducer, components=reducer.transform(cube)[:, :, ::-1])
    assert (wrong != again).any()  # the components given are the ones shown
