"""PatchDataset: windows equal naive slices, padding, memory bound, batch gathering."""

from __future__ import annotations

import numpy as np
import pytest

from hsi.errors import ConfigError
from hsi.patches import PatchDataset, labeled_coords


def naive_window(cube: np.ndarray, i: int, j: int, p: int, mode: str) -> np.ndarray:
    r = p // 2
    padded = np.pad(cube, ((r, r), (r, r), (0, 0)), mode="constant" if mode == "zero" else mode)
    return np.moveaxis(padded[i : i + p, j : j + p, :], 2, 0)


@pytest.mark.parametrize("padding", ["zero", "reflect"])
def test_windows_equal_naive_slices(padding):
    rng = np.random.default_rng(1)
    cube = rng.random((13, 11, 5)).astype(np.float32)
    p = 7
    corners = [(0, 0), (0, 10), (12, 0), (12, 10), (6, 0), (0, 5)]
    coords = np.array(corners + [tuple(rng.integers([0, 0], [13, 11])) for _ in range(20)])
    ds = PatchDataset(cube, coords, np.arange(len(coords)), patch=p, padding=padding)
    for n, (i, j) in enumerate(coords):
        x, y = ds[n]
        assert x.dtype.is_floating_point and x.shape == (5, p, p) and int(y) == n
        np.testing.assert_array_equal(x.numpy(), naive_window(cube, i, j, p, padding))
    xb, yb = ds.get_batch(np.arange(len(coords)))
    assert xb.shape == (len(coords), 5, p, p)
    np.testing.assert_array_equal(xb[3].numpy(), ds[3][0].numpy())
    assert yb.tolist() == list(range(len(coords)))


def test_zero_padding_is_zero_at_the_corner():
    cube = np.ones((5, 5, 2), dtype=np.float32)
    x, _ = PatchDataset(cube, [[0, 0]], patch=5)[0]
    assert x[:, :2, :].sum() == 0 and x[:, 2:, 2:].sum() == 2 * 9


def test_even_or_oversized_patch_is_an_error():
    cube = np.zeros((10, 10, 3), dtype=np.float32)
    with pytest.raises(ConfigError, match="odd"):
        PatchDataset(cube, [[0, 0]], patch=4)
    with pytest.raises(ConfigError, match="too large"):
        PatchDataset(cube, [[0, 0]], patch=21)


def test_memory_is_independent_of_the_number_of_patches():
    """All 10,249 labeled pixels of an Indian Pines-sized layout, k=30, p=25: < 50 MB.

    The notebook's approach would hold 10,249 × 25 × 25 × 30 float64 values: 1.5 GB.
    """
    import tracemalloc

    rng = np.random.default_rng(0)
    labels = np.zeros((145, 145), dtype=np.int64)
    labels.ravel()[rng.choice(145 * 145, 10_249, replace=False)] = 1
    cube = rng.random((145, 145, 30), dtype=np.float32)
    tracemalloc.start()
    ds = PatchDataset(cube, labeled_coords(labels), np.zeros(10_249), patch=25)
    _, peak = tracemalloc.get_traced_memory()
    # drawing batches copies only the windows asked for (256 × 25 × 25 × 30 float32: 19 MB, and
    # about 22 MB at the peak)
    tracemalloc.reset_peak()
    for start in (0, 5_000, 9_993):
        x, _ = ds.get_batch(np.arange(start, start + 256))
        assert x.shape == (256, 30, 25, 25)
        del x
    _, batch_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(ds) == 10_249
    assert peak < 50 * 2**20, f"building the dataset allocated {peak / 2**20:.1f} MB"
    assert batch_peak < 50 * 2**20, f"a batch of 256 allocated {batch_peak / 2**20:.1f} MB"
    assert ds.padded.nbytes == 30 * 169 * 169 * 4


def test_labeled_coords_are_row_major():
    labels = np.array([[0, 3], [5, 0]])
    assert labeled_coords(labels).tolist() == [[0, 1], [1, 0]]
