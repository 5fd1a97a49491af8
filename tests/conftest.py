"""Shared fixtures: tiny seeded scenes, one trained run, and ../shared/data when present."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from hsi.config import TrainConfig
from hsi.data.synthetic import make_scene

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

IDS = [1, 10, 11, 12, 13, 14]
RUN_FILES = {
    "model.pt",
    "metrics.json",
    "history.csv",
    "map.png",
    "map_labeled.png",
    "panels.png",
    "confusion.png",
    "curves.png",
    "rgb.png",
}
# A small scene HybridSN learns in a few seconds: 6 classes with ids 1, 10..14 (not 1..K).
TRAIN_ARGS = ["--pca", "13", "--patch", "9", "--epochs", "25", "--batch-size", "32"]
TRAIN_ARGS += ["--train-size", "0.4", "--quiet"]


@pytest.fixture(scope="module")
def one_thread():
    """One PyTorch thread for a module of tiny-batch model tests.

    A second thread gains nothing on such batches, and when other processes load the cores,
    OpenMP threads waiting on each other make small convolutions 10-100x slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def small_scene():
    return make_scene(32, 32, bands=40, n_classes=4, seed=0)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    """scene.npz (cube + gt), cube.npy and gt.npy of a 40×40×24 scene with ids 1, 10..14."""
    d = tmp_path_factory.mktemp("cli")
    scene = make_scene(
        40, 40, bands=24, n_classes=6, seed=3, class_ids=IDS, region_scale=4,
        similarity=0.6, variability=0.1, noise=0.02,
    )  # fmt: skip
    np.savez(d / "scene.npz", cube=scene.cube, gt=scene.labels)
    np.save(d / "cube.npy", scene.cube)
    np.save(d / "gt.npy", scene.labels)
    return d


@pytest.fixture(scope="session")
def trained(workdir) -> Path:
    """`hsi train` once through the CLI, with one thread whichever test asks first; returns
    runs/latest."""
    from hsi.cli import app

    out = workdir / "runs"
    args = ["train", "--scene", workdir / "scene.npz", "--labels", workdir / "scene.npz"]
    args += ["--out", out, "--threads", "1", *TRAIN_ARGS]
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "OA" in result.output
    return out / "latest"


# ---- tiny runs for the reproducibility and sweep tests: 24×24 scene, HybridSN at its smallest
@pytest.fixture(scope="module")
def scene_file(tmp_path_factory) -> Path:
    scene = make_scene(24, 24, bands=20, n_classes=3, seed=0)
    path = tmp_path_factory.mktemp("scene") / "tiny.npz"
    np.savez(path, cube=scene.cube, labels=scene.labels)
    return path


def tiny_options(scene_file: Path) -> list[str]:
    f = str(scene_file)
    return [
        *("--scene", f, "--labels", f, "--cube-key", "cube", "--labels-key", "labels"),
        *("--pca", "13", "--patch", "9", "--epochs", "2", "--train-size", "0.3"),
        *("--batch-size", "32", "--device", "cpu", "--quiet"),
    ]


def tiny_config(scene_file: Path, **changes) -> TrainConfig:
    options = dict(scene=str(scene_file), labels=str(scene_file), cube_key="cube")
    options.update(labels_key="labels", pca=13, patch=9, epochs=2, train_size=0.3)
    options.update(batch_size=32, device="cpu")
    return TrainConfig(**{**options, **changes})


def settings_seen(monkeypatch, owner: object, name: str) -> list[tuple[int, bool]]:
    """Wrap ``owner.name`` so that each call appends PyTorch's thread count and whether
    deterministic algorithms are on, at that moment, to the returned list."""
    seen: list[tuple[int, bool]] = []
    original = getattr(owner, name)

    def recording(*args, **kwargs):
        seen.append((torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()))
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, recording)
    return seen


def weights_hash(bundle: Path) -> str:
    """sha256 over the state_dict tensors' names, dtypes, shapes and bytes (not the zip file)."""
    return state_hash(torch.load(bundle, weights_only=True)["state_dict"])


def state_hash(state: dict) -> str:
    """sha256 over a state_dict's tensor names, dtypes, shapes and bytes, wherever they live."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()
