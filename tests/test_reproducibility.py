"""Same command, same seed ⇒ bit-identical weights, metrics and maps; another seed ⇒ other weights.

The runs are tiny (a 24×24 synthetic scene, HybridSN at its smallest shape, 2 epochs) and use
one PyTorch thread: the thread count is part of what a bit-identical rerun needs
(docs/reproducibility.md), and one thread is also the fastest on a shared machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import settings_seen, tiny_config, tiny_options, weights_hash
from typer.testing import CliRunner

from hsi.cli import app
from hsi.experiment import train_run
from hsi.seeding import (
    make_generator,
    run_settings,
    seed_everything,
    seed_worker,
    set_deterministic,
)

runner = CliRunner()


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def comparable_metrics(run_dir: Path) -> dict:
    """metrics.json without what legitimately differs between two runs: times and the folder."""
    m = json.loads((run_dir / "metrics.json").read_text())
    m.pop("timings_s")
    m["training"].pop("samples_per_s")
    m["config"].pop("out")
    return m


@pytest.fixture(scope="module")
def runs(scene_file, tmp_path_factory) -> dict[str, Path]:
    """Two `hsi train` commands with seed 3; the API with seed 3 and 2 workers; seed 4."""
    base = tmp_path_factory.mktemp("runs")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out: dict[str, Path] = {}
        for name in ("cli_a", "cli_b"):
            args = ["train", *tiny_options(scene_file), "--seed", "3", "--out", str(base / name)]
            result = runner.invoke(app, args)
            assert result.exit_code == 0, result.output
            out[name] = (base / name / "latest").resolve()
            predict = [
                *("predict", str(scene_file), "--cube-key", "cube", "--model", str(out[name])),
                *("--out", str(base / f"{name}_map.png"), "--device", "cpu", "--quiet"),
            ]
            result = runner.invoke(app, predict)
            assert result.exit_code == 0, result.output
        config = tiny_config(scene_file, seed=3, workers=2)
        out["workers"] = train_run(config, run_dir=base / "workers").run_dir
        out["seed4"] = train_run(tiny_config(scene_file, seed=4), run_dir=base / "seed4").run_dir
        out["maps"] = base
        return out
    finally:
        torch.set_num_threads(threads)


def test_same_command_twice_gives_identical_weights_metrics_and_maps(runs):
    a, b = runs["cli_a"], runs["cli_b"]
    assert a != b
    assert weights_hash(a / "model.pt") == weights_hash(b / "model.pt")
    assert comparable_metrics(a) == comparable_metrics(b)
    assert (a / "history.csv").read_text() == (b / "history.csv").read_text()
    maps = runs["maps"]
    assert file_hash(maps / "cli_a_map.npy") == file_hash(maps / "cli_b_map.npy")
    assert np.array_equal(np.load(maps / "cli_a_map.npy"), np.load(maps / "cli_b_map.npy"))


def test_dataloader_workers_change_nothing(runs):
    # the sampler's generator fixes the order and every worker is seeded from it
    a, w = runs["cli_a"], runs["workers"]
    assert weights_hash(w / "model.pt") == weights_hash(a / "model.pt")
    metrics_w, metrics_a = comparable_metrics(w), comparable_metrics(a)
    for m in (metrics_w, metrics_a):
        m["config"].pop("workers")
    assert metrics_w == metrics_a


def test_another_seed_gives_other_weights(runs):
    assert weights_hash(runs["seed4"] / "model.pt") != weights_hash(runs["cli_a"] / "model.pt")


@pytest.mark.parametrize("kind", ["stratified", "spatial"])
def test_the_seed_reaches_the_split(scene_file, kind):
    """Other weights could come from the initialisation alone: the pixels must change too."""
    from hsi.stages import prepare, split_pixels

    def train_pixels(seed: int) -> np.ndarray:
        config = tiny_config(scene_file, seed=seed, split=kind)
        return split_pixels(prepare(config, False).scene, config, lambda note: None).train

    assert np.array_equal(train_pixels(3), train_pixels(3))
    assert not np.array_equal(train_pixels(3), train_pixels(4))


def test_seed_everything_covers_python_numpy_and_torch():
    def draw():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    g1 = seed_everything(11, deterministic=True)
    first = draw()
    g2 = seed_everything(11, deterministic=True)
    assert draw() == first
    assert torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2))
    seed_everything(12)
    assert draw() != first


def test_deterministic_mode_is_on_by_default_and_can_be_turned_off():
    try:
        seed_everything(0)
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.backends.cudnn.benchmark
        seed_everything(0, deterministic=False)
        assert not torch.are_deterministic_algorithms_enabled()
    finally:
        set_deterministic(True)


def test_seed_worker_seeds_numpy_from_the_workers_torch_seed():
    torch.manual_seed(1234)
    seed_worker(0)
    a = np.random.rand()
    torch.manual_seed(1234)
    seed_worker(0)
    assert np.random.rand() == a
    assert torch.equal(
        torch.randperm(10, generator=make_generator(5)),
        torch.randperm(10, generator=make_generator(5)),
    )


def test_a_run_gives_the_caller_back_its_threads_and_deterministic_mode(
    scene_file, tmp_path, monkeypatch
):
    """--threads and deterministic mode are part of a run's recipe but process-wide: the run
    sets them for its fit and map, then restores the caller's (a notebook that trained with
    threads=1 stays multi-threaded, and its own later CUDA code is not held to deterministic
    kernels or left without cuDNN's autotuner)."""
    import hsi.stages

    during = settings_seen(monkeypatch, hsi.stages, "map_scene")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    caller = (False, True, False)  # deterministic algorithms, cudnn benchmark, cudnn deterministic
    with run_settings():  # the next test starts from the suite's settings
        torch.set_num_threads(3)
        set_deterministic(False)
        run = train_run(tiny_config(scene_file, threads=1, epochs=1), run_dir=tmp_path / "run")
        assert during == [(1, True)]
        state = run.metrics["reproducibility"]
        assert state["torch_threads"] == 1 and state["deterministic_algorithms"] is True
        assert state["cublas_workspace_config"] == ":4096:8"
        assert torch.get_num_threads() == 3 and _deterministic_flags() == caller
        assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
        with pytest.raises(ValueError), run_settings(1, deterministic=True):  # on failure too
            raise ValueError
        assert torch.get_num_threads() == 3 and _deterministic_flags() == caller


def _deterministic_flags() -> tuple[bool, bool, bool]:
    return (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
