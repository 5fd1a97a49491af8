"""Whole runs: ``hsi train`` and ``hsi predict`` as Python functions.

A training run loads the scene, splits it, fits the PCA once, trains, maps every pixel and
writes a run folder::

    runs/<scene>_<model>_s<seed>_<time>-<random>/
        model.pt  metrics.json  history.csv  map.png  map_labeled.png  panels.png
        confusion.png  curves.png
    runs/latest -> <that folder>

The folder is assembled under a private temporary name and renamed when complete, so neither a
crash nor a second run writing into the same ``runs/`` leaves a half-written or mixed folder
(:mod:`hsi.runfolder`). ``--out`` is checked before any data is loaded. Test pixels are used for
the final metrics only.
"""

from __future__ import annotations

import csv
import io
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hsi.atomic import atomic_paths, write_text
from hsi.bundle import ModelBundle
from hsi.config import TrainConfig
from hsi.data.io import read_scene
from hsi.data.scene import Scene, ids_to_indices, indices_to_ids
from hsi.errors import BundleError, ConfigError, DataError, OutputError
from hsi.inference import predict_indices
from hsi.metrics import classification_report
from hsi.patches import PatchDataset, pad_cube
from hsi.preprocess import PCAReducer
from hsi.runfolder import check_latest, check_out_dir, point_latest, staged_folder
from hsi.seeding import reproducibility_state, seed_everything
from hsi.splits import make_split


@dataclass
class PreparedScene:
    """A scene loaded and, when the PCA does not depend on the split, reduced once."""

    scene: Scene
    reducer: PCAReducer | None = None
    reduced: np.ndarray | None = None


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict[str, Any]
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA, then Apple's MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device must be auto, cpu, cuda or mps, got {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available here")
    return device


def load_scene(config: TrainConfig, progress: bool = False) -> Scene:
    if config.dataset is not None:
        from hsi.data.fetch import load_dataset

        return load_dataset(config.dataset, config.data_dir, progress=progress)
    return read_scene(
        config.scene,
        config.labels,
        cube_key=config.cube_key,
        labels_key=config.labels_key,
        nonfinite=config.nonfinite,
    )


def prepare(config: TrainConfig, progress: bool = False) -> PreparedScene:
    """Load the scene and, with ``pca_fit='scene'``, fit and apply the PCA: reusable over seeds."""
    scene = load_scene(config, progress)
    _check_trainable(scene, config)
    if config.pca_fit != "scene":
        return PreparedScene(scene)
    reducer = PCAReducer(config.pca, whiten=config.whiten).fit(scene.cube)
    return PreparedScene(scene, reducer, reducer.transform(scene.cube))


