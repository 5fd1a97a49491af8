"""The stages of a training run, each a function with explicit inputs and outputs.

    prepare (load, PCA) → split → reduce → fit → map → score → (bundle, metrics) → write

:func:`hsi.experiment.train_run` chains them for ``hsi train``; a sweep calls ``prepare`` once
and ``train_run`` per seed; other front ends (an estimator, a cluster task) compose the same
functions. Writing the run folder is :mod:`hsi.runfolder`'s job.

What the stages have to say (the split's and the fit's notes) goes to the ``hsi.stages`` logger
at INFO, or to the ``say`` callback a caller passes instead.
"""

from __future__ import annotations

import logging
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hsi import distributed
from hsi.bundle import ModelBundle
from hsi.config import TrainConfig
from hsi.data.scene import Scene, ids_to_indices, indices_to_ids
from hsi.errors import ConfigError, DataError
from hsi.inference import predict_indices
from hsi.metrics import accuracy_report
from hsi.patches import PatchDataset, pad_cube
from hsi.preprocess import PCAReducer, check_components
from hsi.splits import Split, make_split
from hsi.training import FitResult

Log = Callable[[str], None]

logger = logging.getLogger(__name__)


@dataclass
class PreparedScene:
    """A scene loaded and, when the PCA does not depend on the split, reduced once."""

    scene: Scene
    reducer: PCAReducer | None = None
    reduced: np.ndarray | None = None


@dataclass
class Trained:
    """A fitted model and what its fit reported."""

    model: torch.nn.Module
    fit: FitResult
    init_rule: str


@dataclass
class Mapped:
    """Class indices (0..K-1) of every pixel, and how long the mapping took."""

    index: np.ndarray
    seconds: float


# ------------------------------------------------------------------------------------ prepare
def scene_from_config(config: TrainConfig, progress: bool = False) -> Scene:
    """The scene ``config`` names: a standard dataset (fetched into the cache) or the user's."""
    if config.dataset is not None:
        from hsi.data.fetch import load_dataset

        return load_dataset(config.dataset, config.data_dir, progress=progress)
    from hsi.data.io import read_scene

    return read_scene(
        config.scene,
        config.labels,
        cube_key=config.cube_key,
        labels_key=config.labels_key,
        nonfinite=config.nonfinite,
    )


def prepare(config: TrainConfig, progress: bool = False) -> PreparedScene:
    """Load the scene and, with ``pca_fit='scene'``, fit and apply the PCA: reusable over seeds."""
    return prepare_scene(scene_from_config(config, progress), config)


def prepare_scene(scene: Scene, config: TrainConfig) -> PreparedScene:
    """A loaded (or in-memory) scene, checked and, with ``pca_fit='scene'``, reduced."""
    check_trainable(scene, config)
    if config.pca_fit != "scene":
        return PreparedScene(scene)
    reducer = PCAReducer(config.pca, whiten=config.whiten).fit(scene.cube)
    return PreparedScene(scene, reducer, reducer.transform(scene.cube))


def check_trainable(scene: Scene, config: TrainConfig) -> None:
    """A ground truth with two classes or more, and no more PCA components than bands."""
    if scene.labels is None:
        raise DataError(f"{scene.name}: no ground truth to train on")
    if scene.n_classes < 2:
        source = scene.meta.get("labels_source")
        truth = Path(source).name if source else f"{scene.name}'s ground truth"
        found = (
            "no labeled pixel (every id is 0)"
            if scene.n_classes == 0
            else f"one class only (id {int(scene.class_ids[0])})"
        )
        raise DataError(f"{truth}: {found}; need at least 2 classes to train")
    check_components(config.pca, scene.shape[2])


# ------------------------------------------------------------------------------------ split
def split_pixels(scene: Scene, config: TrainConfig, say: Log | None = None) -> Split:
    """Training, validation and test pixels; an error when no test pixel is left."""
    say = say or logger.info
    split = make_split(
        scene.labels,
        config.split,
        train_size=config.train_size,
        val_size=config.val_size,
        seed=config.seed,
        patch=config.patch,
        block_size=config.block_size,
        buffer=config.buffer,
    )
    if len(split.test) == 0:  # before the notes: a refusal is one line
        message, params = _no_test_pixel(scene, config)
        raise ConfigError(message, params=params)
    for note in split.notes:
        say(note)
    return split


def reduce(prepared: PreparedScene, split: Split, config: TrainConfig):
    """The PCA and the reduced cube: the prepared ones, or fitted on the training pixels now."""
    if prepared.reducer is not None and prepared.reduced is not None:
        return prepared.reducer, prepared.reduced
    pixels = split.train if config.pca_fit == "train" else None
    reducer = PCAReducer(config.pca, whiten=config.whiten).fit(prepared.scene.cube, pixels)
    return reducer, reducer.transform(prepared.scene.cube)


