"""Rendering: original ids keep their colours, every file is a whole PNG or nothing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from hsi import render
from hsi.errors import HSIError
from hsi.render.maps import BUFFER, CORRECT, USED, WRONG, _error_rgb

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IDS = [1, 10, 11, 12, 13, 14]
NAMES = ["Alfalfa", "Soybean-notill", "Soybean-mintill", "Soybean-clean", "Wheat", "Woods"]


@pytest.fixture(scope="module")
def maps() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    gt = rng.choice([0, *IDS], size=(12, 14))
    pred = gt.copy()
    pred[0, :] = 10  # some errors, and predictions on unlabeled pixels too
    return gt, pred


def _history() -> list[dict]:
    return [
        {"epoch": 1, "train_loss": 1.2, "train_acc": 0.5, "val_loss": None, "val_acc": None},
        {"epoch": 2, "train_loss": 0.8, "train_acc": 0.7, "val_loss": 0.9, "val_acc": 0.65},
        {"epoch": 3, "train_loss": 0.5, "train_acc": 0.8, "val_loss": 0.7, "val_acc": 0.75},
        {"epoch": 4, "train_loss": 0.4, "train_acc": 0.9, "val_loss": 0.8, "val_acc": math.nan},
    ]


def _rows() -> list[dict]:
    return [
        {"train_size": ts, "seed": s, "oa": 0.5 + ts / 40 + s / 100, "aa": 0.6, "kappa": 0.55}
        for ts in (10, 5)
        for s in range(3)
    ]


def _writers(maps):
    gt, pred = maps
    k = len(IDS)
    confusion = np.eye(k, dtype=int) * 10 + 1
    return {
        "map": lambda p: render.save_map(p, gt, IDS, NAMES, title="map"),
        "panels": lambda p: render.save_panels(p, gt, pred, IDS, NAMES, title="panels"),
        "confusion": lambda p: render.save_confusion(p, confusion, IDS, NAMES),
        "curves": lambda p: render.save_curves(p, _history()),
        "sweep": lambda p: render.save_sweep_plot(p, _rows(), group_by="train_size"),
    }


WRITERS = ["map", "panels", "confusion", "curves", "sweep"]


def _assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100


# ------------------------------------------------------------------ colours


def test_colorize_uses_original_ids_and_their_palette_rows():
    palette = np.array(
        [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255]],
        dtype=np.uint8,
    )
    ids_map = np.array([[0, 1, 10], [11, 12, 13], [14, 0, 1]])
    rgb = render.colorize(ids_map, IDS, palette)
    assert rgb.shape == (3, 3, 3) and rgb.dtype == np.uint8
    for class_id, colour in zip(IDS, palette, strict=True):
        assert (rgb[ids_map == class_id] == colour).all()
    assert (rgb[ids_map == 0] == 0).all()


def test_colorize_default_palette_and_unsorted_ids():
    ids_map = np.array([[14, 1], [0, 10]])
    rgb = render.colorize(ids_map, IDS)
    pal = render.default_palette(len(IDS))
    assert (rgb[0, 0] == pal[IDS.index(14)]).all()
    assert (rgb[0, 1] == pal[0]).all()
    assert (rgb[1, 0] == 0).all()
    # Rows follow class_ids, whatever their order.
    shuffled = [14, 1, 10]
    rgb2 = render.colorize(ids_map, shuffled, pal[:3])
    assert (rgb2[0, 0] == pal[0]).all() and (rgb2[0, 1] == pal[1]).all()


def test_colorize_unknown_id_raises():
    with pytest.raises(ValueError, match="7"):
        render.colorize(np.array([[1, 7]]), IDS)
    with pytest.raises(HSIError):
        render.colorize(np.array([[1, 7]]), IDS)


@pytest.mark.parametrize(
    ("ids_map", "class_ids", "palette"),
    [
        (np.zeros((2, 2, 2), dtype=int), IDS, None),  # not 2-D
        (np.full((2, 2), 1.5), IDS, None),  # not integer ids
        (np.zeros((2, 2), dtype=int), [0, 1], None),  # 0 is not a class
        (np.zeros((2, 2), dtype=int), [1, 1], None),  # duplicates
        (np.zeros((2, 2), dtype=int), IDS, np.zeros((3, 3), dtype=np.uint8)),  # palette rows
    ],
)
def test_colorize_rejects_bad_inputs(ids_map, class_ids, palette):
    with pytest.raises(ValueError):
        render.colorize(ids_map, class_ids, palette)


def test_default_palette():
    pal = render.default_palette(16)
    assert pal.shape == (16, 3) and pal.dtype == np.uint8
    assert np.array_equal(pal, render.default_palette(16))
    assert len({tuple(c) for c in pal.tolist()}) == 16
    # None is (close to) the black background.
    assert render.default_palette(80).max(axis=1).min() >= 80
    assert render.default_palette(0).shape == (0, 3)
    assert render.default_palette(200).shape == (200, 3)


# ------------------------------------------------------------------ files


@pytest.mark.parametrize("kind", WRITERS)
def test_writes_png_atomically_and_overwrites(kind, maps, tmp_path):
    write = _writers(maps)[kind]
    target = tmp_path / f"{kind}.png"
    out = write(target)
    assert out == target
    _assert_png(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]

    target.write_bytes(b"old content")
    assert write(str(target)) == target
    _assert_png(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


@pytest.mark.parametrize("kind", WRITERS)
def test_failure_mid_write_leaves_nothing(kind, maps, tmp_path, monkeypatch):
    def broken_savefig(self, fname, *args, **kwargs):
        Path(fname).write_bytes(PNG_SIGNATURE + b"trunc")
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    write = _writers(maps)[kind]
    with pytest.raises(RuntimeError, match="disk full"):
        write(tmp_path / "fresh.png")
    assert list(tmp_path.iterdir()) == []

    # An existing file survives a failed overwrite untouched.
    old = tmp_path / "old.png"
    old.write_bytes(b"previous")
    with pytest.raises(RuntimeError):
        write(old)
    assert old.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["old.png"]


def test_unknown_format_is_refused(maps, tmp_path):
    gt, _ = maps
    with pytest.raises(HSIError, match=r"\.xyz"):
        render.save_map(tmp_path / "map.xyz", gt, IDS, NAMES)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ content


@pytest.fixture
def captured(monkeypatch):
    """Keep the figure instead of writing it, to look at its texts."""
    figs: list[Figure] = []

    def fake_save(fig, path):
        figs.append(fig)
        return Path(path)

    from hsi.render import maps, plots

    for module in (maps, plots):
        monkeypatch.setattr(module, "_save", fake_save)
    return figs


def _legend_texts(fig: Figure) -> list[str]:
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def test_map_legend_lists_ids_and_names(maps, captured):
    gt, _ = maps
    render.save_map("m.png", gt, IDS, NAMES)
    texts = _legend_texts(captured[0])
    assert "10 · Soybean-notill" in texts
    assert len(texts) == len(IDS) and not any(t.startswith("0 ·") for t in texts)
    render.save_map("m.png", gt, IDS, NAMES, background_label="unlabeled")
    assert _legend_texts(captured[1])[0] == "0 · unlabeled"
    render.save_map("m.png", gt, IDS, NAMES, legend=False)
    assert captured[2].legends == []


def test_panels_report_oa_on_labeled_pixels(captured):
    gt = np.array([[1, 10, 0, 0], [11, 11, 0, 0]])
    pred = np.array([[1, 10, 11, 11], [11, 1, 1, 1]])  # 3 of 4 labeled pixels right
    render.save_panels("p.png", gt, pred, IDS, NAMES)
    titles = [ax.get_title() for ax in captured[0].axes]
    assert any("OA 75.00%" in t for t in titles)
    assert "14 · Woods" in _legend_texts(captured[0])


def test_panels_score_test_pixels_only_and_show_the_training_pixels(captured):
    """The notebook's panels counted the training pixels: 5 of 6 labeled pixels right reads
    83 %, while the 4 test pixels alone are 3 of 4 right (75 %)."""
    gt = np.array([[1, 10, 11], [11, 1, 10]])
    pred = np.array([[1, 10, 11], [1, 1, 10]])  # the one wrong pixel is a test pixel
    used = np.array([[True, True, False], [False, False, False]])
    render.save_panels("p.png", gt, pred, IDS, NAMES, used=used)
    titles = [ax.get_title() for ax in captured[0].axes]
    assert any("test OA 75.00% (4 px)" in t for t in titles), titles
    assert not any("83.33" in t for t in titles)
    texts = [
        t.get_text()
        for ax in captured[0].axes
        if ax.get_legend()
        for t in ax.get_legend().get_texts()
    ]
    assert texts == ["correct (3)", "wrong (1)", "used for training (2)"]
    rgb, n_ok, n_bad = _error_rgb(gt, pred, used)
    assert (n_ok, n_bad) == (3, 1)
    assert (rgb[0, 0] == USED).all() and (rgb[0, 1] == USED).all() and (rgb[1, 0] == WRONG).all()


def test_panels_leave_a_spatial_splits_buffer_unscored(captured):
    """A spatial split tests neither its training pixels nor the buffer around them (their
    windows overlap the training blocks): the panel scores the 2 test pixels (1 right, 50 %),
    not the 4 pixels outside training, of which 3 are right (75 %)."""
    gt = np.array([[1, 10, 11], [11, 1, 10]])
    pred = np.array([[1, 10, 11], [1, 1, 10]])
    used = np.array([[True, True, False], [False, False, False]])
    buffer = np.array([[False, False, True], [False, False, True]])
    render.save_panels("p.png", gt, pred, IDS, NAMES, used=used, buffer=buffer)
    titles = [ax.get_title() for ax in captured[0].axes]
    assert any("test OA 50.00% (2 px)" in t for t in titles), titles
    texts = [
        t.get_text()
        for ax in captured[0].axes
        if ax.get_legend()
        for t in ax.get_legend().get_texts()
    ]
    assert texts == ["correct (1)", "wrong (1)", "used for training (2)", "buffer, not scored (2)"]
    rgb, n_ok, n_bad = _error_rgb(gt, pred, used, buffer)
    assert (n_ok, n_bad) == (1, 1)
    assert (rgb[0, 2] == BUFFER).all() and (rgb[1, 2] == BUFFER).all() and (rgb[0, 0] == USED).all()
    render.save_map("m.png", gt, IDS, NAMES, used=used, buffer=buffer)
    assert _legend_texts(captured[1])[-2:] == ["used for training (2)", "buffer, not scored (2)"]
    render.save_map("m.png", gt, IDS, NAMES, used=used, buffer=np.zeros_like(buffer))
    assert _legend_texts(captured[2])[-1] == "used for training (2)"  # no buffer, no entry
    with pytest.raises(ValueError, match="buffer mask"):
        render.save_panels("p.png", gt, pred, IDS, NAMES, used=used, buffer=buffer[:1])


def test_map_marks_the_training_pixels(captured):
    gt = np.array([[1, 10, 0], [11, 1, 10]])
    used = np.array([[True, False, False], [False, False, True]])
    render.save_map("m.png", gt, IDS, NAMES, used=used)
    assert _legend_texts(captured[0])[-1] == "used for training (2)"
    with pytest.raises(ValueError, match="training-pixel mask"):
        render.save_map("m.png", gt, IDS, NAMES, used=used[:1])


def test_panels_shape_mismatch(maps):
    gt, _ = maps
    with pytest.raises(ValueError, match="prediction"):
        render.save_panels("p.png", gt, gt[:5], IDS, NAMES)


def test_error_colours():
    gt = np.array([[0, 1, 10]])
    pred = np.array([[1, 1, 1]])
    rgb, n_ok, n_bad = _error_rgb(gt, pred)
    assert (n_ok, n_bad) == (1, 1)
    assert (rgb[0, 0] == render.BACKGROUND).all()
    assert (rgb[0, 1] == CORRECT).all()
    assert (rgb[0, 2] == WRONG).all()


def test_confusion_rejects_wrong_shape():
    with pytest.raises(ValueError, match="6, 6"):
        render.save_confusion("c.png", np.zeros((5, 5)), IDS, NAMES)


def test_confusion_annotations(captured):
    cm = np.array([[8, 2, 0], [0, 0, 0], [1, 0, 999]])
    render.save_confusion("c.png", cm, [2, 5, 9], ["a", "b", "c"])
    ax = captured[0].axes[0]
    texts = {t.get_text() for t in ax.texts}
    assert {"80", "20", "100", "<1"} <= texts  # row-normalised percentages
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "5", "9"]
    render.save_confusion("c.png", cm, [2, 5, 9], ["a", "b", "c"], normalize=False)
    assert "999" in {t.get_text() for t in captured[1].axes[0].texts}


def test_curves_mark_best_validation_epoch(captured):
    render.save_curves("c.png", _history())
    for ax in captured[0].axes[:2]:
        labels = [line.get_label() for line in ax.get_lines()]
        assert any(label.startswith("best val (epoch 3") for label in labels)


def test_curves_without_validation(captured):
    history = [{"epoch": e, "train_loss": 1 / e, "train_acc": 0.1 * e} for e in range(1, 4)]
    render.save_curves("c.png", history)
    labels = [line.get_label() for line in captured[0].axes[0].get_lines()]
    assert labels == ["train"]
    with pytest.raises(ValueError):
        render.save_curves("c.png", [])


def test_sweep_groups_in_numeric_order(captured):
    render.save_sweep_plot("s.png", _rows(), metrics=("oa", "kappa"), group_by="train_size")
    axes = captured[0].axes
    assert [ax.get_title() for ax in axes] == ["OA", "Kappa"]
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["5\n(n=3)", "10\n(n=3)"]
    render.save_sweep_plot("s.png", _rows()[:3])
    assert captured[1].axes[0].get_title().startswith("OA\n")
    with pytest.raises(ValueError, match="f1"):
        render.save_sweep_plot("s.png", _rows(), metrics=("f1",))