def train_run(
    config: TrainConfig,
    prepared: PreparedScene | None = None,
    *,
    run_dir: str | Path | None = None,
    progress: bool = False,
    log=None,
) -> RunResult:
    """Train, evaluate and map; write the run folder and return its metrics."""
    config.validate()
    _check_run_target(config, run_dir)
    say = log or (lambda msg: None)
    t_start = time.perf_counter()
    prepared = prepared or prepare(config, progress)
    scene = prepared.scene
    _check_trainable(scene, config)
    if config.threads is not None:
        # the thread count changes float reduction order, hence the weights: part of the recipe
        torch.set_num_threads(config.threads)
    seed_everything(config.seed, deterministic=config.deterministic)
    device = resolve_device(config.device)

    split = make_split(
        scene.labels,
        config.split,
        train_size=config.train_size,
        val_size=config.val_size,
        seed=config.seed,
        patch=config.patch,
        block_size=config.block_size,
    )
    for note in split.notes:
        say(note)
    if len(split.test) == 0:
        raise ConfigError(_no_test_pixel(scene))

    reducer, reduced = prepared.reducer, prepared.reduced
    if reducer is None or reduced is None:
        pixels = split.train if config.pca_fit == "train" else None
        reducer = PCAReducer(config.pca, whiten=config.whiten).fit(scene.cube, pixels)
        reduced = reducer.transform(scene.cube)
    t_prepared = time.perf_counter()

    from hsi.models import create_model

    index_map = ids_to_indices(scene.labels, scene.class_ids)
    padded = pad_cube(reduced, config.patch, config.padding)

    def dataset(coords: np.ndarray) -> PatchDataset:
        targets = index_map[coords[:, 0], coords[:, 1]]
        return PatchDataset(reduced, coords, targets, patch=config.patch, padded=padded)

    model = create_model(
        config.model,
        bands=reducer.n_components,
        patch=config.patch,
        n_classes=scene.n_classes,
        init=config.init,
        **config.model_options,
    )
    init_rule = model.reference_init if config.init == "reference" else "torch"
    from hsi.training import fit

    result = fit(
        model,
        dataset(split.train),
        dataset(split.val) if len(split.val) else None,
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        weight_decay=config.weight_decay,
        patience=config.patience,
        seed=config.seed,
        workers=config.workers,
        device=device,
        progress=progress,
    )
    for note in result.notes:
        say(note)
    if result.interrupted:
        say(f"interrupted: keeping the best weights so far (epoch {result.best_epoch})")

    t_map = time.perf_counter()
    pred_index = predict_indices(
        model, reduced, patch=config.patch, padding=config.padding, device=device, progress=progress
    )
    t_mapped = time.perf_counter()
    pred_ids = indices_to_ids(pred_index, scene.class_ids)
    test_true = index_map[split.test[:, 0], split.test[:, 1]]
    test_pred = pred_index[split.test[:, 0], split.test[:, 1]]
    report = classification_report(test_true, test_pred, scene.class_ids, scene.class_names)

    palette = _palette(scene)
    bundle = ModelBundle(
        model_name=config.model,
        model_options=dict(config.model_options),
        state_dict=model.state_dict(),
        reducer_state=reducer.state_dict(),
        patch=config.patch,
        padding=config.padding,
        bands=scene.shape[2],
        class_ids=[int(i) for i in scene.class_ids],
        class_names=list(scene.class_names),
        palette=palette.tolist(),
        config=config.to_dict(),
        info={
            "scene": scene.name,
            "best_epoch": result.best_epoch,
            "init": config.init,
            "init_rule": init_rule,
        },
    )
    metrics = {
        **{k: report[k] for k in ("oa", "aa", "kappa")},
        "per_class": report["per_class"],
        "confusion": report["confusion"],
        "notes": split.notes + result.notes + report["notes"],
        "scene": {"name": scene.name, "shape": list(scene.shape), "classes": scene.n_classes},
        "split": {**split.sizes(), "strategy": config.split},
        "training": {
            "best_epoch": result.best_epoch,
            "best_val_acc": result.best_val_acc,
            "epochs_run": len(result.history),
            "stopped_early": result.stopped_early,
            "interrupted": result.interrupted,
            "samples_per_s": result.samples_per_s,
            "init": config.init,
            "init_rule": init_rule,
        },
        "timings_s": {
            "prepare": t_prepared - t_start,
            "train": result.train_time_s,
            "map": t_mapped - t_map,
            "total": time.perf_counter() - t_start,
        },
        "seed": config.seed,
        "device": str(device),
        "reproducibility": reproducibility_state(),
        "versions": versions(),
        "config": config.to_dict(),
    }

    if run_dir is None:
        parent, name, unique = Path(config.out), _run_name(config), True
    else:
        parent, name, unique = Path(run_dir).parent, Path(run_dir).name, False
    with staged_folder(parent, name, unique=unique) as stage:
        bundle.save(stage.path / "model.pt")
        write_text(stage.path / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        write_text(stage.path / "history.csv", _history_csv(result.history))
        _render_run(stage.path, scene, pred_ids, palette, report, result.history)
    final_dir = stage.final
    if run_dir is None:
        point_latest(final_dir)
    return RunResult(final_dir, metrics, result.interrupted, metrics["notes"])


def predict_run(
    scene_path: str | Path,
    out: str | Path,
    *,
    bundle_path: str | Path | None = None,
    labels: str | Path | None = None,
    cube_key: str | None = None,
    labels_key: str | None = None,
    mask: bool = False,
    nonfinite: str = "error",
    method: str = "auto",
    device: str = "auto",
    progress: bool = False,
) -> dict[str, Any]:
    """Map a scene with a bundle; write the PNG, ``.npy`` and ``.mat`` (and metrics with labels)."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out {out}: expected a .png path (the .npy and .mat go beside it)")
    _check_map_target(out)
    bundle_file = find_bundle(bundle_path)
    bundle = ModelBundle.load(bundle_file)
    scene = read_scene(
        scene_path, labels, cube_key=cube_key, labels_key=labels_key, nonfinite=nonfinite
    )
    if scene.shape[2] != bundle.bands:
        raise BundleError(
            f"{Path(scene_path).name} has {scene.shape[2]} bands but the model "
            f"{bundle_file} was trained on {bundle.bands}"
        )
    if mask and scene.labels is None:
        raise ConfigError("--mask needs the ground truth: pass --labels FILE")
    class_ids = np.asarray(bundle.class_ids, dtype=np.int64)
    model = bundle.build_model()
    reduced = bundle.reducer().transform(scene.cube)  # the saved PCA, never refitted
    dev = resolve_device(device)
    model.to(dev)
    t0 = time.perf_counter()
    pixel_mask = (scene.labels != 0) if mask else None
    index = predict_indices(
        model,
        reduced,
        patch=bundle.patch,
        padding=bundle.padding,
        method=method,
        mask=pixel_mask,
        device=dev,
        progress=progress,
    )
    seconds = time.perf_counter() - t0
    pred_ids = indices_to_ids(index, class_ids)

    from hsi import render

    palette = np.asarray(bundle.palette, dtype=np.uint8)
    outputs = {"map": out, "npy": out.with_suffix(".npy"), "mat": out.with_suffix(".mat")}
    summary: dict[str, Any] = {
        "bundle": str(bundle_file),
        "pixels": int(index.size if pixel_mask is None else pixel_mask.sum()),
        "seconds": seconds,
    }
    if scene.labels is not None:
        truth = ids_to_indices(scene.labels, class_ids)
        scored = truth >= 0
        unknown = (scene.labels != 0) & ~scored
        if not scored.any():
            raise DataError(_nothing_to_score(scene.labels, class_ids, labels))
        report = classification_report(
            truth[scored], index[scored], class_ids, list(bundle.class_names)
        )
        if unknown.any():
            extra = sorted(set(np.unique(scene.labels[unknown]).tolist()))
            report["notes"].append(f"ground-truth ids {extra} are unknown to the model; not scored")
        summary["metrics"] = {k: report[k] for k in ("oa", "aa", "kappa", "per_class", "notes")}
        outputs["panels"] = out.with_name(out.stem + "_panels.png")
        outputs["metrics"] = out.with_name(out.stem + "_metrics.json")

    import scipy.io

    # every output under a temporary name first, all renamed at the end: none or all of them
    with atomic_paths(list(outputs.values())) as tmp_paths:
        tmp = dict(zip(outputs, tmp_paths, strict=True))
        np.save(tmp["npy"], pred_ids.astype(_id_dtype(class_ids, smallest=np.int16)))
        prediction = pred_ids.astype(_id_dtype(class_ids, smallest=np.int32))
        scipy.io.savemat(tmp["mat"], {"prediction": prediction}, do_compression=True)
        title = f"{Path(scene_path).stem} — {bundle.model_name}"
        render.save_map(tmp["map"], pred_ids, class_ids, bundle.class_names, palette, title=title)
        if scene.labels is not None:
            gt = np.where(ids_to_indices(scene.labels, class_ids) >= 0, scene.labels, 0)
            names = bundle.class_names
            render.save_panels(tmp["panels"], gt, pred_ids, class_ids, names, palette)
            tmp["metrics"].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    summary["outputs"] = {k: str(v) for k, v in outputs.items()}
    return summary


def _id_dtype(class_ids: np.ndarray, smallest: type = np.int16) -> type:
    """The smallest signed integer type, from ``smallest`` up, that holds every class id.

    Ids are never narrowed: 5,000,000,000 stays 5,000,000,000 (int64), not 705,032,704.
    """
    top = int(np.max(class_ids, initial=0))
    for dtype in (np.int16, np.int32):
        if np.dtype(dtype).itemsize >= np.dtype(smallest).itemsize and top <= np.iinfo(dtype).max:
            return dtype
    return np.int64  # class ids are int64 from the reader on: nothing larger can arrive


def _check_map_target(out: Path) -> None:
    """Before any work: the map's folder can be made and written to, and no output is a folder."""
    check_out_dir(out.parent, "--out", given=out)
    names = [out.name, out.stem + ".npy", out.stem + ".mat"]
    names += [out.stem + "_panels.png", out.stem + "_metrics.json"]
    for path in (out.with_name(name) for name in names):
        if path.is_dir():
            raise OutputError(f"--out {out}: {path} is a folder; expected a file name")


def _nothing_to_score(labels: np.ndarray, class_ids: np.ndarray, labels_path) -> str:
    given = np.unique(labels[labels != 0]).tolist()
    if not given:
        return f"{Path(labels_path).name}: the ground truth has no labeled pixel to score"
    shown = ", ".join(map(str, given[:10])) + (", …" if len(given) > 10 else "")
    known = ", ".join(map(str, class_ids.tolist()))
    return (
        f"{Path(labels_path).name}: none of its class ids ({shown}) is one the model knows "
        f"({known}); pass the ground truth the model was trained with, or drop --labels"
    )


def find_bundle(path: str | Path | None) -> Path:
    """A bundle file from a path, a run folder, or (default) ``runs/latest``."""
    if path is None:
        latest = Path("runs") / "latest"
        if not latest.exists():
            raise BundleError(
                "no --model given and runs/latest does not exist; train a model first"
            )
        path = latest
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.exists():
        raise BundleError(f"{path}: no such model bundle")
    return path.resolve()


def versions() -> dict[str, str]:
    import numpy
    import sklearn

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "platform": platform.platform(),
    }