# ------------------------------------------------------------------------------------ fit
# measured (docs/models.md): HybridSN trained on upright windows only lost 5 OA points on random
# splits when its maps averaged the 8 turned views
TTA_WITHOUT_AUGMENT = (
    "note: --tta without --augment: the model never sees turned windows in training, "
    "and averaging over them lowered OA in docs/models.md; add --augment"
)


#: DataLoader processes per usable CPU at most: they cut windows, a few per core suffice
MAX_WORKERS_PER_CPU = 4


def loader_processes(workers: int, say: Log) -> int:
    """``--workers``, at most :data:`MAX_WORKERS_PER_CPU` per CPU this process may use: each is a
    process with its own torch, and thousands exhaust the machine. The weights do not depend on
    it, so a config recorded on a larger machine runs here, with fewer."""
    from hsi.seeding import usable_cores

    cores = usable_cores()
    most = MAX_WORKERS_PER_CPU * cores
    if workers > most:
        say(f"workers {workers}: {most} loader processes here ({MAX_WORKERS_PER_CPU} per CPU)")
        return most
    if workers > cores:
        say(f"workers {workers}: more loader processes than the {cores} CPUs here; they share them")
    return workers


def fit_model(
    config: TrainConfig,
    scene: Scene,
    reduced: np.ndarray,
    split: Split,
    *,
    device: torch.device,
    progress: bool = False,
    say: Log | None = None,
) -> Trained:
    """Build ``config.model`` with its initialisation and train it on the split's pixels."""
    # advice that costs accuracy is a warning, shown under --quiet too, unless ``say`` takes it
    warn = say or logger.warning
    say = say or logger.info
    from hsi.models import create_model
    from hsi.training import fit

    if config.tta and not config.augment:
        warn(TTA_WITHOUT_AUGMENT)

    index_map = ids_to_indices(scene.labels, scene.class_ids)
    padded = pad_cube(reduced, config.patch, config.padding)

    def windows(coords: np.ndarray) -> PatchDataset:
        targets = index_map[coords[:, 0], coords[:, 1]]
        return PatchDataset(reduced, coords, targets, patch=config.patch, padded=padded)

    model = create_model(
        config.model,
        n_components=reduced.shape[2],
        patch=config.patch,
        n_classes=scene.n_classes,
        init=config.init,
        **config.model_options,
    )
    result = fit(
        model,
        windows(split.train),
        windows(split.val) if len(split.val) else None,
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        weight_decay=config.weight_decay,
        patience=config.patience,
        seed=config.seed,
        workers=loader_processes(config.workers, say),
        device=device,
        progress=progress,
        augment=config.augment,
        label_smoothing=config.label_smoothing,
        schedule=config.schedule,
        warmup=config.warmup,
    )
    for note in result.notes:
        say(note)
    if result.interrupted:
        say(f"interrupted: keeping the best weights so far (epoch {result.best_epoch})")
    init_rule = model.reference_init if config.init == "reference" else "torch"
    return Trained(model, result, init_rule)


# ------------------------------------------------------------------------------------ map
def map_scene(
    model: torch.nn.Module,
    reduced: np.ndarray,
    config: TrainConfig,
    *,
    device: torch.device,
    progress: bool = False,
) -> Mapped:
    """Every pixel of the scene classified, timed."""
    t0 = time.perf_counter()
    index = predict_indices(
        model,
        reduced,
        patch=config.patch,
        padding=config.padding,
        device=device,
        progress=progress,
        tta=config.tta,
    )
    return Mapped(index, time.perf_counter() - t0)


# ------------------------------------------------------------------------------------ score
def score(scene: Scene, split: Split, index: np.ndarray) -> dict[str, Any]:
    """OA, AA, Kappa, per-class accuracy and confusion on the test pixels only."""
    index_map = ids_to_indices(scene.labels, scene.class_ids)
    rows, cols = split.test[:, 0], split.test[:, 1]
    return accuracy_report(
        index_map[rows, cols], index[rows, cols], scene.class_ids, scene.class_names
    )


# ------------------------------------------------------------------------------------ record
def palette_of(scene: Scene) -> np.ndarray:
    """The scene's own class colours, or the default palette."""
    from hsi.render.palette import default_palette

    if scene.palette is not None and len(scene.palette) == scene.n_classes:
        return np.asarray(scene.palette, dtype=np.uint8)
    return default_palette(scene.n_classes)


def make_bundle(
    config: TrainConfig, scene: Scene, trained: Trained, reducer: PCAReducer
) -> ModelBundle:
    """Everything needed to map a new scene: weights, PCA, classes, colours, the recipe."""
    return ModelBundle(
        model_name=config.model,
        model_options=dict(config.model_options),
        state_dict=trained.model.state_dict(),
        reducer_state=reducer.state_dict(),
        patch=config.patch,
        padding=config.padding,
        n_bands=scene.shape[2],
        class_ids=[int(i) for i in scene.class_ids],
        class_names=list(scene.class_names),
        palette=palette_of(scene).tolist(),
        config=config.to_dict(),
        info={
            "scene": scene.name,
            "best_epoch": trained.fit.best_epoch,
            "init": config.init,
            "init_rule": trained.init_rule,
            # the sensor's band centres: a scene from another band set is refused at predict
            "wavelengths": None if scene.wavelengths is None else scene.wavelengths.tolist(),
        },
    )


