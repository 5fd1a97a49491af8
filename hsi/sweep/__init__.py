"""Seed sweeps: one training run per (model, training size, seed), in parallel, resumable,
summarised.

A sweep lives in one folder, by default ``<out>/sweep_<scene>_<model>/``::

    sweep.json              the options every run shares; a rerun with other options is refused
    ts0.1/seed_0/ ...       one run folder per (training size, seed), exactly as `hsi train`
                            writes it (model.pt, metrics.json, maps, figures)
    sweep.csv               a row per run: model, seed, OA, AA, Kappa, per-class accuracy, times
    summary.json            per (model, training size): mean, sample std, min, max and 95 %
    summary.md              confidence interval (t distribution) of every metric and every class
    sweep.png               OA, AA and Kappa of every run, box and strip plot

A sweep over several models (one config each, differing only in the model, its window, PCA and
options) lives in ``<out>/sweep_<scene>_<m1>+<m2>…/`` with its runs in ``<model>/ts…/seed_…``.

A run counts as finished when its ``metrics.json`` exists and training was not interrupted:
:func:`hsi.experiment.train_run` assembles the folder under a temporary name and renames it when
complete, so rerunning the same command skips finished runs, trains the rest and re-aggregates.

The scene is read once. With ``pca_fit='scene'`` (the PCA does not depend on the split) it is
also reduced once per PCA setting and every run reuses the reduced cube; with
``pca_fit='train'`` each run fits its own PCA on its own training pixels. The runs go to a
backend (:mod:`~hsi.sweep.backend`): ``local`` trains them here or in fresh ("spawn")
processes, each handed the prepared scene once and given ``cores // jobs`` PyTorch threads;
``ray`` sends them to a Ray cluster as tasks, the prepared scene in Ray's object store, and
writes the run folders their workers hand back.

The modules, by job: :mod:`~hsi.sweep.grid` (the axes), :mod:`~hsi.sweep.folder` (run folders,
resumption, the manifest), :mod:`~hsi.sweep.backend` (the interface), :mod:`~hsi.sweep.local`
and :mod:`~hsi.sweep.ray_backend` (running), :mod:`~hsi.sweep.stats` (statistics) and
:mod:`~hsi.sweep.report` (the output files). This module ties them together in
:func:`run_sweep`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsi.config import TrainConfig
from hsi.errors import ConfigError
from hsi.progress import RunsBar
from hsi.sweep.backend import BACKENDS, Backend, RunSpec, make_backend, scene_key
from hsi.sweep.folder import (
    _check_manifest,
    _manifest_written,
    _shared_options,
    is_finished,
    run_folder,
    sweep_folder,
)
from hsi.sweep.grid import MAX_SEEDS, parse_models, parse_seeds, parse_train_sizes, size_label
from hsi.sweep.local import default_threads, torch_threads
from hsi.sweep.report import headline, read_rows, rows_csv, summary_markdown, write_outputs
from hsi.sweep.stats import METRIC_LABELS, METRICS, _row, describe, summarize

if TYPE_CHECKING:
    from hsi.stages import PreparedScene

__all__ = [
    "BACKENDS",
    "MAX_SEEDS",
    "METRICS",
    "Backend",
    "RunSpec",
    "SweepResult",
    "default_threads",
    "describe",
    "headline",
    "is_finished",
    "make_backend",
    "parse_models",
    "parse_seeds",
    "parse_train_sizes",
    "read_rows",
    "rows_csv",
    "run_folder",
    "run_sweep",
    "size_label",
    "summarize",
    "summary_markdown",
    "sweep_folder",
    "write_outputs",
]


logger = logging.getLogger(__name__)


@dataclass
class SweepResult:
    folder: Path
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    ran: int = 0
    skipped: int = 0
    outputs: dict[str, Path] = field(default_factory=dict)


def run_sweep(
    config: TrainConfig | Sequence[TrainConfig],
    seeds: Sequence[int],
    train_sizes: Sequence[float | int] | None = None,
    *,
    folder: str | Path | None = None,
    jobs: int = 1,
    backend: str | Backend = "local",
    address: str | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> SweepResult:
    """Train one run per (model, training size, seed) not yet finished, then write the summaries.

    ``config``: one config, or one per model (a sweep over several models; they may differ only
    in the model, its window, PCA and options). ``backend``: ``"local"``, ``"ray"`` (``address``:
    an existing cluster; none: a local Ray started and stopped here) or a :class:`Backend`.

    Local with ``jobs=1`` trains in this process, so each run is bit-identical to
    ``train_run(replace(config, seed=s, train_size=t))`` here. ``jobs>1`` (and Ray) give each
    run ``cores // jobs`` threads unless ``config.threads`` says otherwise; the thread count is
    part of what a bit-identical rerun needs (docs/reproducibility.md), so it follows ``jobs``,
    not how many runs happen to be left.

    What the sweep reports (runs skipped, each run finished when there is no progress bar)
    goes to the ``hsi.sweep`` logger at INFO, or to ``log`` instead; each run's own notes go
    to ``hsi.sweep.run`` at DEBUG (they are in its metrics.json).
    """
    say = log or logger.info
    configs = [config] if isinstance(config, TrainConfig) else list(config)
    if not configs:
        raise ConfigError("models: no model given", params=("models",))
    for c in configs:
        c.validate()
    models = [c.model for c in configs]
    if len(set(models)) < len(models):
        raise ConfigError(f"models: each model once, got {', '.join(models)}", params=("models",))
    _shared_options(configs)  # the models share every other option
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError("seeds: no seed given", params=("seeds",))
    if any(s < 0 for s in seeds):
        raise ConfigError(f"seeds: seeds must be 0 or more, got {min(seeds)}", params=("seeds",))
    from hsi.seeding import check_seed

    for s in seeds:
        check_seed(s, "seeds")
    sizes = list(dict.fromkeys(train_sizes)) if train_sizes else [configs[0].train_size]
    from hsi.splits import check_size

    for ts in sizes:  # each, before the first run trains
        check_size("train_size", ts)
    if backend == "local":  # a Ray cluster's workers may have devices this process has not
        from hsi.stages import resolve_device

        for c in configs:
            resolve_device(c.device)
    if isinstance(backend, str):
        backend = make_backend(backend, jobs=jobs, address=address)
    folder = Path(folder) if folder is not None else sweep_folder(configs)
    from hsi.runfolder import check_out_dir

    check_out_dir(folder, "--out")
    _check_manifest(folder, configs)
    if any(c.tta and not c.augment for c in configs):
        # once here: each run's own notes are DEBUG records, hidden by default
        from hsi.stages import TTA_WITHOUT_AUGMENT

        (log or logger.warning)(TTA_WITHOUT_AUGMENT)

    several = len(configs) > 1
    plan = [
        RunSpec(
            dataclasses.replace(c, seed=seed, train_size=ts),
            run_folder(folder, ts, seed, c.model if several else None),
        )
        for c in configs
        for ts in sizes
        for seed in seeds
    ]
    todo = [spec for spec in plan if not is_finished(spec.run_dir)]
    skipped = len(plan) - len(todo)
    if skipped:
        say(f"{skipped} of {len(plan)} runs already finished in {folder}; skipping them")
    if todo:
        scenes = _prepare(configs, progress)
        # only now: a scene or option that fails to load must not pin its options on the folder
        with _manifest_written(folder, configs), RunsBar(len(plan), skipped, progress, say) as bar:

            def finished(spec: RunSpec, metrics: dict[str, Any]) -> None:
                scores = "  ".join(
                    f"{METRIC_LABELS[m]} {metrics[m]:.4f}"
                    for m in METRICS
                    if metrics.get(m) is not None
                )
                seconds = metrics.get("timings_s", {}).get("total")
                took = f"  ({seconds:.1f} s)" if seconds is not None else ""
                which = f"{spec.model}, " if several else ""
                run = f"{which}train size {size_label(spec.train_size)}, seed {spec.seed}"
                bar.done(f"{run}: {scores}{took}", scores)

            backend.run(todo, scenes, finished)

    rows = [_row(spec.train_size, spec.seed, spec.run_dir, folder, spec.model) for spec in plan]
    summary = summarize(rows, config=configs, seeds=seeds, train_sizes=sizes)
    counts = sorted({row["threads"] for row in rows if row.get("threads") is not None})
    if len(counts) > 1:
        summary["threads_per_run"] = counts
    elif counts:
        summary["threads_per_run"] = counts[0]
    else:  # runs written before metrics.json recorded their threads
        threads = backend.threads(configs[0])
        summary["threads_per_run"] = threads if threads is not None else torch_threads()
    summary["backend"] = backend.name
    outputs = write_outputs(folder, rows, summary)
    return SweepResult(folder, rows, summary, ran=len(todo), skipped=skipped, outputs=outputs)


def _prepare(configs: Sequence[TrainConfig], progress: bool) -> dict[Hashable, PreparedScene]:
    """The scene read once, reduced once per PCA setting the models need: by :func:`scene_key`."""
    from hsi.preprocess import PCAReducer
    from hsi.stages import PreparedScene, check_trainable, prepare

    first = prepare(configs[0], progress)
    scenes = {scene_key(configs[0]): first}
    for c in configs[1:]:
        check_trainable(first.scene, c)
        key = scene_key(c)
        if key in scenes:
            continue
        if c.pca_fit == "scene":
            reducer = PCAReducer(c.pca, whiten=c.whiten).fit(first.scene.cube)
            scenes[key] = PreparedScene(first.scene, reducer, reducer.transform(first.scene.cube))
        else:
            scenes[key] = PreparedScene(first.scene)
    return scenes
