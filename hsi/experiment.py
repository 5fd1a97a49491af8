"""Whole runs: ``hsi train`` and ``hsi predict`` as Python functions.

A training run is a chain of stages (:mod:`hsi.stages`)::

    prepare (load, PCA) → split → reduce → fit → map → score → bundle + metrics → write

:func:`fit_run` runs the stages up to the trained model and :func:`finish_run` the rest;
:func:`train_run` is the two, and :class:`hsi.estimator.HSIClassifier` runs ``fit_run`` on an
in-memory scene (and ``finish_run`` only when asked for a run folder). A run writes a folder
(:mod:`hsi.runfolder`)::

    runs/<scene>_<model>_s<seed>_<time>-<random>/
        model.pt  metrics.json  history.csv  map.png  map_labeled.png  panels.png
        rgb.png  confusion.png  curves.png
    runs/latest -> <that folder>

The folder is assembled under a private temporary name and renamed when complete, so neither a
crash nor a second run writing into the same ``runs/`` leaves a half-written or mixed folder.
The output folder is checked before any data is loaded. Test pixels are used for the final
metrics only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hsi import distributed, stages
from hsi.atomic import atomic_paths
from hsi.bundle import ModelBundle, find_bundle
from hsi.config import TrainConfig, check_choice, check_file_options_absent
from hsi.data.io import read_scene
from hsi.data.scene import Scene, ids_to_indices
from hsi.errors import BundleError, ConfigError, DataError, OutputError
from hsi.inference import predict_indices, predict_scores
from hsi.metrics import accuracy_report
from hsi.patches import window_fits
from hsi.preprocess import PCAReducer
from hsi.runfolder import check_out_dir, check_run_target, write_run
from hsi.seeding import run_settings, seed_everything
from hsi.splits import Split

# the stages' names where users of earlier versions found them
from hsi.stages import PreparedScene, prepare, resolve_device, versions
from hsi.stages import scene_from_config as load_scene  # its name before hsi.stages

__all__ = [
    "Fitted",
    "PreparedScene",
    "RunResult",
    "find_bundle",
    "load_scene",
    "finish_run",
    "fit_run",
    "predict_run",
    "prepare",
    "resolve_device",
    "train_run",
    "versions",
]


@dataclass
class RunResult:
    """The run folder and its metrics; under torchrun only rank 0 has them (others: None, {})."""

    run_dir: Path | None
    metrics: dict[str, Any]
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class Fitted:
    """What the stages up to the fit made: the scene, its split, the PCA, the trained model."""

    scene: Scene
    split: Split
    reducer: PCAReducer
    reduced: np.ndarray
    trained: stages.Trained
    device: torch.device
    started: float  # time.perf_counter() when the run began
    prepare_s: float  # loading, splitting and the PCA


def train_run(
    config: TrainConfig,
    prepared: PreparedScene | None = None,
    *,
    run_dir: str | Path | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> RunResult:
    """Train, evaluate and map; write the run folder and return its metrics.

    ``prepared`` (from :func:`prepare`) reuses a loaded and reduced scene, as a sweep does;
    ``run_dir`` writes to that folder instead of a new one under ``config.out``. The run's
    notes (the split's, the fit's) go to the ``hsi.stages`` logger, or to ``log`` instead.
    Started by ``torchrun`` it trains data-parallel (:mod:`hsi.distributed`) and rank 0 alone
    maps, scores and writes the folder.
    """
    config.validate(scene_given=prepared is not None)
    check_run_target(config, run_dir)
    joined = distributed.setup(resolve_device(config.device))
    try:
        if not distributed.is_main():
            log = lambda msg: None  # noqa: E731 - rank 0 speaks for the run
        # fit_run sets the run's threads and deterministic mode; the map runs with them too
        with run_settings():
            fitted = fit_run(config, prepared, progress=progress, log=log)
            if not distributed.is_main():
                return RunResult(None, {}, fitted.trained.fit.interrupted)
            return finish_run(config, fitted, run_dir, progress=progress)
    finally:
        # no collective after training: the other ranks leave while rank 0 maps and writes
        if joined:
            distributed.teardown()


def fit_run(
    config: TrainConfig,
    prepared: PreparedScene | None = None,
    *,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> Fitted:
    """The stages of a run up to the trained model: prepare, split, reduce, fit.

    Seeded by ``config.seed`` (and run with ``config.threads``), as every run is. ``config``
    must be validated (with ``scene_given`` when ``prepared`` holds an in-memory scene).
    """
    t_start = time.perf_counter()
    prepared = prepared or prepare(config, progress)
    scene = prepared.scene
    stages.check_trainable(scene, config)
    if config.threads is not None:
        # the thread count changes float reduction order, hence the weights: part of the recipe
        torch.set_num_threads(config.threads)
    seed_everything(config.seed, deterministic=config.deterministic)
    device = distributed.local_device(resolve_device(config.device))

    split = stages.split_pixels(scene, config, log)
    reducer, reduced = stages.reduce(prepared, split, config)
    t_prepared = time.perf_counter()
    trained = stages.fit_model(
        config, scene, reduced, split, device=device, progress=progress, say=log
    )
    return Fitted(scene, split, reducer, reduced, trained, device, t_start, t_prepared - t_start)


def finish_run(
    config: TrainConfig,
    fitted: Fitted,
    run_dir: str | Path | None = None,
    *,
    progress: bool = False,
) -> RunResult:
    """The stages after the fit: map the scene, score the test pixels, write the run folder."""
    scene, split, trained = fitted.scene, fitted.split, fitted.trained
    mapped = stages.map_scene(
        trained.model, fitted.reduced, config, device=fitted.device, progress=progress
    )
    report = stages.score(scene, split, mapped.index)

    timings = {
        "prepare": fitted.prepare_s,
        "train": trained.fit.train_time_s,
        "map": mapped.seconds,
        "total": time.perf_counter() - fitted.started,
    }
    bundle = stages.make_bundle(config, scene, trained, fitted.reducer)
    metrics = stages.run_metrics(config, scene, split, trained, report, timings, fitted.device)
    final_dir = write_run(
        config,
        run_dir,
        bundle=bundle,
        metrics=metrics,
        history=trained.fit.history,
        scene=scene,
        pred_ids=stages.to_ids(mapped.index, scene, unread=scene.meta.get("nonfinite_mask")),
        used=stages.used_mask(scene, split),
        buffer=stages.buffer_mask(scene, split),
        reduced=fitted.reduced,
    )
    return RunResult(final_dir, metrics, trained.fit.interrupted, metrics["notes"])


def predict_run(
    scene_path: str | Path | None,
    out: str | Path,
    *,
    bundle_path: str | Path | None = None,
    runs: str | Path = "runs",
    dataset: str | None = None,
    data_dir: str | Path | None = None,
    labels: str | Path | None = None,
    cube_key: str | None = None,
    labels_key: str | None = None,
    mask: bool = False,
    nonfinite: str = "error",
    method: str = "auto",
    device: str = "auto",
    tta: bool | None = None,
    confidence: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Map a scene with a bundle; write the map in the format ``out``'s suffix names.

    ``confidence``: also each pixel's largest class probability (the softmax of the network's
    logits), beside a .tif or .hdr map as ``<stem>_confidence.tif`` / ``.hdr``.

    ``.png``: the map with its legend, and the ids as ``.npy`` and ``.mat`` beside it;
    ``.tif``: a GeoTIFF (the scene's CRS and transform, a colour table, class names, a QGIS
    style); ``.hdr``: an ENVI classification. With labels also ``<stem>_panels.png`` (RGB view,
    ground truth, prediction, errors) and ``<stem>_metrics.json``. ``tta=None`` maps as the
    model was trained to be mapped (its config's ``tta``).

    The scene is a file (``scene_path``, with ``labels`` for metrics) or a standard scene
    (``dataset``, fetched into ``data_dir``'s cache; its ground truth gives the metrics).
    The bundle is ``bundle_path`` (a ``model.pt`` or a run folder), by default
    ``<runs>/latest``.
    """
    out = Path(out)
    _check_predict_options(out, scene_path, dataset, labels, cube_key, labels_key)
    from hsi.config import CHOICES, Method

    check_choice("method", method, Method.__args__)
    check_choice("nonfinite", nonfinite, CHOICES["nonfinite"])
    if confidence and out.suffix.lower() == ".png":
        raise ConfigError(
            f"confidence: a PNG map cannot hold it; write out {out.with_suffix('.tif').name} "
            "or .hdr",
            params=("confidence", "out"),
        )
    _check_map_target(out, confidence)
    if dataset is not None:
        from hsi.data.fetch import scene_dir
        from hsi.data.registry import get_scene_info

        info = get_scene_info(dataset)  # an unknown name, before the bundle is read
        folder = scene_dir(info, data_dir)
        inputs = [folder / f.filename for f in info.files.values()]
    else:
        inputs = [Path(p) for p in (scene_path, labels) if p is not None]
    _refuse_overwriting_inputs(out, inputs, confidence)
    bundle_file = find_bundle(bundle_path, runs=runs)
    bundle = ModelBundle.load(bundle_file)
    check_map_options(bundle, method=method, device=device, confidence=confidence)
    if dataset is not None:
        from hsi.data.fetch import load_dataset

        scene = load_dataset(dataset, data_dir, progress=progress)
        scene_name, truth_source = scene.name, scene.name
    else:
        scene = read_scene(
            scene_path, labels, cube_key=cube_key, labels_key=labels_key, nonfinite=nonfinite
        )
        scene_name, truth_source = Path(scene_path).name, labels or scene_path
    _check_fits(scene, bundle, bundle_file, scene_name)
    if mask and scene.labels is None:
        raise ConfigError(
            "mask needs the ground truth: pass labels FILE", params=("mask", "labels")
        )

    pixel_mask = (scene.labels != 0) if mask else None
    t0 = time.perf_counter()
    reduced = bundle.reducer().transform(scene.cube)  # the saved PCA, never refitted
    index, probability = _map_with(
        bundle,
        reduced,
        mask=pixel_mask,
        method=method,
        device=resolve_device(device),
        tta=bool(bundle.config.get("tta", False)) if tta is None else tta,
        confidence=confidence,
        progress=progress,
    )
    summary: dict[str, Any] = {
        "bundle": str(bundle_file),
        "pixels": int(index.size if pixel_mask is None else pixel_mask.sum()),
        "seconds": time.perf_counter() - t0,
    }
    class_ids = np.asarray(bundle.class_ids, dtype=np.int64)
    pred_ids = stages.to_ids(index, class_ids, unread=scene.meta.get("nonfinite_mask"))
    if probability is not None:
        probability[pred_ids == 0] = np.nan
    ids, counts = np.unique(pred_ids[pred_ids != 0], return_counts=True)
    summary["histogram"] = {str(int(i)): int(c) for i, c in zip(ids, counts, strict=True)}
    if scene.labels is not None:
        summary["metrics"] = _score_against(scene.labels, index, bundle, truth_source)
    title = f"{Path(scene_name).stem} — {bundle.model_name}"
    summary["outputs"] = _write_prediction(
        out, pred_ids, bundle, scene, summary, title, probability, reduced
    )
    return summary


