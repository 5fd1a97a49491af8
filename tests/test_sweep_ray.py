"""`hsi sweep --backend ray`: the same run folders, rows and weights as the local backend, the
same resumption, a run's own error in one line. One local Ray (2 CPUs) serves the module;
skipped when Ray is not installed. Runs are tiny (24×24 scene, HybridSN at its smallest)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
from conftest import RUN_FILES, tiny_config, tiny_options, weights_hash
from typer.testing import CliRunner

from hsi.cli import app
from hsi.errors import ConfigError
from hsi.sweep import is_finished, read_rows, run_folder, run_sweep

ray = pytest.importorskip("ray")

runner = CliRunner()
TIME_COLUMNS = ("train_time_s", "total_time_s")


@pytest.fixture(scope="module")
def local_ray():
    """A Ray on 2 CPUs for the whole module: started once (5-10 s), stopped at the end."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


@pytest.fixture
def keep_threads():
    """A sweep with threads=1 in this process sets torch's thread count: put it back after."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _untimed(rows):
    return [{k: v for k, v in row.items() if k not in TIME_COLUMNS} for row in rows]


def test_ray_sweep_equals_local_and_resumes(scene_file, tmp_path, local_ray, keep_threads):
    # one thread per run in both: the thread count is part of a bit-identical rerun
    config = tiny_config(scene_file, threads=1)
    local = run_sweep(config, [0, 1], folder=tmp_path / "local", backend="local")

    # first only seed 0 (as if the sweep had been stopped), then both: seed 0 is not retrained
    args = ["sweep", *tiny_options(scene_file), "--threads", "1", "--backend", "ray"]
    args += ["--out", str(tmp_path / "ray")]
    first = runner.invoke(app, [*args, "--seeds", "0"])
    assert first.exit_code == 0, first.output
    folder = tmp_path / "ray" / "sweep_tiny_hybridsn"
    stamp = (run_folder(folder, 0.3, 0) / "model.pt").stat().st_mtime_ns
    second = runner.invoke(app, [*args, "--seeds", "0-1"])
    assert second.exit_code == 0, second.output
    assert "1 trained, 1 already done" in second.stdout
    assert (run_folder(folder, 0.3, 0) / "model.pt").stat().st_mtime_ns == stamp

    for seed in (0, 1):
        ours, theirs = run_folder(folder, 0.3, seed), run_folder(local.folder, 0.3, seed)
        assert is_finished(ours)
        assert {p.name for p in ours.iterdir()} == RUN_FILES
        assert weights_hash(ours / "model.pt") == weights_hash(theirs / "model.pt")
        assert (ours / "history.csv").read_bytes() == (theirs / "history.csv").read_bytes()
    assert not list(folder.rglob(".tmp-*"))  # no staging folder left behind
    ray_rows = read_rows(folder / "sweep.csv")
    assert _untimed(ray_rows) == _untimed(read_rows(local.folder / "sweep.csv"))
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["backend"] == "ray" and summary["threads_per_run"] == 1

    # a run whose metrics.json is gone (killed while writing it) is trained again, alone
    (run_folder(folder, 0.3, 1) / "metrics.json").unlink()
    third = runner.invoke(app, [*args, "--seeds", "0-1"])
    assert third.exit_code == 0, third.output
    assert "1 trained, 1 already done" in third.stdout
    assert weights_hash(run_folder(folder, 0.3, 1) / "model.pt") == weights_hash(
        run_folder(local.folder, 0.3, 1) / "model.pt"
    )


def test_a_runs_own_error_comes_back_in_one_line(scene_file, tmp_path, local_ray):
    # a count per class with the spatial split: found when the run splits, on the worker
    config = tiny_config(scene_file, threads=1, split="spatial", train_size=50)
    with pytest.raises(ConfigError, match="split spatial takes train_size as a fraction"):
        run_sweep(config, [0], folder=tmp_path / "sweep", backend="ray")
    assert not run_folder(tmp_path / "sweep", 50, 0).exists()


def test_two_models_on_ray_each_with_its_own_window_and_pca(scene_file, tmp_path, local_ray):
    # HybridSN at its tiniest; the SVM with its own 1×1 window and another PCA (a second
    # prepared scene in the object store)
    configs = [
        tiny_config(scene_file, threads=1),
        tiny_config(scene_file, threads=1, model="svm", patch=None, pca=10),
    ]
    result = run_sweep(configs, [0], folder=tmp_path / "sweep", backend="ray")
    assert result.ran == 2
    assert [(r["model"], r["run"]) for r in result.rows] == [
        ("hybridsn", "hybridsn/ts0.3/seed_0"),
        ("svm", "svm/ts0.3/seed_0"),
    ]
    windows = {}
    for row in result.rows:
        metrics = json.loads((result.folder / row["run"] / "metrics.json").read_text())
        windows[row["model"]] = (metrics["config"]["patch"], metrics["config"]["pca"])
    assert windows == {"hybridsn": (9, 13), "svm": (1, 10)}
    assert [g["model"] for g in result.summary["groups"]] == ["hybridsn", "svm"]
    md = (result.folder / "summary.md").read_text()
    assert "## hybridsn" in md and "## svm" in md
    assert [r["model"] for r in read_rows(result.folder / "sweep.csv")] == ["hybridsn", "svm"]


def test_a_local_ray_started_by_hsi_does_not_print_rays_token_notice():
    # Ray 2.60 warns "Token authentication is enabled for this Ray cluster…" on every local start,
    # `hsi -q` included; the cluster hsi starts keeps the setting, the notice goes.
    code = (
        "import ray\n"
        "from hsi.sweep.ray_backend import RayBackend\n"
        "assert RayBackend(1)._connect(ray, 1)\n"
        "ray.shutdown()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Token authentication" not in done.stderr + done.stdout


def test_rays_warning_that_authentication_is_off_still_shows():
    from hsi.sweep.ray_backend import _without_token_notice

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("ray", logging.WARNING, __file__, 1, message, None, None)

    notice, warning = "enabled", "disabled"
    assert not _without_token_notice(record(f"Token authentication is {notice} for this Ray …"))
    assert _without_token_notice(record(f"Token authentication is {warning} for this Ray …"))
