"""Training loop, inference paths and metrics — each guarding against a notebook defect."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hsi.bundle import ModelBundle
from hsi.data.synthetic import make_scene
from hsi.experiment import predict_run
from hsi.inference import predict_indices
from hsi.metrics import classification_report
from hsi.models import create_model
from hsi.patches import PatchDataset, labeled_coords
from hsi.preprocess import PCAReducer
from hsi.training import fit


def test_prediction_uses_the_saved_pca_never_a_refit(workdir, trained, tmp_path):
    """The notebook refitted PCA on the scene being mapped; the bundle's reducer must be used.

    The bottom half of the scene is altered: a PCA refitted on it has other components, which
    would change the top half's labels too. With the saved reducer, pixels whose windows lie
    wholly in the untouched top half keep exactly the labels of the original map.
    """
    bundle = ModelBundle.load(trained / "model.pt")
    cube = np.load(workdir / "cube.npy")
    altered = cube.copy()
    altered[20:] = altered[20:, :, ::-1] * 3.0
    np.save(tmp_path / "altered.npy", altered)
    predict_run(workdir / "cube.npy", tmp_path / "a.png", bundle_path=trained)
    predict_run(tmp_path / "altered.npy", tmp_path / "b.png", bundle_path=trained)
    top = slice(0, 20 - 9 // 2)
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    np.testing.assert_array_equal(a[top], b[top])

    # the notebook's behaviour: a refit gives other components and another top-half map
    refit = PCAReducer(13).fit(altered)
    saved = bundle.reducer()
    assert np.abs(np.abs(refit.components_) - np.abs(saved.components_)).max() > 0.05
    model = bundle.build_model()
    c = predict_indices(model, refit.transform(altered), patch=9)
    ids = np.asarray(bundle.class_ids)[c]
    assert (ids[top] != a[top]).mean() > 0.05


def test_pca_fit_train_fits_on_the_training_pixels_only_and_the_bundle_keeps_it(
    scene_file, tmp_path
):
    from conftest import tiny_config

    from hsi.experiment import fit_run, train_run

    config = tiny_config(scene_file, pca_fit="train", epochs=1, seed=5)
    fitted = fit_run(config)
    cube = np.load(scene_file)["cube"].astype(np.float64)
    train = fitted.split.train
    np.testing.assert_allclose(fitted.reducer.mean_, cube[train[:, 0], train[:, 1]].mean(axis=0))
    assert not np.allclose(fitted.reducer.mean_, cube.reshape(-1, cube.shape[2]).mean(axis=0))
    run = train_run(config, run_dir=tmp_path / "run").run_dir
    saved = ModelBundle.load(run / "model.pt").reducer()
    np.testing.assert_array_equal(saved.mean_, fitted.reducer.mean_)
    np.testing.assert_array_equal(saved.components_, fitted.reducer.components_)


@pytest.mark.parametrize("tta", [False, True])
@pytest.mark.parametrize("name", ["hybridsn", "hybridsn_se", "ssftt"])
def test_dense_and_patches_agree_on_masked_pixels(name, tta):
    """A mask limits the dense path's per-window work to its pixels (turned with each view under
    TTA): the same labels as the patch path there, -1 elsewhere."""
    torch.manual_seed(0)
    model = create_model(name, n_components=13, patch=9, n_classes=5).eval()
    rng = np.random.default_rng(0)
    cube = rng.standard_normal((19, 14, 13)).astype(np.float32)
    mask = rng.random((19, 14)) < 0.2
    dense = predict_indices(model, cube, patch=9, method="dense", tile=8, mask=mask, tta=tta)
    patches = predict_indices(model, cube, patch=9, method="patches", mask=mask, tta=tta)
    np.testing.assert_array_equal(dense, patches)
    assert (dense[~mask] == -1).all() and (dense[mask] >= 0).all()


@pytest.mark.parametrize("name", ["hybridsn", "hybridsn_se", "ssftt"])
def test_dense_tiled_equals_patches_and_mode_is_restored(name):
    torch.manual_seed(0)
    model = create_model(name, n_components=13, patch=9, n_classes=5)
    model.train()  # left in training mode on purpose: prediction must switch dropout off
    cube = np.random.default_rng(0).standard_normal((30, 23, 13)).astype(np.float32)
    dense = predict_indices(model, cube, patch=9, method="dense", tile=7)
    dense_again = predict_indices(model, cube, patch=9, method="dense", tile=64)
    patches = predict_indices(model, cube, patch=9, method="patches", batch_size=50)
    assert model.training
    np.testing.assert_array_equal(dense, dense_again)
    np.testing.assert_array_equal(dense, patches)
    assert dense.min() >= 0 and dense.shape == (30, 23)


def _tiny_data():
    scene = make_scene(24, 24, bands=16, n_classes=3, seed=0, similarity=0.5)
    reduced = PCAReducer(13).fit_transform(scene.cube)
    coords = labeled_coords(scene.labels)
    targets = scene.class_index_map()[coords[:, 0], coords[:, 1]]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(coords))
    tr, va = order[:150], order[150:250]
    make = lambda idx: PatchDataset(reduced, coords[idx], targets[idx], patch=9)  # noqa: E731
    return make(tr), make(va)


def test_keeps_best_validation_weights():
    train, val = _tiny_data()
    torch.manual_seed(0)
    model = create_model("hybridsn", n_components=13, patch=9, n_classes=3)
    result = fit(model, train, val, epochs=5, batch_size=32)
    val_accs = [row["val_acc"] for row in result.history]
    assert result.best_epoch == int(np.argmax(val_accs)) + 1
    assert result.best_val_acc == max(val_accs)
    for k, v in model.state_dict().items():
        assert torch.equal(v, result.best_state[k])
    assert not model.training


def test_last_state_is_the_last_epochs_weights_not_the_kept_ones():
    # the same seeded run without validation keeps its last epoch: its weights must equal the
    # validated run's last_state (validation draws no random numbers), whatever epoch was best
    train, val = _tiny_data()
    torch.manual_seed(0)
    validated = create_model("hybridsn", n_components=13, patch=9, n_classes=3)
    result = fit(validated, train, val, epochs=4, batch_size=32, seed=3)
    torch.manual_seed(0)
    plain = create_model("hybridsn", n_components=13, patch=9, n_classes=3)
    fit(plain, train, None, epochs=4, batch_size=32, seed=3)
    for k, v in plain.state_dict().items():
        assert torch.equal(v, result.last_state[k]), k
    if result.best_epoch != 4:  # then the kept weights are not the last ones
        assert any(
            not torch.equal(v, result.last_state[k]) for k, v in validated.state_dict().items()
        )


def test_a_shorter_run_is_the_longer_runs_prefix():
    # with the constant schedule nothing in an epoch depends on how many epochs follow, so a run
    # of --epochs 3 (or one stopped early) trains exactly the first 3 epochs of --epochs 6:
    # docs/benchmarks.md reads the epoch --epochs 40 --patience 20 keeps off longer runs' curves
    train, val = _tiny_data()
    per_epoch = math.ceil(len(train) / 32) + math.ceil(len(val) / 32)  # forward calls

    def run(epochs: int, stop_after: int | None = None):
        torch.manual_seed(0)
        model = create_model("hybridsn", n_components=13, patch=9, n_classes=3)
        if stop_after is not None:  # Ctrl-C at the first batch after `stop_after` epochs
            calls, original = {"n": 0}, model.forward

            def forward(x):
                calls["n"] += 1
                if calls["n"] > stop_after * per_epoch:
                    raise KeyboardInterrupt
                return original(x)

            model.forward = forward
        return fit(model, train, val, epochs=epochs, batch_size=32, seed=5)

    short, long, cut = run(3), run(6), run(6, stop_after=3)
    assert short.history == long.history[:3]
    # the 6-epoch run's weights after its third epoch are the 3-epoch run's last weights
    assert cut.interrupted and cut.history == short.history
    for k, v in short.last_state.items():
        assert torch.equal(v, cut.last_state[k]), k


def test_ctrl_c_keeps_the_best_weights_so_far():
    train, val = _tiny_data()
    torch.manual_seed(0)
    model = create_model("hybridsn", n_components=13, patch=9, n_classes=3)
    calls = {"n": 0}
    original = model.forward

    def forward(x):
        calls["n"] += 1
        if calls["n"] > 2 * 5 + 2 * 4:  # a few batches into the third epoch
            raise KeyboardInterrupt
        return original(x)

    model.forward = forward
    result = fit(model, train, val, epochs=10, batch_size=32)
    assert result.interrupted and len(result.history) == 2 and result.best_epoch in (1, 2)

    calls["n"] = 10**6  # interrupted before any epoch ended: nothing to keep
    with pytest.raises(KeyboardInterrupt, match="before the first epoch ended"):  # exit 130
        fit(model, train, val, epochs=10, batch_size=32)


def test_metrics_by_hand():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 1, 0])
    r = classification_report(y_true, y_pred, np.array([1, 10, 11, 12]), ["a", "b", "c", "d"])
    assert r["oa"] == pytest.approx(4 / 6)
    assert r["aa"] == pytest.approx((2 / 3 + 1 + 0) / 3)  # class 12 has no test pixel
    po, pe = 4 / 6, (3 * 3 + 2 * 3 + 1 * 0) / 36
    assert r["kappa"] == pytest.approx((po - pe) / (1 - pe))
    assert r["per_class"]["12"]["accuracy"] is None and r["per_class"]["10"]["accuracy"] == 1.0
    assert r["confusion"][0] == [2, 1, 0, 0]
    assert any("12" in n for n in r["notes"])


def test_kappa_of_one_class_agreeing_is_one_without_a_library_warning():
    """Every pixel and prediction one class: kappa is 0/0. scikit-learn warns with its own
    source line on stderr (`hsi predict --labels` printed it); the report gives 1 and says why."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = classification_report(np.array([1, 1]), np.array([1, 1]), np.array([3, 5]), ["a", "b"])
    assert r["oa"] == 1.0 and r["kappa"] == 1.0
    assert any("kappa is undefined" in n for n in r["notes"])


