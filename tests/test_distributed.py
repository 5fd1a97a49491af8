"""`torchrun --nproc-per-node 2 -m hsi train …`: gloo on CPU, one run folder, reproducible."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import tiny_options, weights_hash

TORCHRUN = Path(sys.executable).with_name("torchrun")


def _torchrun(scene_file: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    launcher = (
        [str(TORCHRUN)] if TORCHRUN.exists() else [sys.executable, "-m", "torch.distributed.run"]
    )
    argv = [*launcher, "--nproc-per-node", "2", "--standalone", "-m", "hsi", "train"]
    argv += [*tiny_options(scene_file), "--threads", "1", "--out", str(out), *extra]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)


def test_two_processes_one_run_folder_same_weights_twice(scene_file, tmp_path):
    runs = []
    for name in ("a", "b"):
        proc = _torchrun(scene_file, tmp_path / name)
        assert proc.returncode == 0, proc.stderr[-3000:]
        # rank 0 alone reports: one score line, one run line
        assert proc.stdout.count("OA ") == 1 and proc.stdout.count("run: ") == 1, proc.stdout
        folders = [p for p in (tmp_path / name).iterdir() if p.name != "latest"]
        assert len(folders) == 1
        runs.append(folders[0])
    assert weights_hash(runs[0] / "model.pt") == weights_hash(runs[1] / "model.pt")
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    assert metrics["training"]["processes"] == 2
    assert metrics["training"]["effective_batch_size"] == 2 * metrics["config"]["batch_size"]
    history = (runs[0] / "history.csv").read_text().splitlines()
    assert len(history) == 1 + metrics["training"]["epochs_run"]


def test_a_torchrun_environment_alone_does_not_make_fit_distributed(monkeypatch):
    """Only train_run joins torchrun's group: a plain fit() in such a process trains alone."""
    import torch
    from test_pipeline import _tiny_data

    from hsi.models import create_model
    from hsi.training import fit

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    train, val = _tiny_data()
    torch.manual_seed(0)
    model = create_model("mobilenet_v3_small", n_components=13, patch=9, n_classes=3)
    result = fit(model, train, val, epochs=1, batch_size=64)
    assert len(result.history) == 1
