"""On a CUDA device (skipped without one): every model trains and maps there.

Deterministic mode is on, so an op with no deterministic CUDA kernel raises; two seeded runs must
give bit-identical weights and maps (same seed, same machine); the SVM, fitted on the CPU, must
map where the windows are. CI has no GPU: these run on a lent machine (docs/development.md).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import state_hash, tiny_config, tiny_options
from typer.testing import CliRunner

from hsi.cli import app
from hsi.experiment import fit_run
from hsi.models import list_models
from hsi.stages import map_scene, prepare, score

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.parametrize("name", list_models())
def test_every_model_trains_and_maps_on_cuda_bit_identically(scene_file, name):
    config = tiny_config(scene_file, model=name, patch=None, device="cuda", seed=5)
    config.validate()
    prepared = prepare(config)
    outcomes = []
    for _ in range(2):
        fitted = fit_run(config, prepared)
        assert fitted.device.type == "cuda"
        mapped = map_scene(fitted.trained.model, fitted.reduced, config, device=fitted.device)
        report = score(fitted.scene, fitted.split, mapped.index)
        outcomes.append((state_hash(fitted.trained.fit.best_state), mapped.index, report["oa"]))
    (sha_a, map_a, oa_a), (sha_b, map_b, oa_b) = outcomes
    assert sha_a == sha_b
    assert np.array_equal(map_a, map_b)
    assert oa_a == oa_b
    assert map_a.min() >= 0


def test_hsi_train_svm_on_cuda_writes_a_run(scene_file, tmp_path):
    options = [o if o != "cpu" else "cuda" for o in tiny_options(scene_file)]
    result = CliRunner().invoke(
        app, ["train", *options, "--model", "svm", "--out", str(tmp_path / "runs")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "latest" / "map.png").is_file()