def test_public_api_names_resolve():
    import hsi

    for name in hsi.__all__:
        assert getattr(hsi, name) is not None
    with pytest.raises(AttributeError):
        hsi.no_such_thing  # noqa: B018


@pytest.mark.parametrize("split", ["stratified", "spatial"])
def test_a_runs_figures_score_the_test_pixels_only(
    scene_file, tmp_path, monkeypatch, one_thread, split
):
    """panels.png and map_labeled.png mark the training and validation pixels, and a spatial
    split's buffer, and score the rest: the panel's accuracy is the metrics' test OA, not one
    over every labeled pixel nor over the buffer, whose windows overlap the training blocks."""
    from conftest import tiny_config

    from hsi import render
    from hsi.experiment import train_run
    from hsi.render.maps import _error_rgb

    calls = {}
    for name in ("save_panels", "save_map"):
        real = getattr(render, name)

        def spy(path, *args, _real=real, _name=name, **kwargs):
            calls.setdefault(_name, []).append((args, kwargs))
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(render, name, spy)
    config = tiny_config(scene_file, split=split, train_size=0.2)
    result = train_run(config, run_dir=tmp_path / "run")
    (gt, pred, *_), kwargs = calls["save_panels"][0]
    used, buffer = kwargs["used"], kwargs["buffer"]
    split = result.metrics["split"]
    assert used.sum() == split["train"] + split["val"]
    n_buffer = np.count_nonzero(gt) - split["train"] - split["val"] - split["test"]
    assert buffer.sum() == n_buffer and not (buffer & used).any()
    assert (n_buffer > 0) == (config.split == "spatial")
    assert sum(split["val_per_class"].values()) == split["val"]
    assert sum(split["train_per_class"].values()) == split["train"]
    assert set(split["val_per_class"]) == set(result.metrics["per_class"])
    _, n_ok, n_bad = _error_rgb(gt, pred, used, buffer)
    assert n_ok + n_bad == split["test"]
    assert n_ok / (n_ok + n_bad) == pytest.approx(result.metrics["oa"])
    labeled_map = [kw for _, kw in calls["save_map"] if "used" in kw]
    assert len(labeled_map) == 1 and (labeled_map[0]["used"] == used).all()
    assert (labeled_map[0]["buffer"] == buffer).all()


def test_a_runs_map_leaves_the_unread_pixels_unclassified(tmp_path, monkeypatch, one_thread):
    """--nonfinite mask zero-fills NaN pixels: map.png must show them as 0, as predict does."""
    from conftest import tiny_config

    from hsi import render
    from hsi.experiment import train_run

    scene = make_scene(24, 24, bands=20, n_classes=3, seed=0)
    cube = scene.cube.copy()
    cube[2:4, 5:7, 0] = np.nan
    path = tmp_path / "holes.npz"
    np.savez(path, cube=cube, labels=scene.labels)
    maps = []
    real = render.save_map

    def spy(target, ids, *args, **kwargs):
        maps.append(np.array(ids))
        return real(target, ids, *args, **kwargs)

    monkeypatch.setattr(render, "save_map", spy)
    config = tiny_config(path, nonfinite="mask")
    train_run(config, run_dir=tmp_path / "run")
    assert (maps[0][2:4, 5:7] == 0).all() and (maps[0][:2] != 0).all()
