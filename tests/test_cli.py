"""End to end through the CLI: train, predict, every output file, and bad input.

The run trained once per session in conftest.py (non-contiguous class ids) is reused here.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest
import scipy.io
import torch
from conftest import IDS, RUN_FILES, tiny_config
from typer.testing import CliRunner

from hsi.cli import app
from hsi.experiment import train_run

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_train_writes_every_output(trained):
    assert trained.is_symlink()
    assert {p.name for p in trained.iterdir()} == RUN_FILES
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["oa"] >= 0.9, metrics["oa"]
    assert set(metrics["per_class"]) == {str(i) for i in IDS}
    assert metrics["versions"]["torch"] == torch.__version__
    assert metrics["seed"] == 0 and metrics["config"]["patch"] == 9
    assert metrics["config"]["threads"] == metrics["reproducibility"]["torch_threads"] == 1
    assert metrics["split"]["train"] + metrics["split"]["val"] + metrics["split"]["test"] > 0
    history = (trained / "history.csv").read_text().splitlines()
    assert history[0] == "epoch,train_loss,train_acc,val_loss,val_acc,val_classes,lr"
    training = metrics["training"]
    assert len(history) == 1 + training["epochs_run"]
    # early stopping is on by default: 20 epochs without a better validation score end the run
    assert metrics["config"]["patience"] == 20
    assert training["stopped_early"] == (training["epochs_run"] < 25)
    if training["stopped_early"]:
        assert training["epochs_run"] - training["best_epoch"] == 20
    assert training["init"] == "reference" and training["init_rule"] == "keras"
    assert json.loads((trained / "metrics.json").read_text())["config"]["init"] == "reference"
    info = torch.load(trained / "model.pt", weights_only=True)["info"]
    assert info["init"] == "reference" and info["init_rule"] == "keras"


def test_patience_zero_trains_every_epoch(scene_file, tmp_path):
    config = tiny_config(scene_file, epochs=3, patience=0).validate()
    assert config.patience is None
    result = train_run(config, run_dir=tmp_path / "run")
    assert result.metrics["training"]["epochs_run"] == 3


def test_bundle_loads_with_weights_only(trained):
    payload = torch.load(trained / "model.pt", weights_only=True)
    assert payload["class_ids"] == IDS
    assert payload["patch"] == 9 and payload["n_bands"] == 24
    assert isinstance(payload["reducer_state"]["components"], torch.Tensor)


def test_predict_keeps_original_class_ids(workdir, trained, tmp_path):
    """The notebook's `prediction + 1` would give ids 1..6; the map must speak in 1, 10..14."""
    out = tmp_path / "map.png"
    result = invoke(
        "predict", workdir / "cube.npy", "--model", trained, "--out", out,
        "--labels", workdir / "gt.npy",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    pred = np.load(tmp_path / "map.npy")
    gt = np.load(workdir / "gt.npy")
    assert set(np.unique(pred).tolist()) == set(IDS)
    labeled = gt > 0
    assert (pred[labeled] == gt[labeled]).mean() > 0.9
    mat = scipy.io.loadmat(tmp_path / "map.mat")["prediction"]
    np.testing.assert_array_equal(mat, pred)
    assert (tmp_path / "map_panels.png").exists()
    metrics = json.loads((tmp_path / "map_metrics.json").read_text())
    assert metrics["metrics"]["oa"] > 0.9
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["map.png", "map.npy", "map.mat", "map_panels.png", "map_metrics.json"]
    )


def test_predict_twice_gives_identical_maps(workdir, trained, tmp_path):
    """Dropout must be off at test time: two predictions with one bundle are identical."""
    for name in ("a", "b"):
        out = tmp_path / f"{name}.png"
        res = invoke("predict", workdir / "cube.npy", "--model", trained, "--out", out, "-q")
        assert res.exit_code == 0, res.output
    assert np.load(tmp_path / "a.npy").tobytes() == np.load(tmp_path / "b.npy").tobytes()


