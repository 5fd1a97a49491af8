"""hsi: hyperspectral image classification, reproducible from the command line.

The public API, importable from ``hsi`` directly (loaded on first use, so that ``import hsi``
and the CLI start quickly)::

    from hsi import read_scene, PCAReducer, PatchDataset, make_split, create_model
    from hsi import TrainConfig, train_run, predict_run, ModelBundle
    from hsi import HSIClassifier  # fit / predict / predict_proba on in-memory arrays

One entry per job: ``read_scene`` (your own files), ``load_dataset`` (a standard scene, fetched
into the cache) and ``download_dataset`` (only its files); ``train_run`` and ``predict_run`` (what
``hsi train`` and ``hsi predict`` do), ``HSIClassifier`` (the same run as a scikit-learn style
estimator over arrays), ``predict_indices`` and ``predict_scores`` (a model over a reduced
cube). The
stages a training run is made of are in :mod:`hsi.stages`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Scene": "hsi.data.scene",
    "read_scene": "hsi.data.io",
    "read_labels": "hsi.data.io",
    "load_dataset": "hsi.data.fetch",
    "download_dataset": "hsi.data.fetch",
    "fetch_scene": "hsi.data.fetch",  # the old name of download_dataset
    "list_scenes": "hsi.data.registry",
    "get_scene_info": "hsi.data.registry",
    "make_scene": "hsi.data.synthetic",
    "paint_layout": "hsi.data.synthetic",
    "PCAReducer": "hsi.preprocess",
    "PatchDataset": "hsi.patches",
    "make_split": "hsi.splits",
    "leakage": "hsi.splits",
    "create_model": "hsi.models",
    "list_models": "hsi.models",
    "seed_everything": "hsi.seeding",
    "fit": "hsi.training",
    "accuracy_report": "hsi.metrics",
    "classification_report": "hsi.metrics",
    "ModelBundle": "hsi.bundle",
    "predict_indices": "hsi.inference",
    "predict_scores": "hsi.inference",
    "TrainConfig": "hsi.config",
    "train_run": "hsi.experiment",
    "predict_run": "hsi.experiment",
    "HSIError": "hsi.errors",
    "HSIClassifier": "hsi.estimator",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hsi' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
