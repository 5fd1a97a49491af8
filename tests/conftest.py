"""Shared fixtures: tiny seeded scenes, one trained run, and ../shared/data when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

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
}
# A small scene HybridSN learns in a few seconds: 6 classes with ids 1, 10..14 (not 1..K).
TRAIN_ARGS = ["--pca", "13", "--patch", "9", "--epochs", "25", "--batch-size", "32"]
TRAIN_ARGS += ["--train-size", "0.4", "--quiet"]


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
    """`hsi train` once through the CLI; returns runs/latest."""
    from hsi.cli import app

    out = workdir / "runs"
    args = ["train", "--scene", workdir / "scene.npz", "--labels", workdir / "scene.npz"]
    args += ["--out", out, *TRAIN_ARGS]
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "OA" in result.output
    return out / "latest"
