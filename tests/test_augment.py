"""Training improvements of issue 13: flip/rotation augmentation, test-time averaging, label
smoothing, warm-up and cosine decay — each seeded, recorded and off by default."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from conftest import tiny_config, tiny_options
from test_pipeline import _tiny_data

from hsi import augment
from hsi.config import TrainConfig
from hsi.errors import ConfigError
from hsi.inference import predict_indices
from hsi.models import create_model
from hsi.training import fit, lr_factor

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_eight_views_are_the_dihedral_group():
    x = torch.arange(9.0).reshape(1, 3, 3)  # no symmetry: every view differs
    views = [augment.transform(x, t) for t in range(8)]
    assert torch.equal(views[0], x)
    assert len({tuple(v.flatten().tolist()) for v in views}) == 8
    for t, v in enumerate(views):
        assert torch.equal(augment.inverse(v, t), x)
    # the spectral (first) axis is never touched
    cube = torch.randn(2, 5, 4, 4)
    pixels = lambda c: c.flatten(-2).sort().values  # noqa: E731 - each band's values, as a set
    assert torch.equal(pixels(augment.transform(cube, 5)), pixels(cube))


def test_random_views_are_seeded_and_each_a_view_of_its_window():
    x = torch.randn(64, 3, 5, 5)
    a = augment.random_views(x, torch.Generator().manual_seed(1))
    b = augment.random_views(x, torch.Generator().manual_seed(1))
    c = augment.random_views(x, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    for window, seen in zip(x, a, strict=True):
        assert any(torch.equal(augment.transform(window, t), seen) for t in range(8))
    assert not torch.equal(a, x)  # 64 windows: some were turned


@pytest.mark.parametrize("name", ["hybridsn", "ssftt"])
def test_tta_dense_and_patch_paths_agree(name):
    """The dense path turns whole padded tiles and turns the logit map back; a wrong inverse
    would move logits between pixels and part it from the window-by-window path."""
    torch.manual_seed(0)
    model = create_model(name, n_components=13, patch=9, n_classes=5).eval()
    cube = np.random.default_rng(0).standard_normal((21, 17, 13)).astype(np.float32)
    dense = predict_indices(model, cube, patch=9, method="dense", tile=8, tta=True)
    patches = predict_indices(model, cube, patch=9, method="patches", tta=True)
    np.testing.assert_array_equal(dense, patches)
    plain = predict_indices(model, cube, patch=9, method="patches")
    assert (dense != plain).any()  # an untrained net is not rotation-invariant: TTA did act


def test_lr_factor_warms_up_then_follows_the_cosine():
    assert [lr_factor(s, 10, 0, "constant") for s in (0, 5, 9)] == [1.0, 1.0, 1.0]
    assert [lr_factor(s, 10, 4, "constant") for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_factor(4, 10, 4, "cosine") == 1.0
    assert lr_factor(7, 10, 4, "cosine") == pytest.approx(0.5)
    assert lr_factor(10, 10, 4, "cosine") == pytest.approx(0.0, abs=1e-12)


def _fit(**options):
    train, val = _tiny_data()
    torch.manual_seed(0)
    model = create_model("mobilenet_v3_small", n_components=13, patch=9, n_classes=3)
    result = fit(model, train, val, epochs=3, batch_size=32, seed=0, **options)
    return model, result


def _weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_augmented_training_is_seeded_and_changes_the_weights():
    a, _ = _fit(augment=True)
    b, _ = _fit(augment=True)
    plain, _ = _fit()
    assert torch.equal(_weights(a), _weights(b))
    assert not torch.equal(_weights(a), _weights(plain))


def test_schedule_and_smoothing_reach_the_optimiser():
    _, cosine = _fit(schedule="cosine", warmup=1)
    lrs = [row["lr"] for row in cosine.history]
    assert lrs[-1] == pytest.approx(0.0, abs=1e-9) and lrs[0] > lrs[1] > lrs[2]
    _, constant = _fit()
    assert {row["lr"] for row in constant.history} == {1e-3}
    _, smooth = _fit(label_smoothing=0.3)
    # smoothing keeps the loss away from 0: above the plain run's on the same data and order
    assert smooth.history[-1]["train_loss"] > constant.history[-1]["train_loss"]


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"label_smoothing": math.nan}, "label_smoothing"),
        ({"warmup": 5, "epochs": 3}, "warmup"),
        ({"schedule": "step"}, "schedule must be one of constant, cosine"),
    ],
)
def test_bad_improvement_options(changes, needle):
    with pytest.raises(ConfigError, match=needle):
        TrainConfig(scene="x.npy", labels="x.npy", **changes).validate()


def test_a_run_records_them_and_predict_maps_as_trained(scene_file, tmp_path, monkeypatch):
    from hsi import experiment, stages

    seen = []
    real = experiment.predict_indices

    def spy(*args, **kwargs):
        seen.append(kwargs.get("tta"))
        return real(*args, **kwargs)

    monkeypatch.setattr(stages, "predict_indices", spy)
    monkeypatch.setattr(experiment, "predict_indices", spy)
    options = dict(augment=True, tta=True, label_smoothing=0.1, schedule="cosine", warmup=1)
    run = experiment.train_run(tiny_config(scene_file, **options), run_dir=tmp_path / "run")
    config = json.loads((run.run_dir / "metrics.json").read_text())["config"]
    assert {k: config[k] for k in options} == options
    experiment.predict_run(scene_file, tmp_path / "m.png", bundle_path=run.run_dir, cube_key="cube")
    experiment.predict_run(
        scene_file, tmp_path / "n.png", bundle_path=run.run_dir, cube_key="cube", tta=False
    )
    assert seen == [True, True, False]


def test_tta_without_augment_says_so(scene_file):
    from hsi.experiment import fit_run

    for augment_too, expected in ((False, True), (True, False)):
        notes: list[str] = []
        config = tiny_config(scene_file, epochs=1, tta=True, augment=augment_too).validate()
        fit_run(config, log=notes.append)
        assert any("--tta without --augment" in n for n in notes) is expected


def test_tta_without_augment_is_said_under_quiet_too(scene_file, tmp_path):
    from typer.testing import CliRunner

    from hsi.cli import app

    args = ["train", *tiny_options(scene_file), "--epochs", "1", "--tta", "--quiet"]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "--tta without --augment" in res.stderr
    # a sweep says it once, not once per run (whose notes are DEBUG records)
    args = ["sweep", *tiny_options(scene_file), "--epochs", "1", "--tta", "--seeds", "0-1"]
    res = CliRunner().invoke(app, [*args, "--quiet", "--out", str(tmp_path / "sweeps")])
    assert res.exit_code == 0, res.output
    assert res.stderr.count("--tta without --augment") == 1, res.stderr
