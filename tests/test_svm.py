"""The SVM baseline: libsvm's labels from plain tensors, a safe bundle, the same commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import IDS, RUN_FILES
from sklearn.svm import SVC
from typer.testing import CliRunner

from hsi.bundle import ModelBundle
from hsi.cli import app
from hsi.errors import ModelError
from hsi.models import create_model
from hsi.models.svm import SVMClassifier
from hsi.preprocess import PCAReducer


def blobs(n_classes: int, n: int = 240, k: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.5, (n_classes, k))
    y = rng.integers(0, n_classes, n)
    return centres[y] + rng.normal(0, 1.0, (n, k)), y


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_votes_from_tensors_give_exactly_svc_predict(n_classes):
    x, y = blobs(n_classes)
    svc = SVC(kernel="rbf", C=3.0, gamma=0.2).fit(x[:160], y[:160])
    model = SVMClassifier(6, 1, n_classes)
    model.load_svc(svc)
    probe = np.concatenate([x[160:], np.random.default_rng(1).normal(0, 3, (500, 6))])
    np.testing.assert_array_equal(model.predict_pixels(probe), svc.predict(probe))


def test_fit_chooses_c_and_gamma_by_cross_validation_and_is_seeded():
    x, y = blobs(4, n=200)
    a, b = SVMClassifier(6, 1, 4), SVMClassifier(6, 1, 4)
    info = a.fit_pixels(x, y, seed=3)
    assert b.fit_pixels(x, y, seed=3) == info
    assert info["folds"] == 5 and 0.5 < info["cv_accuracy"] <= 1
    assert info["support_vectors"] == len(a.support_vectors) > 0
    for name, tensor in a.state_dict().items():
        assert torch.equal(tensor, b.state_dict()[name]), name
    # the chosen pair, refitted by scikit-learn, predicts what the tensors predict
    svc = SVC(kernel="rbf", C=info["C"], gamma=info["gamma"]).fit(x, y)
    np.testing.assert_array_equal(a.predict_pixels(x), svc.predict(x))


def test_a_class_without_training_pixels_is_never_predicted():
    x, y = blobs(3, n=150)
    model = SVMClassifier(6, 1, 4)  # class index 3 exists in the scene, not in training
    model.fit_pixels(x, np.where(y == 2, 3, y), seed=0)  # indices 0, 1, 3
    votes = model.votes(torch.from_numpy(np.random.default_rng(2).normal(0, 3, (300, 6))))
    assert (votes[:, 2] == -1).all()
    assert set(votes.argmax(1).tolist()) <= {0, 1, 3}


def test_rare_classes_get_fewer_folds_and_one_class_is_refused():
    x, y = blobs(3, n=60)
    y[:2] = 2
    y[2:] = np.where(y[2:] == 2, 0, y[2:])  # class 2 has 2 pixels
    info = SVMClassifier(6, 1, 3).fit_pixels(x, y)
    assert info["folds"] == 2
    with pytest.raises(ModelError, match="single class"):
        SVMClassifier(6, 1, 3).fit_pixels(x, np.zeros(60, dtype=int))
    with pytest.raises(ModelError, match="not fitted"):
        SVMClassifier(6, 1, 3)(torch.zeros(2, 6, 1, 1))


def test_state_round_trips_through_a_weights_only_bundle(tmp_path):
    x, y = blobs(3)
    model = SVMClassifier(6, 3, 3)
    model.fit_pixels(x, y)
    reducer = PCAReducer(6).fit(np.random.default_rng(0).normal(size=(8, 8, 10)))
    bundle = ModelBundle(
        model_name="svm", model_options={}, state_dict=model.state_dict(),
        reducer_state=reducer.state_dict(), patch=3, padding="zero", n_bands=10,
        class_ids=[1, 2, 3], class_names=["a", "b", "c"], palette=[[0, 0, 0]] * 3,
    )  # fmt: skip
    bundle.save(tmp_path / "model.pt")
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    assert payload["state_dict"]["support_vectors"].shape == model.support_vectors.shape
    rebuilt = ModelBundle.load(tmp_path / "model.pt").build_model()
    windows = torch.from_numpy(np.random.default_rng(5).normal(0, 2, (50, 6, 3, 3))).float()
    assert torch.equal(rebuilt(windows), model(windows))
    # the centre pixel decides
    np.testing.assert_array_equal(
        rebuilt(windows).argmax(1).numpy(), model.predict_pixels(windows[:, :, 1, 1].numpy())
    )


def test_create_model_defaults_to_a_one_pixel_window():
    from hsi.config import TrainConfig

    config = TrainConfig(dataset="indian_pines", model="svm").validate()
    assert config.patch == 1
    assert TrainConfig(dataset="indian_pines").validate().patch == 25
    assert create_model("svm", n_components=4, patch=1, n_classes=2).trained_by_gradient is False


def test_svm_through_train_predict_and_sweep(workdir, tmp_path):
    runner = CliRunner()
    scene = str(workdir / "scene.npz")
    args = ["--scene", scene, "--labels", scene, "--model", "svm", "--pca", "10"]
    args += ["--train-size", "0.2", "--quiet"]
    result = runner.invoke(app, ["train", *args, "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "latest"
    assert {p.name for p in run.iterdir()} == RUN_FILES
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["oa"] > 0.8, metrics["oa"]
    assert metrics["config"]["patch"] == 1 and metrics["training"]["init_rule"] == "none"
    assert any(note.startswith("svm: C=") for note in metrics["notes"])
    torch.load(run / "model.pt", weights_only=True)

    out = tmp_path / "map.png"
    result = runner.invoke(app, ["predict", scene, "--model", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert set(np.unique(np.load(out.with_suffix(".npy")))) <= set(IDS)
    # what the SVM cannot give, refused once before any scene of a batch is read
    for extra, needle in (
        (["--method", "dense"], "--method dense: model svm has no whole-scene pass"),
        (["--confidence", "--format", "tif"], "--confidence: model svm gives votes"),
    ):
        argv = ["predict", scene, "--model", str(run), "--out-dir", str(tmp_path / "m"), *extra]
        result = runner.invoke(app, argv)
        assert result.exit_code == 2 and needle in result.stderr, result.output
        assert not (tmp_path / "m").exists()

    result = runner.invoke(
        app, ["sweep", *args, "--seeds", "0-1", "--out", str(tmp_path / "sweeps")]
    )
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "sweeps" / "sweep_scene_svm" / "sweep.csv").read_text().splitlines()
    assert len(rows) == 3