def _check_predict_options(out, scene_path, dataset, labels, cube_key, labels_key) -> None:
    """One scene (a file or a dataset) and a map format, before anything is read."""
    if (scene_path is None) == (dataset is None):
        raise ConfigError(
            "give exactly one scene to map: a scene FILE or dataset NAME", params=("dataset",)
        )
    check_file_options_absent(dataset, labels, cube_key, labels_key)
    if out.suffix.lower() not in MAP_OUTPUTS:
        raise ConfigError(
            f"out {out}: expected a map file ending in {', '.join(MAP_OUTPUTS)}", params=("out",)
        )


def check_map_options(bundle: ModelBundle, *, method: str, device: str, confidence: bool) -> None:
    """The options of a map that the bundle's model decides, checked before any scene is read:
    the device exists here, ``dense`` needs a whole-scene pass, ``confidence`` probabilities."""
    from hsi.models import model_class

    resolve_device(device)
    family = model_class(bundle.model_name)
    if method == "dense" and not family.supports_dense:
        raise ConfigError(
            f"method dense: model {bundle.model_name} has no whole-scene pass (it needs "
            "stride-1 layers applied to each window alike); use patches or auto",
            params=("method",),
        )
    if confidence and not family.trained_by_gradient:
        raise ConfigError(
            f"confidence: model {bundle.model_name} gives votes, not probabilities",
            params=("confidence",),
        )