def run_metrics(
    config: TrainConfig,
    scene: Scene,
    split: Split,
    trained: Trained,
    report: dict[str, Any],
    timings: dict[str, float],
    device: torch.device,
) -> dict[str, Any]:
    """The content of metrics.json: scores, split sizes, training facts, timings, versions."""
    from hsi.seeding import reproducibility_state

    result = trained.fit
    return {
        **{k: report[k] for k in ("oa", "aa", "kappa")},
        "per_class": report["per_class"],
        "confusion": report["confusion"],
        "notes": split.notes + result.notes + report["notes"],
        "scene": {"name": scene.name, "shape": list(scene.shape), "classes": scene.n_classes},
        "split": {
            **split.sizes(),
            "strategy": config.split,
            # a "best epoch" chosen on one validation pixel of a class is mostly noise: say so
            "train_per_class": _per_class(scene, split.train),
            "val_per_class": _per_class(scene, split.val),
        },
        "training": {
            "best_epoch": result.best_epoch,
            "best_val_acc": result.best_val_acc,
            "epochs_run": len(result.history),
            "stopped_early": result.stopped_early,
            "interrupted": result.interrupted,
            "samples_per_s": result.samples_per_s,
            "init": config.init,
            "init_rule": trained.init_rule,
            # under torchrun every step sees batch_size windows per process
            "processes": distributed.world_size(),
            "effective_batch_size": config.batch_size * distributed.world_size(),
        },
        "timings_s": timings,
        "seed": config.seed,
        "device": str(device),
        "reproducibility": reproducibility_state(),
        "versions": versions(),
        "config": config.to_dict(),
    }


def versions() -> dict[str, str]:
    """The library versions a result depends on."""
    import numpy
    import sklearn

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "platform": platform.platform(),
    }


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA, then Apple's MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device must be auto, cpu, cuda or mps, got {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device cuda: this machine has no CUDA GPU that torch can use", params=("device",)
        )
    if device.type == "mps" and not _mps_available():
        raise ConfigError(
            "device mps: this machine has no Apple MPS GPU that torch can use", params=("device",)
        )
    return device


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def to_ids(
    index: np.ndarray, scene_or_ids: Scene | np.ndarray, unread: np.ndarray | None = None
) -> np.ndarray:
    """Class indices back to the ground truth's own ids (unlabeled and masked pixels: 0).

    ``unread``: the pixels the reader zero-filled (``--nonfinite mask``), which are no class.
    """
    ids = scene_or_ids.class_ids if isinstance(scene_or_ids, Scene) else scene_or_ids
    out = indices_to_ids(index, ids)
    if unread is not None:
        out[unread] = 0
    return out


def _per_class(scene: Scene, coords: np.ndarray) -> dict[str, int]:
    """Pixels per class id (every class, 0 where none) among ``coords``."""
    ids = scene.labels[coords[:, 0], coords[:, 1]]
    return {str(int(c)): int(np.count_nonzero(ids == c)) for c in scene.class_ids}


def used_mask(scene: Scene, split: Split) -> np.ndarray:
    """H × W: True on the pixels the model was trained or validated on (never scored)."""
    used = np.zeros(scene.labels.shape, dtype=bool)
    for coords in (split.train, split.val):
        used[coords[:, 0], coords[:, 1]] = True
    return used


def buffer_mask(scene: Scene, split: Split) -> np.ndarray:
    """H × W: True on the labeled pixels in neither training, validation nor test — a spatial
    split's buffer, whose windows overlap the training blocks (never scored, as in the metrics).
    All False for the other strategies, which use every labeled pixel."""
    kept = used_mask(scene, split)
    kept[split.test[:, 0], split.test[:, 1]] = True
    return (scene.labels != 0) & ~kept


def _no_test_pixel(scene: Scene, config: TrainConfig) -> tuple[str, tuple[str, ...]]:
    """Why no pixel is left to test, and the options that would leave some."""
    counts = np.unique(scene.labels[scene.labels != 0], return_counts=True)[1]
    if counts.max() < 2:
        return (
            f"{scene.name}: every class has a single labeled pixel, and it goes to training; "
            "a class needs at least 2 labeled pixels (one to train on, one to test): label more"
        ), ()
    if config.split == "spatial":
        return (
            "the spatial split leaves no test pixel: the training and validation blocks and the "
            "margin around the training blocks take every labeled pixel; lower train_size, "
            "val_size, buffer or block_size"
        ), ("train_size", "val_size", "buffer", "block_size")
    return "the split leaves no test pixel; lower train_size", ("train_size",)
