"""Rerunning a recorded run: `hsi train --config runs/<run>/metrics.json`, and TrainConfig files.

A rerun with the same seed and options (threads included) gives byte-identical weights; options
typed on the command line replace the file's, and only those: an option left at its default
does not override the file even when the file holds another value.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import tiny_options, weights_hash
from typer.testing import CliRunner

from hsi.cli import app
from hsi.config import TrainConfig, read_config_file
from hsi.errors import ConfigError
from hsi.experiment import RunResult

runner = CliRunner()


def _toml_readable() -> bool:
    try:
        import tomllib  # noqa: F401  # Python 3.11 and later
    except ImportError:
        try:
            import tomli  # noqa: F401
        except ImportError:
            return False
    return True


needs_toml = pytest.mark.skipif(not _toml_readable(), reason="Python 3.10 without tomli")


def invoke(*args) -> object:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def recorded(scene_file, tmp_path_factory) -> Path:
    """A tiny `hsi train` run with 1 thread and seed 2; its run folder."""
    out = tmp_path_factory.mktemp("recorded")
    result = invoke("train", *tiny_options(scene_file), "--seed", "2", "--threads", "1",
                    "--patience", "3", "--out", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    return (out / "latest").resolve()


@pytest.fixture
def captured(monkeypatch) -> list[TrainConfig]:
    """`hsi train` with train_run replaced: the configs it would have trained, nothing trained."""
    import hsi.experiment

    configs: list[TrainConfig] = []

    def fake_train_run(config, *args, **kwargs):
        configs.append(config)
        return RunResult(Path("run"), {"oa": 1, "aa": 1, "kappa": 1, "split": {"test": 1}})

    monkeypatch.setattr(hsi.experiment, "train_run", fake_train_run)
    return configs


def test_rerun_from_metrics_json_gives_byte_identical_weights(recorded, tmp_path):
    threads = torch.get_num_threads()
    try:
        result = invoke("train", "--config", recorded / "metrics.json", "--out", tmp_path, "-q")
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    rerun = (tmp_path / "latest").resolve()
    assert weights_hash(rerun / "model.pt") == weights_hash(recorded / "model.pt")
    old = json.loads((recorded / "metrics.json").read_text())
    new = json.loads((rerun / "metrics.json").read_text())
    assert new["config"] == {**old["config"], "out": str(tmp_path)}
    assert new["oa"] == old["oa"] and new["confusion"] == old["confusion"]


def test_a_sweep_takes_the_recipe_and_its_seed_0_run_is_the_recorded_one(recorded, tmp_path):
    """`hsi sweep --config`: the file's options, --seeds' seeds; seed 2 retrains the run exactly."""
    threads = torch.get_num_threads()
    try:
        result = invoke("sweep", "--config", recorded, "--seeds", "2", "--out", tmp_path, "-q")
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "sweep_tiny_hybridsn").glob("ts*/seed_2")
    assert run.parent.name == "ts0.3"  # the file's train size, not --train-size's default
    assert weights_hash(run / "model.pt") == weights_hash(recorded / "model.pt")


def test_typed_options_override_the_file_and_defaults_do_not(recorded, captured):
    result = invoke("train", "--config", recorded, "--seed", "7", "--patience", "20", "-q")
    assert result.exit_code == 0, result.output
    (config,) = captured
    recorded_config = json.loads((recorded / "metrics.json").read_text())["config"]
    # typed: seed, and patience although 20 is its default; not typed: epochs (file: 2, CLI
    # default: 40), pca, patch, train size, threads
    assert config.seed == 7 and config.patience == 20
    assert config.epochs == 2 and config.pca == 13 and config.patch == 9
    assert config.train_size == 0.3 and config.threads == 1
    assert config.scene == recorded_config["scene"] and config.cube_key == "cube"
    assert config.out == recorded_config["out"]


def test_a_scene_given_replaces_the_files_scene_and_another_model_its_options(
    recorded, captured, workdir
):
    scene = workdir / "scene.npz"
    result = invoke("train", "--config", recorded, "--scene", scene, "--labels", scene,
                    "--model", "shufflenet_v1", "--groups", "2", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    (config,) = captured
    assert config.scene == str(scene) and config.cube_key is None and config.labels_key is None
    assert config.model == "shufflenet_v1" and config.model_options == {"groups": 2}
    assert config.epochs == 2  # the rest of the recipe stays


@needs_toml
def test_toml_and_json_config_files(tmp_path, scene_file, captured):
    toml = tmp_path / "run.toml"
    toml.write_text(
        f'scene = "{scene_file}"\nlabels = "{scene_file}"\ncube_key = "cube"\n'
        'labels_key = "labels"\npca = 13\npatch = 9\nepochs = 4\ntrain_size = 0.3\n'
        "[model_options]\n",
        encoding="utf-8",
    )
    assert invoke("train", "--config", toml, "-q").exit_code == 0
    plain = tmp_path / "run.json"
    plain.write_text(json.dumps({"dataset": "indian_pines", "train_size": 50, "lr": 0.01}))
    assert invoke("train", "--config", plain, "--epochs", "3", "-q").exit_code == 0
    first, second = captured
    assert first.epochs == 4 and first.pca == 13 and first.batch_size == 32  # a default
    assert first.threads is None  # a plain file says nothing about threads
    assert second.dataset == "indian_pines" and second.train_size == 50 and second.lr == 0.01
    assert second.epochs == 3


def check_one_line(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "content, needles",
    [
        ('{"epochz": 3}', ["bad.json", "unknown key 'epochz'", "did you mean 'epochs'"]),
        ('{"config": {"seed": 1, "colour": "red"}}', ["bad.json", "unknown key 'colour'"]),
        ('{"epochs": "30"}', ["bad.json", "epochs must be an integer", "'30'"]),
        ('{"epochs": 3', ["bad.json", "not valid JSON"]),
        ("[1, 2]", ["bad.json", "expected a table of options"]),
        # a value of the right type that validation refuses: the file's key, not --train-size
        ('{"dataset": "salinas_a", "train_size": 1.0}', ["bad.json: train_size 1.0 could mean"]),
        ('{"dataset": "salinas_a", "lr": 0}', ["bad.json: lr must be positive"]),
        ('{"dataset": "salinas_a", "model": "resnet"}', ["bad.json: model must be one of"]),
        ('{"dataset": "atlantis"}', ["bad.json: dataset must be one of", "got 'atlantis'"]),
        (
            '{"dataset": "salinas_a", "model": "mobilenet_v2", "model_options": {"groups": 2}}',
            ["bad.json: mobilenet_v2 has no option 'groups'"],
        ),
    ],
)
def test_a_bad_config_file_is_one_line_naming_the_file_and_key(tmp_path, content, needles):
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    check_one_line(invoke("train", "--config", bad), *needles)
    check_one_line(invoke("sweep", "--config", bad), *needles)


def test_an_option_typed_over_the_file_is_named_as_typed(tmp_path):
    config = tmp_path / "ok.json"
    config.write_text('{"dataset": "salinas_a", "warmup": 50}', encoding="utf-8")
    check_one_line(invoke("train", "--config", config, "--lr", "0"), "--lr must be positive")
    # one culprit from each: the file's key after its name, the typed one as typed
    res = invoke("train", "--config", config, "--epochs", "10", "--schedule", "cosine")
    check_one_line(res, "ok.json: warmup must be", "--epochs (10)")
    # a scene missing from both is the command line's to give
    config.write_text('{"epochs": 3}', encoding="utf-8")
    line = check_one_line(invoke("train", "--config", config), "--dataset NAME or --scene FILE")
    assert "ok.json" not in line


@needs_toml
def test_missing_and_bad_toml_config_files(tmp_path):
    check_one_line(invoke("train", "--config", tmp_path / "none.json"), "none.json", "no such")
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = = 3\n", encoding="utf-8")
    check_one_line(invoke("train", "--config", bad), "bad.toml", "not valid TOML")
    bad.write_text("colour = 'red'\n", encoding="utf-8")
    check_one_line(invoke("train", "--config", bad), "bad.toml", "unknown key 'colour'")


def test_from_dict_is_strict_and_round_trips():
    config = TrainConfig(dataset="indian_pines", seed=3, model_options={"width": 0.5})
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match=r"^unknown key 'bogus'$"):
        TrainConfig.from_dict({"bogus": 1})
    with pytest.raises(ConfigError, match=r"^my.json: threads must be an integer or null"):
        TrainConfig.from_dict({"threads": 1.5}, source="my.json")
    with pytest.raises(ConfigError, match=r"lr must be a number, got True"):
        TrainConfig.from_dict({"lr": True})
    assert TrainConfig.from_dict({"lr": 1, "patience": None}).lr == 1


def test_a_recorded_dataset_run_reruns_without_the_file_options_it_ignored(tmp_path):
    """Earlier versions recorded --labels/--cube-key beside --dataset although the dataset's
    own ground truth was used; now refused when typed, they must not block such a rerun."""
    config = {"dataset": "indian_pines", "labels": "gt.mat", "cube_key": "x", "labels_key": "y"}
    (tmp_path / "metrics.json").write_text(json.dumps({"config": config}))
    rerun = TrainConfig.from_file(tmp_path).validate()
    assert rerun.dataset == "indian_pines" and rerun.labels is rerun.cube_key is None
    with pytest.raises(ConfigError, match="labels, cube_key, labels_key: for a scene FILE"):
        TrainConfig(**config).validate()  # typed, or in a recipe file: refused


def test_a_recorded_run_without_threads_reruns_with_the_count_it_ran_with(tmp_path):
    metrics = {
        "oa": 0.9,
        "reproducibility": {"torch_threads": 3},
        "config": {"dataset": "indian_pines", "threads": None},
    }
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    assert read_config_file(tmp_path)["threads"] == 3  # a run folder stands for its metrics
    assert TrainConfig.from_file(tmp_path / "metrics.json").threads == 3
    metrics["config"]["threads"] = 2
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    assert TrainConfig.from_file(tmp_path).threads == 2
