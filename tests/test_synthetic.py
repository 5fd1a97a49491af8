"""Synthetic scenes: seeded, coherent, every class present, learnable but not trivial."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from hsi.data.synthetic import make_scene, paint_layout
from hsi.preprocess import PCAReducer
from hsi.splits import make_split


def test_seeded_and_ids_kept():
    a = make_scene(30, 30, bands=20, n_classes=6, seed=4, class_ids=[1, 10, 11, 12, 13, 14])
    b = make_scene(30, 30, bands=20, n_classes=6, seed=4, class_ids=[1, 10, 11, 12, 13, 14])
    assert a.cube.tobytes() == b.cube.tobytes()
    assert set(np.unique(a.labels)) == {0, 1, 10, 11, 12, 13, 14}
    c = make_scene(30, 30, bands=20, n_classes=6, seed=5)
    assert not np.array_equal(a.labels > 0, c.labels > 0)


def test_regions_are_spatially_coherent():
    s = make_scene(64, 64, bands=5, n_classes=5, seed=0)
    same_as_right = (s.labels[:, 1:] == s.labels[:, :-1]).mean()
    assert same_as_right > 0.85  # a random map of 6 values would give about 0.17


def test_learnable_but_not_trivial():
    """Pixel-wise linear models fall clearly short; spatial context recovers most of the gap."""
    from scipy import ndimage

    s = make_scene(64, 64, bands=60, n_classes=6, seed=1)
    red = PCAReducer(15).fit_transform(s.cube)
    split = make_split(s.labels, train_size=0.1, seed=0)
    y = lambda c: s.labels[c[:, 0], c[:, 1]]  # noqa: E731
    x = lambda f, c: f[c[:, 0], c[:, 1]]  # noqa: E731
    pixel = LogisticRegression(max_iter=2000).fit(x(red, split.train), y(split.train))
    smooth = ndimage.uniform_filter(red, size=(5, 5, 1))
    spatial = LogisticRegression(max_iter=2000).fit(x(smooth, split.train), y(split.train))
    acc_pixel = pixel.score(x(red, split.test), y(split.test))
    acc_spatial = spatial.score(x(smooth, split.test), y(split.test))
    assert acc_pixel < 0.95
    assert acc_spatial > acc_pixel + 0.03 and acc_spatial > 0.85


def test_paint_layout_keeps_layout(shared_data):
    from hsi.data.io import read_labels

    gt = read_labels(shared_data / "indian_pines" / "Indian_pines_gt.mat")
    s = paint_layout(gt, bands=50, seed=0)
    assert s.cube.shape == (145, 145, 50) and s.cube.dtype == np.float32
    assert np.array_equal(s.labels, gt) and s.n_classes == 16


def test_indian_pines_like_reads_the_layout_wherever_it_is_called_from(
    shared_data, tmp_path, monkeypatch
):
    from hsi.data import fetch
    from hsi.data.io import read_labels
    from hsi.data.synthetic import indian_pines_like

    gt_file = shared_data / "indian_pines" / "Indian_pines_gt.mat"
    asked = []

    def cached(scene, data_dir=None, *args, **kwargs):  # the dataset cache, without a download
        asked.append((scene, data_dir))
        return {"cube": tmp_path / "unused.mat", "labels": gt_file}

    monkeypatch.setattr(fetch, "download_dataset", cached)
    monkeypatch.chdir(tmp_path)  # the old default, "../shared/data", hung on the folder
    scene = indian_pines_like(bands=20, data_dir=tmp_path / "cache")
    assert asked == [("indian_pines", tmp_path / "cache")]
    assert np.array_equal(scene.labels, read_labels(gt_file)) and scene.cube.shape[2] == 20
    given = indian_pines_like(shared_data.resolve(), bands=20)
    assert np.array_equal(given.cube, scene.cube)
