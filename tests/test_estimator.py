"""HSIClassifier: the training run as a scikit-learn style estimator over in-memory arrays.

It runs the same stages as `hsi train` (tested: same data, options, seed and threads give the
same weights and the same map as train_run), stores its parameters unchanged (clone works),
and saves and loads through the model bundle.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import RUN_FILES, settings_seen, tiny_config, weights_hash
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from hsi import HSIClassifier
from hsi.data.synthetic import make_scene
from hsi.errors import ConfigError, DataError
from hsi.estimator import NoProbabilities
from hsi.experiment import predict_run, train_run
from hsi.seeding import run_settings, set_deterministic

# tiny_config's recipe (pca 13, patch 9, 30 % training, batch 32, cpu), trained long enough to
# learn the 24×24 scene of conftest's scene_file; one thread, so that weights can be compared
RECIPE = dict(pca=13, patch=9, train_size=0.3, batch_size=32, device="cpu", threads=1)
RECIPE.update(epochs=10, seed=3)


@pytest.fixture(autouse=True)
def _settings():
    with run_settings():  # whatever a test sets, the next one starts from the suite's
        yield


@pytest.fixture(scope="module")
def scene():
    return make_scene(24, 24, bands=20, n_classes=3, seed=0)  # conftest's scene_file


@pytest.fixture(scope="module")
def fitted(scene):
    return HSIClassifier(**RECIPE).fit(scene.cube, scene.labels)


def test_fit_gives_the_weights_and_map_train_run_gives(scene, scene_file, fitted, tmp_path):
    config = tiny_config(scene_file, **{k: RECIPE[k] for k in ("epochs", "seed", "threads")})
    run = train_run(config, run_dir=tmp_path / "run").run_dir
    fitted.save(tmp_path / "est.pt")
    assert weights_hash(tmp_path / "est.pt") == weights_hash(run / "model.pt")
    predict_run(scene_file, tmp_path / "map.png", bundle_path=run, cube_key="cube", device="cpu")
    expected = np.load(tmp_path / "map.npy")
    assert np.array_equal(fitted.predict(scene.cube), expected)
    assert len(np.unique(expected)) > 1  # a model that learned something, not one class
    history = (run / "history.csv").read_text().splitlines()
    assert len(fitted.history_) == len(history) - 1


def test_fit_and_predict_run_with_its_settings_and_give_the_caller_back_its_own(
    scene, fitted, monkeypatch
):
    import hsi.inference
    import hsi.stages

    predicting = settings_seen(monkeypatch, hsi.inference, "predict_scores")
    fitting = settings_seen(monkeypatch, hsi.stages, "fit_model")
    torch.set_num_threads(3)  # the autouse fixture restores the suite's settings
    set_deterministic(False)
    assert fitted.threads == 1 and fitted.deterministic
    fitted.decision_function(scene.cube)
    assert predicting == [(1, True)]
    assert torch.get_num_threads() == 3 and not torch.are_deterministic_algorithms_enabled()
    HSIClassifier(**{**RECIPE, "epochs": 1}).fit(scene.cube, scene.labels)
    assert fitting == [(1, True)]
    assert torch.get_num_threads() == 3 and not torch.are_deterministic_algorithms_enabled()


def test_learned_state_ends_in_an_underscore(fitted, scene):
    assert list(fitted.classes_) == [1, 2, 3]
    assert fitted.n_features_in_ == 20 and fitted.reducer_.n_components == 13
    assert not fitted.model_.training
    assert fitted.bundle_.class_ids == [1, 2, 3] and fitted.run_dir_ is None
    sizes = fitted.split_.sizes()
    assert sizes["train"] + sizes["val"] + sizes["test"] == int((scene.labels > 0).sum())
    assert fitted.score(scene.cube, scene.labels) > 0.8
    with pytest.raises(NotFittedError):
        HSIClassifier().predict(scene.cube)


def test_parameters_are_stored_unchanged_and_clone_refits_the_same(fitted, scene):
    options = {"width": 0.5}
    clf = HSIClassifier("mobilenet_v2", model_options=options, patience=0)
    assert clf.get_params()["model_options"] is options and clf.patience == 0
    assert clf.set_params(epochs=3) is clf and clf.epochs == 3
    twin = clone(fitted)
    assert twin.get_params() == fitted.get_params()
    assert not hasattr(twin, "model_")
    twin.fit(scene.cube, scene.labels)
    assert np.array_equal(twin.predict(scene.cube), fitted.predict(scene.cube))
    for a, b in zip(
        twin.model_.state_dict().values(), fitted.model_.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)


def test_predict_proba_is_the_softmax_of_the_logits(fitted, scene):
    proba = fitted.predict_proba(scene.cube)
    assert proba.shape == (24, 24, 3) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(-1), 1.0, atol=1e-5)
    assert (proba >= 0).all()
    index = np.searchsorted(fitted.classes_, fitted.predict(scene.cube))
    assert np.array_equal(proba.argmax(-1), index)
    logits = fitted.decision_function(scene.cube)
    assert np.array_equal(logits.argmax(-1), index)
    # the softmax itself, not only a distribution with the same arg-max
    expected = torch.softmax(torch.from_numpy(logits).double(), dim=-1).numpy()
    np.testing.assert_allclose(proba, expected, rtol=1e-5, atol=1e-6)


def test_predict_uses_the_fitted_pca_never_a_refit(fitted, scene):
    """The notebook refitted PCA on the scene it mapped: altering the bottom rows would then
    change the components, hence the labels of the untouched top rows too."""
    altered = scene.cube.copy()
    altered[12:] = altered[12:, :, ::-1] * 3.0
    top = slice(0, 12 - 9 // 2)  # windows wholly in the untouched rows
    np.testing.assert_array_equal(fitted.predict(altered)[top], fitted.predict(scene.cube)[top])
    np.testing.assert_array_equal(
        fitted.decision_function(altered)[top], fitted.decision_function(scene.cube)[top]
    )


def test_save_and_load_give_the_same_predictions(fitted, scene, tmp_path):
    path = fitted.save(tmp_path / "model.pt")
    loaded = HSIClassifier.load(path)
    assert np.array_equal(loaded.predict(scene.cube), fitted.predict(scene.cube))
    np.testing.assert_array_equal(
        loaded.predict_proba(scene.cube), fitted.predict_proba(scene.cube)
    )
    params = fitted.get_params()
    assert loaded.get_params() == {**params, "pca": 13, "patch": 9, "model_options": {}}
    assert loaded.history_ is None and list(loaded.classes_) == [1, 2, 3]
    assert HSIClassifier.load(path, device="cpu").device == "cpu"


def test_a_model_trained_by_hsi_train_loads(trained, workdir):
    """`hsi train`'s run folder (class ids 1, 10..14) as a fitted classifier."""
    clf = HSIClassifier.load(trained)
    cube, gt = np.load(workdir / "cube.npy"), np.load(workdir / "gt.npy")
    assert list(clf.classes_) == [1, 10, 11, 12, 13, 14]
    assert clf.score(cube, gt) > 0.9