def _map_with(
    bundle: ModelBundle,
    reduced: np.ndarray,
    *,
    mask: np.ndarray | None,
    method: str,
    device: torch.device,
    tta: bool,
    confidence: bool,
    progress: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Class indices of every pixel of the reduced scene and, with ``confidence``, the largest
    softmax probability of each — from the same passes."""
    model = bundle.build_model().to(device)
    passes = dict(
        patch=bundle.patch,
        padding=bundle.padding,
        method=method,
        mask=mask,
        device=device,
        progress=progress,
        tta=tta,
    )
    if not confidence:
        return predict_indices(model, reduced, **passes), None
    top = torch.softmax(torch.from_numpy(predict_scores(model, reduced, **passes)), -1).max(-1)
    index = np.where(torch.isnan(top.values).numpy(), -1, top.indices.numpy())
    return index, top.values.numpy().astype(np.float32)


def _check_fits(scene: Scene, bundle: ModelBundle, bundle_file: Path, name: str) -> None:
    """The scene's bands are the model's: as many, and at the same wavelengths when both are
    known (the same count from another sensor or band selection would be read as garbage);
    and the scene is wide enough for the model's windows (the check ``pad_cube`` makes, said
    here about the bundle's window, not a ``--patch`` that ``hsi predict`` has no option for)."""
    if scene.shape[2] != bundle.n_bands:
        raise BundleError(
            f"{name} has {scene.shape[2]} bands but the model {bundle_file} was trained on "
            f"{bundle.n_bands}"
        )
    height, width = scene.shape[:2]
    if not window_fits(bundle.patch, (height, width)):
        raise BundleError(
            f"{name} is {height}×{width} pixels, too small for the {bundle.patch}×"
            f"{bundle.patch} windows of the model {bundle_file}: it needs at least "
            f"{bundle.patch // 2 + 1} pixels each way"
        )
    trained = bundle.info.get("wavelengths")
    if trained is None or scene.wavelengths is None:
        return
    trained = np.asarray(trained, dtype=np.float64)
    gap = np.abs(np.asarray(scene.wavelengths, dtype=np.float64) - trained)
    spacing = float(np.median(np.abs(np.diff(trained)))) if len(trained) > 1 else 0.0
    worst = int(np.argmax(gap))
    if gap[worst] > max(0.5 * spacing, 1.0):  # more than half a band apart
        raise BundleError(
            f"{name}: band {worst + 1} is at {scene.wavelengths[worst]:g} nm but the model "
            f"{bundle_file} was trained on {trained[worst]:g} nm there; the scene comes from "
            "another sensor or band selection"
        )


def _score_against(
    truth_ids: np.ndarray, index: np.ndarray, bundle: ModelBundle, labels_path
) -> dict[str, Any]:
    """Metrics over the labeled pixels whose ids the model knows; others are noted."""
    class_ids = np.asarray(bundle.class_ids, dtype=np.int64)
    truth = ids_to_indices(truth_ids, class_ids)
    scored = truth >= 0
    unknown = (truth_ids != 0) & ~scored
    if not scored.any():
        raise DataError(_nothing_to_score(truth_ids, class_ids, labels_path))
    report = accuracy_report(truth[scored], index[scored], class_ids, list(bundle.class_names))
    if unknown.any():
        extra = sorted(set(np.unique(truth_ids[unknown]).tolist()))
        report["notes"].append(f"ground-truth ids {extra} are unknown to the model; not scored")
    return {k: report[k] for k in ("oa", "aa", "kappa", "per_class", "notes")}


def _write_prediction(
    out: Path,
    pred_ids: np.ndarray,
    bundle: ModelBundle,
    scene: Scene,
    summary: dict[str, Any],
    title: str,
    probability: np.ndarray | None = None,
    reduced: np.ndarray | None = None,
) -> dict[str, str]:
    """The map (and its .npy and .mat beside a .png; panels and metrics with labels): every
    file under a temporary name first, all renamed together at the end."""
    import scipy.io

    from hsi import render
    from hsi.mapfiles import id_dtype, map_paths, write_map

    class_ids = np.asarray(bundle.class_ids, dtype=np.int64)
    palette = np.asarray(bundle.palette, dtype=np.uint8)
    names = bundle.class_names
    with_confidence = probability is not None
    outputs = _output_paths(out, labels=scene.labels is not None, confidence=with_confidence)
    map_files = map_paths(out, confidence=with_confidence)
    with atomic_paths(list(outputs.values())) as tmp_paths:
        tmp = dict(zip(outputs, tmp_paths, strict=True))
        write_map(
            out,
            pred_ids,
            class_ids,
            names,
            palette,
            crs=scene.crs,
            transform=scene.transform,
            confidence=probability,
            title=title,
            tmp_paths=[tmp[_role(out, path)] for path in map_files],
        )
        if "npy" in tmp:
            np.save(tmp["npy"], pred_ids.astype(id_dtype(class_ids, smallest=np.int16)))
            prediction = pred_ids.astype(id_dtype(class_ids, smallest=np.int32))
            scipy.io.savemat(tmp["mat"], {"prediction": prediction}, do_compression=True)
        if scene.labels is not None:
            from hsi.rgb import rgb_title, rgb_view

            gt = np.where(ids_to_indices(scene.labels, class_ids) >= 0, scene.labels, 0)
            rgb = rgb_view(scene.cube, scene.wavelengths, bundle.reducer(), components=reduced)
            view = rgb_title(scene.wavelengths)
            render.save_panels(
                tmp["panels"], gt, pred_ids, class_ids, names, palette, rgb=rgb, rgb_title=view
            )
            tmp["metrics"].write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return {k: str(v) for k, v in outputs.items()}


#: the map formats ``hsi predict --out`` writes, by suffix
MAP_OUTPUTS = (".png", ".tif", ".tiff", ".hdr")


def _role(out: Path, path: Path) -> str:
    """What a file of the map is, for the list ``hsi predict`` prints: map, style (a GeoTIFF's
    QGIS style), image (an ENVI header's data), confidence (and its image). Decided against
    the names :func:`~hsi.mapfiles.map_paths` gives, not by pattern: a map may itself be
    called ``x_confidence.hdr``."""
    # map_paths names it with the suffix in lower case, as it reads the format from it
    confidence = out.with_name(f"{out.stem}_confidence{out.suffix.lower()}")
    roles = {
        out: "map",
        out.with_suffix(".qml"): "style",
        out.with_suffix(".img"): "image",
        confidence: "confidence",
        confidence.with_suffix(".img"): "confidence_image",
    }
    return roles[path]


def _output_paths(out: Path, *, labels: bool, confidence: bool = False) -> dict[str, Path]:
    """Every file ``hsi predict --out OUT`` writes, by role: the map's files (a GeoTIFF's QGIS
    style, an ENVI header's image), the .npy and .mat beside a PNG, panels and metrics."""
    from hsi.mapfiles import map_paths

    outputs = {_role(out, path): path for path in map_paths(out, confidence=confidence)}
    if out.suffix.lower() == ".png":
        outputs.update(npy=out.with_suffix(".npy"), mat=out.with_suffix(".mat"))
    if labels:
        outputs["panels"] = out.with_name(out.stem + "_panels.png")
        outputs["metrics"] = out.with_name(out.stem + "_metrics.json")
    return outputs


def _check_map_target(out: Path, confidence: bool = False) -> None:
    """Before any work: the map's folder can be made and written to, and no output is a folder."""
    check_out_dir(out.parent, "--out", given=out)
    for path in _output_paths(out, labels=True, confidence=confidence).values():
        if path.is_dir():
            raise OutputError(f"--out {out}: {path} is a folder; expected a file name")


def _refuse_overwriting_inputs(out: Path, inputs: list[Path], confidence: bool) -> None:
    """No file the map writes may be one it reads (see :func:`overwritten_input`)."""
    hit = overwritten_input(out, inputs, labels=True, confidence=confidence)
    if hit is not None:
        role, path = hit
        raise ConfigError(
            f"out {out}: its {role} file would overwrite {path}, an input of the map; "
            "write the map under another name or into another folder",
            params=("out",),
        )


@dataclass(frozen=True)
class FilesRead:
    """The files a map reads, by resolved path and by inode (see :func:`files_read`)."""

    paths: frozenset[Path]
    inodes: frozenset[tuple[int, int]]


def files_read(inputs: Iterable[Path]) -> FilesRead:
    """``inputs`` there or not (a dataset's files are downloaded later), and beside an ENVI
    input, under its stem, the header or image it goes with; each once, so that checking many
    maps against many scenes stays linear."""
    from hsi.data.io import ENVI_SUFFIXES

    read = [Path(p) for p in inputs]
    for p in list(read):
        if p.suffix.lower() in ENVI_SUFFIXES:
            stems = [p.with_suffix(s) for s in (*sorted(ENVI_SUFFIXES), "")]
            read += [q for q in stems if q.is_file()]
    inodes = set()
    for p in read:
        try:
            st = p.stat()
        except OSError:  # not there (yet)
            continue
        inodes.add((st.st_dev, st.st_ino))
    return FilesRead(frozenset(p.resolve() for p in read), frozenset(inodes))


def overwritten_input(
    out: Path, inputs: FilesRead | Iterable[Path], *, labels: bool, confidence: bool = False
) -> tuple[str, Path] | None:
    """The first file the map ``out`` writes that is one of ``inputs``, as (role, path); or None.

    ``--out cube.png`` writes cube.mat beside the PNG, and ``--out scene.tif`` would be the scene
    itself. ``labels``: the map also writes its panels and metrics. One file by two names counts:
    the same path once resolved, or (both existing) one inode — a hard link, or another spelling
    on a case-insensitive file system.
    """
    read = inputs if isinstance(inputs, FilesRead) else files_read(inputs)
    for role, path in _output_paths(out, labels=labels, confidence=confidence).items():
        if path.resolve() in read.paths:
            return role, path
        try:
            st = path.stat()
        except OSError:  # not there yet
            continue
        if (st.st_dev, st.st_ino) in read.inodes:
            return role, path
    return None


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
