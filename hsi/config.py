"""TrainConfig: every choice a training run makes, in one JSON-round-trippable dataclass.

Defaults, and why (docs/training.md has the long version):

- ``pca=30``, ``patch=None``: HybridSN's published setting for Indian Pines (the paper uses 15
  for Pavia and Salinas); the window is the model's own default (25 for the networks, 1 for
  the SVM).
- ``train_size=0.1`` stratified: the course notebook's 10 %; the paper's 30 % leaves so few test
  pixels of the small classes that its figures say little, and random splits already overstate
  accuracy (see ``--split spatial``).
- ``val_size=0.1`` of the training pixels: the kept weights are the best on validation, never
  on the test pixels and never the best *training* accuracy as in the paper's code.
- ``init="reference"``: each family starts as its reference implementation does (Keras
  glorot_uniform for HybridSN).
- ``batch_size=32``, ``epochs=30``, ``patience=10``, ``lr=1e-3`` (Adam, as in the paper): 10 %
  of the pixels give few samples, and the number of updates decides how fast HybridSN leaves
  its first plateau; with these it reaches 0.95 OA on the semi-synthetic Indian Pines in 10
  epochs and stops early in about 5 minutes on two cores (docs/benchmarks.md, "Time to
  accuracy", which also compares them with 100 epochs).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from hsi.errors import ConfigError


@dataclass
class TrainConfig:
    # the scene
    dataset: str | None = None
    scene: str | None = None
    labels: str | None = None
    cube_key: str | None = None
    labels_key: str | None = None
    data_dir: str | None = None
    nonfinite: str = "error"
    # preprocessing
    pca: int = 30
    whiten: bool = True
    pca_fit: str = "scene"  # "scene" (as in the paper) or "train" (training pixels only)
    patch: int | None = None  # None: the model's default (25 for the networks, 1 for svm)
    padding: str = "zero"
    # split
    split: str = "stratified"
    train_size: float | int = 0.1
    val_size: float | int = 0.1
    block_size: int | None = None
    # model and optimisation
    model: str = "hybridsn"
    model_options: dict[str, Any] = field(default_factory=dict)
    init: str = "reference"  # the family's reference initialisation, or "torch" (layer defaults)
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int | None = 10
    seed: int = 0
    deterministic: bool = True
    workers: int = 0
    threads: int | None = None  # PyTorch CPU threads; None keeps torch's default
    device: str = "auto"
    # outputs
    out: str = "runs"
    quiet: bool = False

    def validate(self) -> TrainConfig:
        if (self.dataset is None) == (self.scene is None):
            raise ConfigError("give exactly one of --dataset NAME or --scene FILE")
        if self.scene is not None and self.labels is None and self.labels_key is None:
            raise ConfigError(
                "--scene needs its ground truth to train: --labels FILE (or --labels-key)"
            )
        from hsi.models import list_models
        from hsi.patches import check_patch_size
        from hsi.splits import STRATEGIES, check_size

        if self.model not in list_models():
            raise ConfigError(
                f"unknown model {self.model!r}; choose one of: {', '.join(list_models())}"
            )
        if self.patch is None:
            from hsi.models import model_class

            self.patch = model_class(self.model).default_patch
        from hsi.models.init import INITS

        if self.init not in INITS:
            raise ConfigError(f"--init must be one of {', '.join(INITS)}, got {self.init!r}")
        if self.split not in STRATEGIES:
            raise ConfigError(
                f"unknown --split {self.split!r}; choose one of: {', '.join(STRATEGIES)}"
            )
        check_patch_size(self.patch)
        check_size("--train-size", self.train_size)
        check_size("--val-size", self.val_size, allow_zero=True)
        if self.dataset is not None:
            from hsi.data.registry import get_scene_info

            get_scene_info(self.dataset)
        if self.padding not in ("zero", "reflect"):
            raise ConfigError(f"--padding must be 'zero' or 'reflect', got {self.padding!r}")
        if self.pca < 1:
            raise ConfigError(f"--pca must be at least 1, got {self.pca}")
        if self.epochs < 1:
            raise ConfigError(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {self.batch_size}")
        if not math.isfinite(self.lr):
            raise ConfigError(f"--lr must be a finite number, got {self.lr}")
        if not self.lr > 0:
            raise ConfigError(f"--lr must be positive, got {self.lr}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError(f"weight_decay must be a finite number >= 0, got {self.weight_decay}")
        from hsi.seeding import check_seed

        check_seed(self.seed)
        if self.patience == 0:  # "--patience 0": no early stopping
            self.patience = None
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"--patience must be 0 (off) or more, got {self.patience}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {self.threads}")
        if self.workers < 0:
            raise ConfigError(f"--workers must be 0 or more, got {self.workers}")
        if self.pca_fit not in ("scene", "train"):
            raise ConfigError(f"--pca-fit must be 'scene' or 'train', got {self.pca_fit!r}")
        if self.nonfinite not in ("error", "mask"):
            raise ConfigError(f"--nonfinite must be 'error' or 'mask', got {self.nonfinite!r}")
        # PyTorch takes these as C ints: a larger value crashes deep inside, after the PCA
        counts = {"--epochs": self.epochs, "--batch-size": self.batch_size, "--pca": self.pca}
        counts.update({"--patience": self.patience, "--threads": self.threads})
        counts.update({"--workers": self.workers, "--block-size": self.block_size})
        for option, value in counts.items():
            if value is not None and value > 2**31 - 1:
                raise ConfigError(f"{option} must be at most 2**31 - 1, got {value}")
        return self

    @property
    def scene_name(self) -> str:
        return self.dataset or Path(self.scene or "scene").stem

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(sorted(unknown))}")
        return cls(**data)
