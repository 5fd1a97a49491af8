"""Seed sweeps: one training run per (training size, seed), in parallel, resumable, summarised.

A sweep lives in one folder, by default ``<out>/sweep_<scene>_<model>/``::

    sweep.json              the options every run shares; a rerun with other options is refused
    ts0.1/seed_0/ ...       one run folder per (training size, seed), exactly as `hsi train`
                            writes it (model.pt, metrics.json, maps, figures)
    sweep.csv               a row per run: seed, OA, AA, Kappa, per-class accuracy, times
    summary.json            per training size: mean, sample std, min, max and 95 % confidence
    summary.md              interval (t distribution) of every metric and every class
    sweep.png               OA, AA and Kappa of every run, box and strip plot

A run counts as finished when its ``metrics.json`` exists and training was not interrupted:
:func:`hsi.experiment.train_run` assembles the folder under a temporary name and renames it when
complete, so rerunning the same command skips finished runs, trains the rest and re-aggregates.

The scene is read once. With ``pca_fit='scene'`` (the PCA does not depend on the split) it is
also reduced once and every run reuses the reduced cube; with ``pca_fit='train'`` each run fits
its own PCA on its own training pixels. Parallel runs use fresh ("spawn") processes, each handed
the prepared scene once when it starts and given ``cores // jobs`` PyTorch threads.

The modules, by job: :mod:`~hsi.sweep.grid` (the axes), :mod:`~hsi.sweep.folder` (run folders,
resumption, the manifest), :mod:`~hsi.sweep.local` (running: this process or a process pool),
:mod:`~hsi.sweep.stats` (statistics) and :mod:`~hsi.sweep.report` (the output files). This
module ties them together in :func:`run_sweep`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hsi.config import TrainConfig
from hsi.errors import ConfigError
from hsi.progress import RunsBar
from hsi.sweep.folder import (
    _check_manifest,
    _write_manifest,
    is_finished,
    run_folder,
    sweep_folder,
)
from hsi.sweep.grid import MAX_SEEDS, parse_seeds, parse_train_sizes, size_label
from hsi.sweep.local import default_threads, run_parallel, run_serial, torch_threads
from hsi.sweep.report import headline, read_rows, rows_csv, summary_markdown, write_outputs
from hsi.sweep.stats import METRIC_LABELS, METRICS, _row, describe, summarize

__all__ = [
    "MAX_SEEDS",
    "METRICS",
    "SweepResult",
    "default_threads",
    "describe",
    "headline",
    "is_finished",
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
    config: TrainConfig,
    seeds: Sequence[int],
    train_sizes: Sequence[float | int] | None = None,
    *,
    folder: str | Path | None = None,
    jobs: int = 1,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> SweepResult:
    """Train one run per (training size, seed) not yet finished, then write the summaries.

    ``jobs=1`` trains in this process, so each run is bit-identical to
    ``train_run(replace(config, seed=s, train_size=t))`` here. ``jobs>1`` trains in that many
    fresh processes with ``cores // jobs`` threads each; the thread count is part of what a
    bit-identical rerun needs (docs/reproducibility.md), so it follows ``jobs``, not how many
    runs happen to be left.

    What the sweep reports (runs skipped, each run finished when there is no progress bar)
    goes to the ``hsi.sweep`` logger at INFO, or to ``log`` instead; each run's own notes go
    to ``hsi.sweep.run`` at DEBUG (they are in its metrics.json).
    """
    say = log or logger.info
    config.validate()
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError("seeds: no seed given", params=("seeds",))
    if any(s < 0 for s in seeds):
        raise ConfigError(f"seeds: seeds must be 0 or more, got {min(seeds)}", params=("seeds",))
    from hsi.seeding import check_seed

    for s in seeds:
        check_seed(s, "seeds")
    sizes = list(dict.fromkeys(train_sizes)) if train_sizes else [config.train_size]
    if jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs}", params=("jobs",))
    folder = Path(folder) if folder is not None else sweep_folder(config)
    from hsi.runfolder import check_out_dir

    check_out_dir(folder, "--out")
    _check_manifest(folder, config)

    plan = [(ts, seed, run_folder(folder, ts, seed)) for ts in sizes for seed in seeds]
    todo = [(ts, seed, path) for ts, seed, path in plan if not is_finished(path)]
    skipped = len(plan) - len(todo)
    if skipped:
        say(f"{skipped} of {len(plan)} runs already finished in {folder}; skipping them")
    if todo:
        from hsi.stages import prepare

        prepared = prepare(config, progress)
        # only now: a scene or option that fails to load must not pin its options on the folder
        _write_manifest(folder, config)
        runner = run_serial if jobs == 1 else run_parallel
        with RunsBar(len(plan), skipped, progress, say) as bar:

            def finished(ts: float | int, seed: int, metrics: dict[str, Any]) -> None:
                scores = "  ".join(
                    f"{METRIC_LABELS[m]} {metrics[m]:.4f}"
                    for m in METRICS
                    if metrics.get(m) is not None
                )
                seconds = metrics.get("timings_s", {}).get("total")
                took = f"  ({seconds:.1f} s)" if seconds is not None else ""
                bar.done(f"train size {size_label(ts)}, seed {seed}: {scores}{took}", scores)

            runner(config, prepared, todo, jobs, finished)

    rows = [_row(ts, seed, path, folder) for ts, seed, path in plan]
    summary = summarize(rows, config=config, seeds=seeds, train_sizes=sizes)
    if config.threads is not None:
        summary["threads_per_run"] = config.threads
    else:
        summary["threads_per_run"] = default_threads(jobs) if jobs > 1 else torch_threads()
    outputs = write_outputs(folder, rows, summary)
    return SweepResult(folder, rows, summary, ran=len(todo), skipped=skipped, outputs=outputs)