def test_predict_mask_and_default_bundle(workdir, trained, tmp_path, monkeypatch):
    monkeypatch.chdir(workdir)  # runs/latest is the default bundle
    res = invoke("predict", "cube.npy", "--labels", "gt.npy", "--mask", "--out", tmp_path / "m.png")
    assert res.exit_code == 0, res.output
    assert "runs/latest" in res.output or str(trained.resolve()) in res.output
    pred = np.load(tmp_path / "m.npy")
    gt = np.load(workdir / "gt.npy")
    assert (pred[gt == 0] == 0).all() and (pred[gt > 0] > 0).all()


def test_dense_and_patch_inference_agree(workdir, trained, tmp_path):
    for method in ("dense", "patches"):
        out = tmp_path / f"{method}.png"
        args = ["--model", trained, "--out", out, "--method", method, "-q"]
        res = invoke("predict", workdir / "cube.npy", *args)
        assert res.exit_code == 0, res.output
    assert np.array_equal(np.load(tmp_path / "dense.npy"), np.load(tmp_path / "patches.npy"))


# ----------------------------------------------------------------------------- bad input
def check_user_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--model", "resnet9000"], ["--model must be one of", "hybridsn", "got 'resnet9000'"]),
        (["--train-size", "1.5"], ["--train-size"]),
        (["--train-size", "0"], ["--train-size"]),
        (["--patch", "8"], ["--patch", "odd"]),
        (["--patch", "101"], ["--patch 101", "too large"]),
        (["--pca", "99"], ["--pca 99", "24 bands"]),
        (["--split", "diagonal"], ["--split", "'diagonal' is not one of"]),
        (["--threads", "0"], ["--threads"]),
        (["--split", "spatial", "--buffer", "3"], ["--buffer", "at least", "12 for patch 25"]),
    ],
)
def test_train_bad_options(workdir, tmp_path, args, needles):
    scene = workdir / "scene.npz"
    base = ["--scene", scene, "--labels", scene, "--out", tmp_path / "r", "--pca", "13"]
    res = invoke("train", *base, *args)
    check_user_error(res, *needles)
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_train_unknown_dataset_and_missing_file(tmp_path):
    check_user_error(
        invoke("train", "--dataset", "atlantis"), "--dataset must be one of", "'atlantis'"
    )
    res = invoke("train", "--scene", tmp_path / "nope.mat", "--labels", tmp_path / "nope.mat")
    check_user_error(res, "nope.mat", "no such file")
    check_user_error(invoke("train"), "--dataset", "--scene")


def test_predict_band_mismatch(workdir, trained, tmp_path):
    np.save(tmp_path / "short.npy", np.load(workdir / "cube.npy")[:, :, :20])
    res = invoke("predict", tmp_path / "short.npy", "--model", trained, "--out", tmp_path / "x.png")
    check_user_error(res, "short.npy has 20 bands", "trained on 24")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("content", [b"not a bundle", None])
def test_predict_not_a_bundle(workdir, tmp_path, content):
    fake = tmp_path / "fake.pt"
    if content is None:
        torch.save({"weights": torch.zeros(3)}, fake)  # a torch file, but not a bundle
    else:
        fake.write_bytes(content)
    res = invoke("predict", workdir / "cube.npy", "--model", fake, "--out", tmp_path / "x.png")
    check_user_error(res, "fake.pt", "bundle")
    assert not (tmp_path / "x.png").exists()


def test_predict_missing_bundle_and_bad_out(workdir, trained, tmp_path):
    res = invoke("predict", workdir / "cube.npy", "--model", tmp_path / "none.pt")
    check_user_error(res, "none.pt")
    res = invoke("predict", workdir / "cube.npy", "--model", trained, "--out", tmp_path / "m.jpg")
    check_user_error(res, "--out", ".png")