def _check_trainable(scene: Scene, config: TrainConfig) -> None:
    if scene.labels is None:
        raise DataError(f"{scene.name}: no ground truth to train on")
    if scene.n_classes < 2:
        raise DataError(
            f"{scene.name}: the ground truth has {scene.n_classes} class; need at least 2"
        )
    if config.pca > scene.shape[2]:
        raise ConfigError(
            f"--pca {config.pca} asks for more components than the {scene.shape[2]} bands"
        )


def _palette(scene: Scene) -> np.ndarray:
    from hsi.render import default_palette

    if scene.palette is not None and len(scene.palette) == scene.n_classes:
        return np.asarray(scene.palette, dtype=np.uint8)
    return default_palette(scene.n_classes)


def _run_name(config: TrainConfig) -> str:
    """``<scene>_<model>_s<seed>_<time>``; :func:`staged_folder` appends a random suffix."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{config.scene_name}_{config.model}_s{config.seed}_{stamp}"


def _check_run_target(config: TrainConfig, run_dir: str | Path | None) -> None:
    """Before any work: the folder the run will be written to can be made and written to."""
    if run_dir is None:
        check_out_dir(config.out)
        check_latest(config.out)
    else:
        check_out_dir(Path(run_dir).parent, "run folder")


def _no_test_pixel(scene: Scene) -> str:
    counts = np.unique(scene.labels[scene.labels != 0], return_counts=True)[1]
    if counts.max() < 2:
        return (
            f"{scene.name}: every class has a single labeled pixel, and it goes to training; "
            "a class needs at least 2 labeled pixels (one to train on, one to test): label more"
        )
    return "the split leaves no test pixel; lower --train-size"


def _history_csv(history: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    columns = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_classes"]
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})
    return buf.getvalue()


def _render_run(folder: Path, scene: Scene, pred_ids, palette, report, history) -> None:
    from hsi import render

    ids, names = scene.class_ids, scene.class_names
    title = f"{scene.name}: OA {report['oa']:.3f}  AA {report['aa']:.3f}  κ {report['kappa']:.3f}"
    render.save_map(folder / "map.png", pred_ids, ids, names, palette, title=title)
    labeled = np.where(scene.labels != 0, pred_ids, 0)
    render.save_map(folder / "map_labeled.png", labeled, ids, names, palette, title=title)
    render.save_panels(
        folder / "panels.png", scene.labels, pred_ids, ids, names, palette, title=title
    )
    render.save_confusion(folder / "confusion.png", np.asarray(report["confusion"]), ids, names)
    render.save_curves(folder / "curves.png", history)