def test_the_svm_has_no_probabilities_but_votes(tmp_path):
    scene = make_scene(24, 24, bands=20, n_classes=3, seed=1, class_ids=[2, 10, 11])
    svm = HSIClassifier("svm", pca=5, train_size=0.3).fit(scene.cube, scene.labels)
    assert list(svm.classes_) == [2, 10, 11]
    assert set(np.unique(svm.predict(scene.cube))) <= {2, 10, 11}
    assert not hasattr(svm, "predict_proba")
    with pytest.raises(NoProbabilities, match="svm gives no class probabilities"):
        svm.predict_proba(scene.cube)
    votes = svm.decision_function(scene.cube)
    assert votes.shape == (24, 24, 3)
    assert np.array_equal(svm.classes_[votes.argmax(-1)], svm.predict(scene.cube))


def test_nothing_is_written_unless_out_is_given(scene, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    quick = dict(RECIPE, epochs=1)
    HSIClassifier(**quick).fit(scene.cube, scene.labels)
    assert list(tmp_path.iterdir()) == []
    clf = HSIClassifier(**quick, out=tmp_path / "runs").fit(scene.cube, scene.labels)
    assert {p.name for p in clf.run_dir_.iterdir()} == RUN_FILES
    assert (tmp_path / "runs" / "latest").resolve() == clf.run_dir_.resolve()


def test_bad_input_is_a_one_line_error(fitted, scene):
    with pytest.raises(DataError, match="labels are 24×23 but the cube is 24×24"):
        HSIClassifier().fit(scene.cube, scene.labels[:, :-1])
    with pytest.raises(DataError, match="cube: expected a 3-D numeric array"):
        HSIClassifier().fit(scene.cube[:, :, 0], scene.labels)
    with pytest.raises(DataError, match="labels must be non-negative"):
        HSIClassifier().fit(scene.cube, -scene.labels)
    # the argument's name, not "array's ground truth" (the scene's default name)
    with pytest.raises(DataError, match=r"^labels: no labeled pixel \(every id is 0\)"):
        HSIClassifier().fit(scene.cube, np.zeros_like(scene.labels))
    with pytest.raises(DataError, match=r"^labels: one class only \(id 7\)"):
        HSIClassifier().fit(scene.cube, np.where(scene.labels > 0, 7, 0))
    with pytest.raises(ConfigError, match="split must be one of") as info:
        HSIClassifier(split="diagonal").fit(scene.cube, scene.labels)
    assert info.value.params == ("split",)
    with pytest.raises(DataError, match="has 19 bands but the model was trained on 20"):
        fitted.predict(scene.cube[:, :, :19])
    cube = scene.cube.copy()
    cube[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN or Inf"):
        fitted.predict(cube)
    one_class = np.where(scene.labels > 0, 1, 0)
    with pytest.raises(DataError, match="need at least 2"):
        HSIClassifier().fit(scene.cube, one_class)


def test_scores_share_the_mapping_paths_of_predict_indices(fitted, scene):
    """predict_scores: dense and patch paths agree, their arg-max is predict_indices'."""
    from hsi.inference import predict_indices, predict_scores

    reduced = fitted.reducer_.transform(scene.cube)
    mask = scene.labels > 0
    for method in ("dense", "patches"):
        args = dict(patch=9, method=method, mask=mask)
        scores = predict_scores(fitted.model_, reduced, **args)
        index = predict_indices(fitted.model_, reduced, **args)
        assert np.isnan(scores[~mask]).all() and not np.isnan(scores[mask]).any()
        assert np.array_equal(scores[mask].argmax(-1), index[mask])
    dense = predict_scores(fitted.model_, reduced, patch=9, method="dense")
    patches = predict_scores(fitted.model_, reduced, patch=9, method="patches")
    np.testing.assert_allclose(dense, patches, rtol=1e-4, atol=1e-4)


def test_the_training_improvements_are_parameters_and_map_as_trained(scene, monkeypatch):
    from hsi import inference

    seen = []
    real = inference.predict_indices

    def spy(*args, **kwargs):
        seen.append(kwargs.get("tta"))
        return real(*args, **kwargs)

    monkeypatch.setattr(inference, "predict_indices", spy)
    options = dict(augment=True, tta=True, label_smoothing=0.1, schedule="cosine", warmup=1)
    clf = HSIClassifier(**{**RECIPE, "epochs": 2, **options}).fit(scene.cube, scene.labels)
    assert {k: clf.get_params()[k] for k in options} == options
    assert {k: clf.bundle_.config[k] for k in options} == options
    clf.predict(scene.cube)
    assert seen[-1] is True


def test_masked_nan_pixels_leave_the_callers_array_alone(scene):
    cube = scene.cube.astype(np.float32).copy()
    cube[0, 0, 3] = np.nan
    before = cube.copy()
    clf = HSIClassifier(**{**RECIPE, "epochs": 1, "nonfinite": "mask"}).fit(cube, scene.labels)
    ids = clf.predict(cube)
    np.testing.assert_array_equal(cube, before)  # NaN still there: nothing written into it
    assert ids[0, 0] == 0 and (ids[1:] != 0).all()  # the unread pixel is no class, as in maps
    assert np.isnan(clf.decision_function(cube)[0, 0]).all()