def test_errors_exit_2_without_traceback_in_a_real_process(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "hsi.cli", "predict", str(tmp_path / "missing.mat")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1


def test_options_are_spelled_as_flags_but_never_inside_a_path():
    from hsi.errors import ConfigError

    exc = ConfigError(
        "out /tmp/out/a.png: its npy file would overwrite /tmp/out/a.npy; data_dir data_dir.txt",
        params=("out", "data_dir"),
    )
    assert exc.cli_message() == (
        "--out /tmp/out/a.png: its npy file would overwrite /tmp/out/a.npy; --data-dir data_dir.txt"
    )
    # a path spelled exactly as its option: the option leads, the path stays a path
    exc = ConfigError("out out: expected a map file ending in .png", params=("out",))
    assert exc.cli_message() == "--out out: expected a map file ending in .png"
    exc = ConfigError("pca 30: 3 directions; use pca 3 or fewer", params=("pca",))
    assert exc.cli_message() == "--pca 30: 3 directions; use --pca 3 or fewer"
    exc = ConfigError("dataset must be one of a, b, got 'dataset'", params=("dataset",))
    assert exc.cli_message() == "--dataset must be one of a, b, got 'dataset'"


def test_help_reads_like_a_manual():
    for cmd in ([], ["train"], ["predict"], ["datasets"], ["models"]):
        res = invoke(*cmd, "--help")
        assert res.exit_code == 0
        assert "Usage" in res.output
    assert "--train-size" in invoke("train", "--help").output


def test_datasets_lists_the_seven_scenes(tmp_path):
    res = invoke("datasets", "--data-dir", tmp_path)
    assert res.exit_code == 0, res.output
    for name in ("indian_pines", "salinas", "salinas_a", "pavia_u", "pavia_c", "ksc", "botswana"):
        assert name in res.output
    assert "145×145×200" in res.output and "10,249" in res.output
    # the sources data/README.md asks users to cite, each scene's under its name
    assert "indian_pines: M. F. Baumgardner" in res.output and "doi:10.4231/R7RX991C" in res.output
    assert "ksc, botswana: J. Ham" in res.output
    check_user_error(invoke("datasets", "download", "atlantis"), "unknown dataset 'atlantis'")
    # a file as the cache: refused, not listed as an empty cache nor written into
    (tmp_path / "notes.txt").write_text("not a folder\n")
    for cmd in (["datasets"], ["datasets", "download", "salinas_a"]):
        res = invoke(*cmd, "--data-dir", tmp_path / "notes.txt")
        check_user_error(res, "--data-dir", "notes.txt is a file")


def test_models_table():
    res = invoke("models", "--no-timing", "--bands", "15", "--patch", "11", "--classes", "4")
    assert res.exit_code == 0, res.output
    assert "hybridsn" in res.output and "shufflenet_v2" in res.output


@pytest.mark.parametrize(
    "model, options",
    [("mobilenet_v3_small", ["--width", "0.5"]), ("shufflenet_v1", ["--groups", "2"])],
)
def test_every_family_trains_and_maps_through_the_same_commands(workdir, tmp_path, model, options):
    """A strided backbone: `hsi predict` takes the batched-patch path, with the model's options."""
    scene = workdir / "scene.npz"
    args = ["--scene", scene, "--labels", scene, "--model", model, *options, "--pca", "8"]
    args += ["--patch", "9", "--epochs", "1", "--out", tmp_path / "runs", "--quiet"]
    res = invoke("train", *args)
    assert res.exit_code == 0, res.output
    bundle = torch.load(tmp_path / "runs" / "latest" / "model.pt", weights_only=True)
    assert bundle["model_name"] == model and bundle["model_options"]
    res = invoke("predict", workdir / "cube.npy", "--model", tmp_path / "runs" / "latest",
                 "--out", tmp_path / "m.png", "-q")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert set(np.unique(np.load(tmp_path / "m.npy")).tolist()) <= set(IDS)
    res = invoke("predict", workdir / "cube.npy", "--model", tmp_path / "runs" / "latest",
                 "--out", tmp_path / "d.png", "--method", "dense")  # fmt: skip
    check_user_error(res, "--method dense")


def test_a_version_1_bundle_still_loads(trained, tmp_path):
    """hsi 0.1 stored the sensor's band count as "bands"; its bundles map scenes as before."""
    from hsi.bundle import ModelBundle

    payload = torch.load(trained / "model.pt", weights_only=True)
    payload["version"] = 1
    payload["bands"] = payload.pop("n_bands")
    old = tmp_path / "old.pt"
    torch.save(payload, old)
    bundle = ModelBundle.load(old)
    assert bundle.n_bands == bundle.bands == 24


# ----------------------------------------------------------------------------- finding runs
def test_predict_finds_the_latest_run_under_runs_or_hsi_runs(
    workdir, trained, tmp_path, monkeypatch
):
    """`hsi train --out DIR` then `hsi predict --runs DIR` (or HSI_RUNS=DIR): DIR/latest."""
    monkeypatch.chdir(tmp_path)  # no ./runs here
    monkeypatch.delenv("HSI_RUNS", raising=False)
    cube, runs = workdir / "cube.npy", trained.parent
    check_user_error(invoke("predict", cube, "--out", "a.png"), "runs/latest", "--model")
    res = invoke("predict", cube, "--runs", runs, "--out", "a.png")
    assert res.exit_code == 0, res.output
    assert f"model: {trained.resolve() / 'model.pt'}" in res.output
    monkeypatch.setenv("HSI_RUNS", str(runs))
    res = invoke("predict", cube, "--out", "b.png")
    assert res.exit_code == 0, res.output
    assert np.array_equal(np.load("a.npy"), np.load("b.npy"))
    # the command line beats the environment
    check_user_error(invoke("predict", cube, "--runs", tmp_path / "none"), "none/latest")


def test_hsi_runs_is_also_where_train_writes(tmp_path, monkeypatch):
    import hsi.experiment
    from hsi.experiment import RunResult

    seen = []

    def fake_train_run(config, *args, **kwargs):
        seen.append(config.out)
        return RunResult(tmp_path, {"oa": 1, "aa": 1, "kappa": 1, "split": {"test": 1}})

    monkeypatch.setattr(hsi.experiment, "train_run", fake_train_run)
    monkeypatch.setenv("HSI_RUNS", str(tmp_path / "mine"))
    assert invoke("train", "--dataset", "indian_pines", "-q").exit_code == 0
    assert invoke("train", "--dataset", "indian_pines", "--out", "x", "-q").exit_code == 0
    assert seen == [str(tmp_path / "mine"), "x"]


def test_predict_a_standard_scene_by_name(workdir, trained, tmp_path, monkeypatch):
    """--dataset NAME instead of a file: the registry scene (here a stand-in) and its labels."""
    import hsi.data.fetch
    from hsi.data.io import read_scene

    calls = []

    def fake_load_dataset(name, data_dir=None, **kwargs):
        calls.append((name, data_dir))
        return read_scene(workdir / "cube.npy", workdir / "gt.npy", name=name)

    monkeypatch.setattr(hsi.data.fetch, "load_dataset", fake_load_dataset)
    out = tmp_path / "m.png"
    res = invoke("predict", "--dataset", "salinas_a", "--data-dir", tmp_path, "--model", trained,
                 "--out", out)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert calls == [("salinas_a", tmp_path)]
    assert "OA " in res.output  # the dataset's ground truth gives the metrics
    metrics = json.loads((tmp_path / "m_metrics.json").read_text())
    assert metrics["metrics"]["oa"] > 0.9
    pred, gt = np.load(tmp_path / "m.npy"), np.load(workdir / "gt.npy")
    assert (pred[gt > 0] == gt[gt > 0]).mean() > 0.9


def test_predict_never_writes_over_a_dataset_file_not_yet_downloaded(trained, tmp_path):
    # the cube is downloaded after the check: its name counts before it exists
    out = tmp_path / "salinas_a" / "SalinasA_corrected.png"
    res = invoke("predict", "--dataset", "salinas_a", "--data-dir", tmp_path, "--model", trained,
                 "--out", out)  # fmt: skip
    check_user_error(res, "mat file would overwrite", "SalinasA_corrected.mat, an input")
    assert not list(tmp_path.iterdir())


def test_predict_never_writes_over_an_envi_header_it_reads(workdir, trained, tmp_path):
    import spectral.io.envi as envi

    cube = np.load(workdir / "cube.npy")
    envi.save_image(str(tmp_path / "sc.hdr"), cube.astype(np.float32), ext=".dat")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for scene in ("sc.dat", "sc.hdr"):
        res = invoke("predict", tmp_path / scene, "--model", trained, "--out", tmp_path / "sc.hdr")
        check_user_error(res, "map file would overwrite", "sc.hdr, an input")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    # an .hdr map beside a scene of another kind is not an input
    res = invoke("predict", workdir / "cube.npy", "--model", trained, "--out", tmp_path / "m.hdr")
    assert res.exit_code == 0, res.output


def test_predict_needs_exactly_one_scene(workdir, trained, tmp_path):
    check_user_error(invoke("predict", "--model", trained), "a scene FILE or --dataset NAME")
    res = invoke("predict", workdir / "cube.npy", "--dataset", "salinas_a", "--model", trained)
    check_user_error(res, "a scene FILE or --dataset NAME")
    res = invoke("predict", "--dataset", "salinas_a", "--labels", workdir / "gt.npy")
    check_user_error(res, "--labels", "--dataset salinas_a brings its own cube and ground truth")
    check_user_error(invoke("predict", "--dataset", "atlantis"), "unknown dataset 'atlantis'")
    assert not list(tmp_path.iterdir())


def test_ctrl_c_during_training_saves_the_run_and_exits_130(workdir, tmp_path, monkeypatch):
    """The run is written with the best weights so far, but a script `hsi train … && next`
    must not carry on as if training had finished: exit code 130, as Ctrl-C anywhere else."""
    import hsi.training

    real_fit = hsi.training.fit

    def fit_then_ctrl_c(model, *args, **kwargs):
        validated = []
        forward = model.forward

        def interrupted_forward(x):
            if not model.training:
                validated.append(True)
            elif validated:  # the first batch of epoch 2
                raise KeyboardInterrupt
            return forward(x)

        model.forward = interrupted_forward
        result = real_fit(model, *args, **kwargs)
        model.forward = forward
        return result

    monkeypatch.setattr(hsi.training, "fit", fit_then_ctrl_c)
    res = invoke("train", "--scene", workdir / "cube.npy", "--labels", workdir / "gt.npy",
                 "--pca", "13", "--patch", "9", "--epochs", "50", "--batch-size", "8",
                 "--train-size", "0.3", "--out", tmp_path / "runs", "--quiet")  # fmt: skip
    assert res.exit_code == 130, res.output
    assert "interrupted: training stopped early" in res.output
    run = (tmp_path / "runs" / "latest").resolve()
    assert json.loads((run / "metrics.json").read_text())["training"]["interrupted"]
    assert (run / "model.pt").is_file()


def test_ctrl_c_before_training_says_what_is_left(workdir, tmp_path, monkeypatch):
    """Ctrl-C while the scene is read: exit 130, and the line says what was kept."""
    import hsi.data.io

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(hsi.data.io, "read_scene", ctrl_c)
    scene = ["--scene", workdir / "cube.npy", "--labels", workdir / "gt.npy", "--pca", "13"]
    scene += ["--patch", "9", "--epochs", "1", "--quiet"]
    res = invoke("train", *scene, "--out", tmp_path / "runs")
    assert res.exit_code == 130 and res.stderr == "interrupted: nothing was saved\n", res.output
    res = invoke("sweep", *scene, "--seeds", "0-1", "--out", tmp_path / "sweeps")
    assert res.exit_code == 130, res.output
    assert "the runs finished so far are kept; the same command resumes" in res.stderr
    assert not (tmp_path / "runs").exists()


def test_ctrl_c_in_a_sweeps_run_speaks_for_the_sweep(workdir, tmp_path, monkeypatch):
    """A run stopped in its first epoch says "nothing was saved"; the sweep kept its others."""
    import hsi.experiment

    real_train_run, calls = hsi.experiment.train_run, []

    def second_run_interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt(
                "training stopped before the first epoch ended; nothing was saved"
            )
        return real_train_run(*args, **kwargs)

    monkeypatch.setattr(hsi.experiment, "train_run", second_run_interrupted)
    res = invoke("sweep", "--scene", workdir / "cube.npy", "--labels", workdir / "gt.npy",
                 "--pca", "13", "--patch", "9", "--epochs", "1", "--seeds", "0-1", "--quiet",
                 "--out", tmp_path)  # fmt: skip
    assert res.exit_code == 130, res.output
    assert res.stderr.startswith("interrupted: the runs finished so far are kept"), res.stderr
    assert "nothing was saved" not in res.stderr


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_train_and_sweep_refuse_file_options_beside_a_dataset(workdir, tmp_path, command):
    """They used to train on the dataset's own ground truth and record --labels in
    metrics.json as if it had been read; now they refuse, as predict does, before any download."""
    res = invoke(command, "--dataset", "salinas_a", "--labels", workdir / "gt.npy",
                 "--cube-key", "cube", "--data-dir", tmp_path / "cache",
                 "--out", tmp_path / "runs")  # fmt: skip
    check_user_error(
        res, "--labels, --cube-key", "--dataset salinas_a brings its own cube and ground truth"
    )
    res = invoke(command, "--dataset", "salinas_a", "--labels-key", "gt",
                 "--data-dir", tmp_path / "cache", "--out", tmp_path / "runs")  # fmt: skip
    check_user_error(res, "--labels-key: for a scene FILE")
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- the command itself
def run_hsi(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    """`python -m hsi ARGS` in a fresh process."""
    import os

    return subprocess.run(
        [sys.executable, "-m", "hsi", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def test_python_m_hsi_and_version(tmp_path):
    import hsi

    assert invoke("--version").output == f"hsi {hsi.__version__}\n"
    proc = run_hsi("--version")
    assert proc.returncode == 0 and proc.stdout == f"hsi {hsi.__version__}\n"
    proc = run_hsi("predict", str(tmp_path / "missing.mat"), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert "Usage: hsi" in run_hsi("--help").stdout


def test_shell_completion_and_one_line_errors_with_it(tmp_path):
    assert "--install-completion" in invoke("--help").output
    bash = shutil.which("bash")
    if bash is not None:  # --show-completion detects the shell it runs under
        script = f"cd {shlex.quote(str(tmp_path))} && {shlex.quote(sys.executable)} -m hsi "
        script += "--show-completion; true"  # `; true`: bash stays the parent process
        proc = subprocess.run([bash, "-c", script], capture_output=True, text=True)
        assert proc.returncode == 0 and "_HSI_COMPLETE=complete_bash" in proc.stdout, proc
    complete = {"_HSI_COMPLETE": "complete_bash", "COMP_WORDS": "hsi tr", "COMP_CWORD": "1"}
    assert run_hsi(env=complete).stdout.split() == ["train"]
    complete.update(COMP_WORDS="hsi train --split ", COMP_CWORD="3")
    assert run_hsi(env=complete).stdout.split() == ["stratified", "per_class", "spatial"]
    check_user_error(invoke("--bogus"), "no such option: --bogus")
    check_user_error(invoke("train", "--pca", "abc"), "--pca", "(see hsi train --help)")
    # a missing value is raised before click has a context; the hint still names the command
    check_user_error(invoke("train", "--pca"), "'--pca' requires", "(see hsi train --help)")
    check_user_error(invoke("datasets", "download", "--data-dir"), "(see hsi datasets download")


def test_help_lists_the_choices():
    from hsi.config import CHOICES, Method, get_args

    train, predict = invoke("train", "--help").output, invoke("predict", "--help").output
    for param, choices in CHOICES.items():
        assert f"--{param.replace('_', '-')} <{'|'.join(choices)}>" in train, param
    for param, choices in (("method", get_args(Method)), ("device", CHOICES["device"])):
        assert f"--{param} <{'|'.join(choices)}>" in predict, param
    assert "--version" in invoke("--help").output


def test_a_one_row_ground_truth_is_told_to_use_labels_key(tmp_path):
    np.save(tmp_path / "c.npy", np.random.default_rng(0).random((1, 12, 4), dtype=np.float32))
    np.save(tmp_path / "g.npy", np.array([[1, 2] * 6]))
    res = invoke("train", "--scene", tmp_path / "c.npy", "--labels", tmp_path / "g.npy",
                 "--out", tmp_path / "runs")  # fmt: skip
    check_user_error(res, "g.npy: expected a 2-D integer array of at least 2×2", "--labels-key")
    assert not (tmp_path / "runs").exists()
