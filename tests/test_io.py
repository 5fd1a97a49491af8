"""Reading scenes: formats, automatic keys, and one clear error for each kind of bad input."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.io

from hsi.data.io import read_labels, read_scene
from hsi.errors import DataError

RNG = np.random.default_rng(0)
CUBE = RNG.random((6, 5, 4)).astype(np.float32)
GT = RNG.choice([0, 1, 10, 11, 12, 13, 14], size=(6, 5)).astype(np.uint8)


def write_mat73(path, **arrays):
    # MATLAB v7.3 stores column-major: an (H, W, B) array appears to HDF5 as (B, W, H)
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=np.asarray(v).T)


def test_mat_v5_auto_keys(tmp_path):
    p = tmp_path / "scene.mat"
    scipy.io.savemat(p, {"cube": CUBE, "gt": GT})
    s = read_scene(p, p)
    np.testing.assert_array_equal(s.cube, CUBE)
    np.testing.assert_array_equal(s.labels, GT)
    assert s.class_ids.tolist() == [1, 10, 11, 12, 13, 14]  # ids kept as given, never renumbered
    assert s.name == "scene"


def test_mat_v73_axis_order(tmp_path):
    p = tmp_path / "scene73.mat"
    write_mat73(p, data=CUBE, labels=GT)
    s = read_scene(p, p)
    assert s.cube.shape == (6, 5, 4)
    np.testing.assert_array_equal(s.cube, CUBE)
    np.testing.assert_array_equal(s.labels, GT)


def test_npy_npz_and_separate_labels(tmp_path):
    np.save(tmp_path / "c.npy", CUBE)
    np.save(tmp_path / "g.npy", GT.astype(np.int32))
    s = read_scene(tmp_path / "c.npy", tmp_path / "g.npy")
    np.testing.assert_array_equal(s.labels, GT)
    np.savez(tmp_path / "both.npz", x=CUBE, y=GT.astype(np.int16))
    s = read_scene(tmp_path / "both.npz", labels_key="y")
    np.testing.assert_array_equal(s.cube, CUBE)
    np.testing.assert_array_equal(s.labels, GT)


def test_float_labels_that_are_integers_are_accepted(tmp_path):
    p = tmp_path / "g.mat"
    scipy.io.savemat(p, {"gt": GT.astype(np.float64)})
    assert read_labels(p).dtype == np.int64


def test_envi_is_memory_mapped(tmp_path):
    import spectral.io.envi as envi

    envi.save_image(str(tmp_path / "c.hdr"), CUBE, interleave="bsq", force=True)
    s = read_scene(tmp_path / "c.hdr")
    np.testing.assert_allclose(np.asarray(s.cube), CUBE)
    assert isinstance(s.cube, np.memmap)
    assert s.labels is None


def test_named_keys(tmp_path):
    p = tmp_path / "two.mat"
    scipy.io.savemat(p, {"a": CUBE, "b": CUBE * 2, "gt": GT})
    s = read_scene(p, p, cube_key="b")
    np.testing.assert_allclose(s.cube, CUBE * 2)


def _envi_cut(hdr, interleave="bip"):
    """An ENVI image cut to a third of what its header describes (a download cut short)."""
    import spectral.io.envi as envi

    envi.save_image(str(hdr), CUBE, interleave=interleave, force=True)
    img = hdr.with_suffix(".img")
    img.write_bytes(img.read_bytes()[: CUBE.nbytes // 3])
    return hdr


def test_an_envi_spectral_library_is_named_not_a_traceback(tmp_path):
    with pytest.raises(DataError, match=r"^lib.hdr: an ENVI spectral library .*, not an image"):
        read_scene(_envi_library(tmp_path / "lib.hdr"))


def _envi_library(hdr):
    """An ENVI spectral library: spectra, not an image (spectral returns no shape for it)."""
    import spectral.io.envi as envi

    spectra = CUBE.reshape(-1, CUBE.shape[2])[:5]
    header = {"wavelength": list(range(CUBE.shape[2])), "spectra names": list("abcde")}
    envi.SpectralLibrary(spectra, header, {}).save(str(hdr.with_suffix("")))
    return hdr


def _npy(path, array):
    np.save(path, array)
    return path


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda d: d / "missing.mat", "no such file"),
        (lambda d: _write(d / "trunc.mat", _mat_bytes()[:100]), "cannot read"),
        # numpy's own words would call it "pickled" and suggest allow_pickle
        (lambda d: _write(d / "junk.npy", b"not numpy at all"), "not a NumPy .npy file"),
        (lambda d: _envi_cut(d / "cut.hdr"), "shorter than its header cut.hdr describes"),
        (lambda d: _envi_cut(d / "bsq.hdr", "bsq"), "shorter than its header bsq.hdr describes"),
        (lambda d: _envi_cut(d / "bil.hdr", "bil"), "shorter than its header bil.hdr describes"),
        (lambda d: _npy(d / "huge.npy", CUBE.astype(np.float64) * 1e160), "beyond ±1e.30 .a fill"),
        (lambda d: _savemat(d / "flat.mat", x=np.zeros((4, 4))), "expected a 3-D numeric array"),
        (lambda d: _savemat(d / "two.mat", a=CUBE, b=CUBE), "several candidates.*cube_key"),
        (lambda d: d / "x.txt", "unsupported file type"),
    ],
)
def test_cube_errors(tmp_path, make, match):
    path = make(tmp_path)
    if path.suffix == ".txt":
        path.write_text("hi")
    with pytest.raises(DataError, match=match) as info:
        read_scene(path)
    assert "\n" not in str(info.value)
    assert path.with_suffix(".img" if path.suffix == ".hdr" else path.suffix).name in str(
        info.value
    )


@pytest.mark.parametrize(
    "labels, match",
    [
        (np.zeros((6, 5, 2), dtype=np.uint8), "2-D"),
        (np.full((6, 5), 0.5), "integers"),
        (np.full((6, 5), -1, dtype=np.int16), "non-negative"),
        (np.zeros((5, 5), dtype=np.uint8), "must match"),
    ],
)
def test_label_errors(tmp_path, labels, match):
    scipy.io.savemat(tmp_path / "c.mat", {"cube": CUBE})
    np.save(tmp_path / "g.npy", labels)
    with pytest.raises(DataError, match=match):
        read_scene(tmp_path / "c.mat", tmp_path / "g.npy")


def test_one_row_ground_truth_is_named_not_misdescribed(tmp_path):
    # It is a 2-D integer array, so "expected a 2-D integer array" alone would be wrong; it is
    # skipped only because MATLAB stores vectors as 1×N.
    cube = np.random.default_rng(0).random((1, 12, 4), dtype=np.float32)
    gt = np.array([[1, 2] * 6])
    np.save(tmp_path / "c.npy", cube)
    np.save(tmp_path / "g.npy", gt)
    with pytest.raises(
        DataError, match=r"at least 2×2 .*one-column ground truth is read with labels_key array$"
    ) as info:
        read_scene(tmp_path / "c.npy", tmp_path / "g.npy")
    assert info.value.params == ("labels_key",)
    # MATLAB stores every scalar as 1×1 and wavelengths as 1×B floats: neither is a ground truth
    _savemat(
        tmp_path / "g.mat", nclass=np.array([[3]]), wavelength=np.linspace(400.5, 900.5, 12)[None]
    )
    with pytest.raises(DataError, match=r"for the labels, found: [^;]*$"):
        read_scene(tmp_path / "c.npy", tmp_path / "g.mat")
    assert np.array_equal(
        read_scene(tmp_path / "c.npy", tmp_path / "g.npy", labels_key="array").labels, gt
    )


def test_nonfinite_is_an_error_unless_masked(tmp_path):
    cube = CUBE.copy()
    cube[1, 2, 3] = np.nan
    cube[4, 0, 0] = np.inf
    gt = np.ones((6, 5), dtype=np.uint8)
    np.savez(tmp_path / "s.npz", cube=cube, gt=gt)
    with pytest.raises(DataError, match="2 pixels contain NaN or Inf"):
        read_scene(tmp_path / "s.npz", labels_key="gt")
    s = read_scene(tmp_path / "s.npz", labels_key="gt", nonfinite="mask")
    assert np.isfinite(s.cube).all()
    assert s.cube[1, 2].tolist() == [0, 0, 0, 0]
    assert s.labels[1, 2] == 0 and s.labels[4, 0] == 0 and s.labels.sum() == 28


def test_a_fill_value_beyond_1e30_is_masked_as_nan_is(tmp_path):
    # float32's lowest as nodata: PCA cannot square it, and rescaling would not help
    cube = CUBE.copy()
    cube[0, :] = np.finfo(np.float32).min
    np.savez(tmp_path / "s.npz", cube=cube, gt=np.ones((6, 5), dtype=np.uint8))
    with pytest.raises(DataError, match=r"5 pixels contain NaN or Inf or values beyond ±1e\+30"):
        read_scene(tmp_path / "s.npz", labels_key="gt")
    s = read_scene(tmp_path / "s.npz", labels_key="gt", nonfinite="mask")
    assert not s.cube[0].any() and np.array_equal(s.cube[1:], CUBE[1:])
    assert s.labels.sum() == 25 and not s.labels[0].any()


def test_real_ground_truth_layout(shared_data):
    gt = read_labels(shared_data / "indian_pines" / "Indian_pines_gt.mat")
    assert gt.shape == (145, 145)
    assert int((gt > 0).sum()) == 10249


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _savemat(path, **arrays):
    scipy.io.savemat(path, arrays)
    return path


def _mat_bytes() -> bytes:
    import io

    buf = io.BytesIO()
    scipy.io.savemat(buf, {"cube": CUBE})
    return buf.getvalue()
