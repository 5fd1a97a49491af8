"""Splits: disjoint, seeded, every class trained on; spatial splits leave no window leakage."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hsi.data.synthetic import make_scene
from hsi.errors import ConfigError
from hsi.splits import leakage, make_split, parse_size


def as_set(coords: np.ndarray) -> set[tuple[int, int]]:
    return {tuple(c) for c in coords.tolist()}


def check_partition(labels, split, *, complete: bool = True):
    tr, va, te = as_set(split.train), as_set(split.val), as_set(split.test)
    assert not (tr & va) and not (tr & te) and not (va & te)
    labeled = as_set(np.argwhere(labels != 0))
    assert tr | va | te <= labeled
    if complete:
        assert tr | va | te == labeled
    # every class appears in training
    trained = set(labels[split.train[:, 0], split.train[:, 1]].tolist())
    assert trained == set(np.unique(labels[labels != 0]).tolist())


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n_classes=st.integers(1, 6),
    train=st.one_of(st.floats(0.01, 0.9), st.integers(1, 40)),
    val=st.one_of(st.just(0), st.floats(0.05, 0.5), st.integers(1, 5)),
)
def test_random_splits_partition_the_labeled_pixels(seed, n_classes, train, val):
    labels = make_scene(20, 20, bands=3, n_classes=n_classes, seed=seed % 1000).labels
    strategy = "per_class" if isinstance(train, int) else "stratified"
    split = make_split(labels, strategy, train_size=train, val_size=val, seed=seed)
    check_partition(labels, split)
    again = make_split(labels, strategy, train_size=train, val_size=val, seed=seed)
    assert np.array_equal(split.train, again.train) and np.array_equal(split.test, again.test)


def test_fraction_per_class_and_seed_changes_split():
    labels = make_scene(40, 40, bands=3, n_classes=5, seed=3).labels
    a = make_split(labels, "stratified", train_size=0.1, seed=0)
    b = make_split(labels, "stratified", train_size=0.1, seed=1)
    assert not np.array_equal(a.train, b.train)
    for cls in np.unique(labels[labels > 0]):
        n = (labels == cls).sum()
        got = (labels[a.train[:, 0], a.train[:, 1]] == cls).sum()
        assert got == max(1, round(0.1 * n))


def test_per_class_count_and_small_classes():
    labels = np.zeros((10, 10), dtype=int)
    labels[:5] = 1  # 50 pixels
    labels[9, :6] = 7  # 6 pixels: fewer than the count
    split = make_split(labels, "per_class", train_size=20, val_size=5, seed=0)
    train_labels = labels[split.train[:, 0], split.train[:, 1]]
    val_labels = labels[split.val[:, 0], split.val[:, 1]]
    assert (train_labels == 1).sum() + (val_labels == 1).sum() == 20
    assert (val_labels == 1).sum() == 5
    # the small class gives half its pixels to training (and so keeps some to test)
    assert (train_labels == 7).sum() + (val_labels == 7).sum() == 3
    assert any("class 7" in n for n in split.notes)


def test_spatial_split_has_no_leakage_and_random_split_leaks():
    labels = make_scene(96, 96, bands=3, n_classes=4, seed=0).labels
    patch = 9
    spatial = make_split(labels, "spatial", train_size=0.3, val_size=0.2, seed=0, patch=patch)
    check_partition(labels, spatial, complete=False)
    assert len(spatial.test) > 0.2 * (labels > 0).sum()
    assert leakage(spatial.train, spatial.test, patch, labels.shape) == 0.0
    assert leakage(spatial.train, spatial.val, patch, labels.shape) == 0.0
    random = make_split(labels, "stratified", train_size=0.3, seed=0)
    assert leakage(random.train, random.test, patch, labels.shape) > 0.9
    # roughly the requested training share per class
    for cls in np.unique(labels[labels > 0]):
        share = (labels[spatial.train[:, 0], spatial.train[:, 1]] == cls).sum() / (
            labels == cls
        ).sum()
        assert 0.1 < share < 0.75


def test_spatial_buffer_gives_a_smaller_window_the_wider_windows_split():
    # SSFTT (13×13) given HybridSN's buffer (12) is tested on HybridSN's (25×25) test pixels
    labels = make_scene(120, 120, bands=3, n_classes=4, seed=1).labels
    kw = dict(train_size=0.3, val_size=0.2, seed=3)
    wide = make_split(labels, "spatial", patch=25, **kw)
    narrow = make_split(labels, "spatial", patch=13, **kw)
    buffered = make_split(labels, "spatial", patch=13, buffer=12, **kw)
    for part in ("train", "val", "test"):
        assert np.array_equal(getattr(buffered, part), getattr(wide, part))
    assert not np.array_equal(narrow.test, wide.test)  # the default buffer follows the window
    assert leakage(buffered.train, buffered.test, 25, labels.shape) == 0.0
    # a buffer wider than the window's keeps blocks of at least 2 * buffer + 1
    wider = make_split(labels, "spatial", patch=13, buffer=15, **kw)
    assert any("31×31 blocks" in n and "15-pixel buffer" in n for n in wider.notes)
    assert leakage(wider.train, wider.test, 31, labels.shape) == 0.0


def test_spatial_buffer_narrower_than_the_window_or_fractional_is_refused():
    labels = make_scene(40, 40, bands=3, n_classes=3, seed=0).labels
    with pytest.raises(ConfigError, match="buffer must be at least .* 6 for patch 13, got 5"):
        make_split(labels, "spatial", train_size=0.3, patch=13, buffer=5)
    for bad in (12.7, float("nan"), True):
        with pytest.raises(ConfigError, match="buffer must be a whole number of pixels"):
            make_split(labels, "spatial", train_size=0.3, patch=13, buffer=bad)
    make_split(labels, "spatial", train_size=0.3, patch=13, buffer=np.int64(6))


def test_a_buffer_wider_than_the_scene_leaves_no_test_pixel_quickly():
    # linear in the scene whatever the buffer: no (2r+1)² structuring element is built
    labels = make_scene(40, 40, bands=3, n_classes=3, seed=0).labels
    split = make_split(labels, "spatial", train_size=0.3, patch=13, buffer=2**31 - 1)
    assert len(split.test) == 0 and len(split.train) > 0


def test_the_buffer_is_the_square_dilation_of_the_training_pixels():
    from scipy import ndimage

    from hsi.splits import _within

    rng = np.random.default_rng(0)
    for shape, r in [((30, 41), 0), ((30, 41), 1), ((30, 41), 5), ((7, 50), 12), ((9, 9), 4)]:
        mask = rng.random(shape) < 0.02
        mask[0, -1] = True  # a training pixel on the border
        square = ndimage.binary_dilation(mask, structure=np.ones((2 * r + 1, 2 * r + 1)))
        assert np.array_equal(_within(mask, r), square), (shape, r)
    assert _within(mask, 10**9).all()  # beyond the scene: everything is within reach


def test_other_splits_ignore_the_buffer():
    labels = make_scene(40, 40, bands=3, n_classes=3, seed=0).labels
    plain = make_split(labels, "stratified", train_size=0.2, seed=1)
    given = make_split(labels, "stratified", train_size=0.2, seed=1, patch=13, buffer=3)
    assert np.array_equal(plain.test, given.test)


def test_leakage_counts_chebyshev_neighbourhood():
    train = np.array([[5, 5]])
    test = np.array([[5, 7], [5, 8], [7, 7], [0, 0]])
    assert leakage(train, test, patch=5, shape=(10, 10)) == 0.5


@pytest.mark.parametrize("size", [0, -1, 1.5, 0.0, True])
def test_bad_train_size(size):
    with pytest.raises(ConfigError, match="train_size"):
        make_split(np.ones((4, 4), dtype=int), train_size=size)


def test_parse_size():
    assert parse_size("0.1") == 0.1 and parse_size("50") == 50
    with pytest.raises(ConfigError, match="val_size: expected"):
        parse_size("ten", "val_size")
    # "1.0" read as one pixel per class, silently: a decimal whole number is refused
    for text in ("1.0", "50.0", "1e1"):
        with pytest.raises(ConfigError, match="whole count"):
            parse_size(text)


def test_a_validation_share_larger_than_training_is_said():
    """--val-size 200 on a small scene took all but one training pixel per class, unsaid."""
    labels = np.repeat(np.arange(1, 4), 60).reshape(12, 15)
    split = make_split(labels, "stratified", train_size=0.5, val_size=200, seed=0)
    assert len(split.train) == 3 and len(split.val) == 87
    assert any("fewer pixels to train on than to validate on in 3 of 3" in n for n in split.notes)
    split = make_split(labels, "stratified", train_size=0.5, val_size=0.1, seed=0)
    assert not split.notes


def test_a_size_of_1_0_is_refused_from_files_and_the_api_too():
    """1.0 in a TOML/JSON recipe silently trained on one pixel per class; 50.0 still means 50."""
    labels = np.repeat(np.arange(1, 4), 60).reshape(12, 15)
    with pytest.raises(ConfigError, match="train_size 1.0 could mean every pixel"):
        make_split(labels, "stratified", train_size=1.0)
    with pytest.raises(ConfigError, match="val_size 1.0"):
        make_split(labels, "stratified", train_size=0.5, val_size=1.0)
    assert len(make_split(labels, "per_class", train_size=50.0).train) == 150


def test_buffer_reaches_the_split_from_the_config():
    from hsi.config import TrainConfig
    from hsi.stages import split_pixels

    scene = make_scene(100, 100, bands=8, n_classes=4, seed=2)

    def split(**options):
        config = TrainConfig(split="spatial", train_size=0.3, seed=1, **options)
        return split_pixels(scene, config.validate(scene_given=True), say=lambda _: None)

    hybridsn, ssftt = split(model="hybridsn"), split(model="ssftt", buffer=12)
    assert np.array_equal(ssftt.test, hybridsn.test) and np.array_equal(ssftt.val, hybridsn.val)
    assert not np.array_equal(split(model="ssftt").test, hybridsn.test)
    with pytest.raises(ConfigError, match="buffer"):
        TrainConfig(model="ssftt", split="spatial", buffer=-1).validate(scene_given=True)
    TrainConfig(model="ssftt", buffer=-1).validate(scene_given=True)  # ignored: not spatial
    wide = TrainConfig(model="ssftt", split="spatial", train_size=0.3, buffer=10**6)
    with pytest.raises(ConfigError, match="no test pixel.*buffer"):
        split_pixels(scene, wide.validate(scene_given=True), say=lambda _: None)
