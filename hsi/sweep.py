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
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hsi.atomic import write_text
from hsi.config import TrainConfig
from hsi.errors import ConfigError, HSIError

METRICS = ("oa", "aa", "kappa")
METRIC_LABELS = {"oa": "OA", "aa": "AA", "kappa": "Kappa"}
# Options that may change between an interrupted sweep and its resumption: they either vary
# per run, or do not change any result (DataLoader workers; see docs/reproducibility.md).
_FREE_OPTIONS = ("seed", "train_size", "out", "quiet", "workers", "data_dir")
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")
# A sweep trains one run per seed: far more than this is a typo (0-100000000000), not a plan,
# and building the list alone would exhaust the memory.
MAX_SEEDS = 10_000


@dataclass
class SweepResult:
    folder: Path
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    ran: int = 0
    skipped: int = 0
    outputs: dict[str, Path] = field(default_factory=dict)


# ----------------------------------------------------------------------------- parsing
def parse_seeds(text: str) -> list[int]:
    """``"0-9"``, ``"0,3,7"``, ``"0-4,10"`` → seeds in the order given, each once."""
    from hsi.seeding import check_seed

    seeds: list[int] = []
    count = 0
    for part in str(text).split(","):
        match = _RANGE.match(part.strip())
        if not match:
            raise ConfigError(
                f"--seeds: expected non-negative seeds like 0-9, 0,3,7 or 0-4,10, got {text!r}"
            )
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise ConfigError(
                f"--seeds: range {part.strip()!r} runs backwards; write {last}-{first}"
            )
        check_seed(last, "--seeds")
        count += last - first + 1
        if count > MAX_SEEDS:
            raise ConfigError(
                f"--seeds {text}: {count:,} seeds or more; a sweep takes at most {MAX_SEEDS:,}"
            )
        seeds.extend(range(first, last + 1))
    return list(dict.fromkeys(seeds))


def parse_train_sizes(text: str | float | int | Sequence[float | int]) -> list[float | int]:
    """``"0.05,0.1,0.3"`` → ``[0.05, 0.1, 0.3]``; each element as ``--train-size`` reads it."""
    from hsi.splits import parse_size

    if isinstance(text, (int, float)):
        return [text]
    parts = text.split(",") if isinstance(text, str) else list(text)
    sizes: list[float | int] = []
    for part in parts:
        if isinstance(part, (int, float)):
            sizes.append(part)
            continue
        if not part.strip():
            raise ConfigError(f"--train-size: empty element in {text!r}")
        try:
            sizes.append(parse_size(part.strip()))
        except ConfigError as exc:
            raise ConfigError(f"--train-size: {exc}") from None
    return list(dict.fromkeys(sizes))


def size_label(size: float | int) -> str:
    """Folder-safe text for a training size: 0.1 → ``0.1``, 50 → ``50``."""
    return str(size) if isinstance(size, int) else f"{size:g}"


def sweep_folder(config: TrainConfig) -> Path:
    """``<out>/sweep_<scene>_<model>``: where a sweep over ``config`` lives by default."""
    return Path(config.out) / f"sweep_{config.scene_name}_{config.model}"


def run_folder(folder: Path, train_size: float | int, seed: int) -> Path:
    return Path(folder) / f"ts{size_label(train_size)}" / f"seed_{seed}"


def is_finished(run_dir: Path) -> bool:
    """A complete, uninterrupted run: its metrics.json exists and says so."""
    metrics = _read_metrics(run_dir)
    return metrics is not None and not metrics.get("training", {}).get("interrupted", False)


def default_threads(jobs: int) -> int:
    """PyTorch threads per parallel run: the usable cores shared out evenly."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, jobs))


# ----------------------------------------------------------------------------- running
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
    """
    say = log or (lambda msg: None)
    config.validate()
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError("--seeds: no seed given")
    if any(s < 0 for s in seeds):
        raise ConfigError(f"--seeds: seeds must be 0 or more, got {min(seeds)}")
    from hsi.seeding import check_seed

    for s in seeds:
        check_seed(s, "--seeds")
    sizes = list(dict.fromkeys(train_sizes)) if train_sizes else [config.train_size]
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
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
        from hsi.experiment import prepare

        prepared = prepare(config, progress)
        # only now: a scene or option that fails to load must not pin its options on the folder
        _write_manifest(folder, config)
        runner = _run_serial if jobs == 1 else _run_parallel
        with _SweepProgress(len(plan), skipped, progress, say) as bar:
            runner(config, prepared, todo, jobs, bar)

    rows = [_row(ts, seed, path, folder) for ts, seed, path in plan]
    summary = summarize(rows, config=config, seeds=seeds, train_sizes=sizes)
    if config.threads is not None:
        summary["threads_per_run"] = config.threads
    else:
        summary["threads_per_run"] = default_threads(jobs) if jobs > 1 else _torch_threads()
    outputs = write_outputs(folder, rows, summary)
    return SweepResult(folder, rows, summary, ran=len(todo), skipped=skipped, outputs=outputs)


def _run_serial(config, prepared, todo, jobs, bar) -> None:
    from hsi.experiment import train_run

    for ts, seed, path in todo:
        run_config = dataclasses.replace(config, seed=seed, train_size=ts, quiet=True)
        result = train_run(run_config, prepared, run_dir=path, progress=False)
        if result.interrupted:
            raise KeyboardInterrupt
        bar.done(ts, seed, result.metrics)


def _run_parallel(config, prepared, todo, jobs, bar) -> None:
    import multiprocessing

    # "spawn": forking a process whose OpenMP/BLAS threads already ran (the PCA above) can
    # deadlock the child; a fresh interpreter cannot.
    context = multiprocessing.get_context("spawn")
    threads = default_threads(jobs)
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(todo)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(prepared, threads),
    )
    pending: dict[Future, tuple] = {}
    try:
        for ts, seed, path in todo:
            run_config = dataclasses.replace(config, seed=seed, train_size=ts, quiet=True)
            future = pool.submit(_worker_run, run_config, str(path))
            pending[future] = (ts, seed, path)
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                ts, seed, path = pending.pop(future)
                interrupted = future.result()  # re-raises a worker's error here
                if interrupted:
                    raise KeyboardInterrupt
                bar.done(ts, seed, _read_metrics(path) or {})
    except KeyboardInterrupt:
        # Stop now: a run cut short is trained again on resume anyway (train_run only renames
        # a complete folder into place), and finished runs stay on disk.
        for future in pending:
            future.cancel()
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    except BaseException:
        # One run failed: start no other, but let the running ones finish and be kept.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


_WORKER: dict[str, Any] = {}


def _init_worker(prepared: Any, threads: int) -> None:
    import signal

    import torch

    # Ctrl-C reaches the whole process group; the parent alone handles it (see _run_parallel),
    # so an idle worker does not die with a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    _WORKER["prepared"] = prepared


def _worker_run(config: TrainConfig, run_dir: str) -> bool:
    from hsi.experiment import train_run

    result = train_run(config, _WORKER["prepared"], run_dir=run_dir, progress=False)
    return result.interrupted


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


class _SweepProgress:
    """A bar over the sweep's runs on a terminal; otherwise a line per finished run."""

    def __init__(self, total: int, skipped: int, enabled: bool, say: Callable[[str], None]):
        self.total, self.count, self.enabled, self.say = total, skipped, enabled, say
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._p = Progress(
                TextColumn("[bold]sweep"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[last]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._task = self._p.add_task("sweep", total=total, completed=skipped, last="")

    def __enter__(self) -> _SweepProgress:
        if self.enabled:
            self._p.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self._p.__exit__(*exc)

    def done(self, ts: float | int, seed: int, metrics: dict[str, Any]) -> None:
        self.count += 1
        scores = "  ".join(
            f"{METRIC_LABELS[m]} {metrics[m]:.4f}" for m in METRICS if metrics.get(m) is not None
        )
        seconds = metrics.get("timings_s", {}).get("total")
        took = f"  ({seconds:.1f} s)" if seconds is not None else ""
        line = f"[{self.count}/{self.total}] train size {size_label(ts)}, seed {seed}: {scores}"
        if self.enabled:
            self._p.console.print(line + took, highlight=False)
            self._p.update(self._task, advance=1, last=f"last: {scores}")
        else:
            self.say(line + took)


# ----------------------------------------------------------------------------- the manifest
def _shared_options(config: TrainConfig) -> dict[str, Any]:
    options = {k: v for k, v in config.to_dict().items() if k not in _FREE_OPTIONS}
    for key in ("scene", "labels"):
        if options.get(key) is not None:
            options[key] = str(Path(options[key]).resolve())
    return options


def _check_manifest(folder: Path, config: TrainConfig) -> None:
    """Refuse to resume a sweep made with other options: its runs would not be comparable."""
    path = folder / "sweep.json"
    options = _shared_options(config)
    if path.exists():
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))["options"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{path}: not a sweep manifest ({exc}); delete it or pick another --out"
            ) from None
        changed = [
            f"{key}: {recorded.get(key)!r} → {options.get(key)!r}"
            for key in sorted(set(recorded) | set(options))
            if recorded.get(key) != options.get(key)
        ]
        # with no finished run there is nothing to mix up: the new options take the folder over
        if changed and any(is_finished(p) for p in folder.glob("ts*/seed_*")):
            raise ConfigError(
                f"{folder} holds a sweep made with other options ({'; '.join(changed)}); "
                "pass another --out or delete that folder"
            )


def _write_manifest(folder: Path, config: TrainConfig) -> None:
    from hsi.experiment import versions

    manifest = {"options": _shared_options(config), "versions": versions()}
    write_text(folder / "sweep.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")


# ----------------------------------------------------------------------------- aggregation
def _read_metrics(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(run_dir) / "metrics.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # unreadable: train it again


def _row(ts: float | int, seed: int, run_dir: Path, folder: Path) -> dict[str, Any]:
    metrics = _read_metrics(run_dir)
    if metrics is None:
        raise HSIError(f"{run_dir}: the run has no metrics.json after the sweep")
    row: dict[str, Any] = {"train_size": ts, "seed": seed}
    row.update({m: metrics[m] for m in METRICS})
    for cid, entry in metrics["per_class"].items():
        row[f"class_{cid}"] = entry["accuracy"]
    timings, training = metrics.get("timings_s", {}), metrics.get("training", {})
    row["train_time_s"] = timings.get("train")
    row["total_time_s"] = timings.get("total")
    row["best_epoch"] = training.get("best_epoch")
    row["epochs_run"] = training.get("epochs_run")
    row["test_pixels"] = metrics.get("split", {}).get("test")
    row["run"] = Path(run_dir).relative_to(folder).as_posix()
    row["_class_names"] = {cid: e["name"] for cid, e in metrics["per_class"].items()}
    return row


def describe(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean, sample std (ddof=1), min, max and 95 % t-interval of the finite values.

    With a single value the spread is unknown: std and the interval are ``None``.
    """
    x = np.asarray([v for v in values if v is not None], dtype=np.float64)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None, "ci95": None}
    mean = float(np.mean(x))
    out: dict[str, Any] = {"n": n, "mean": mean, "std": None, "min": float(x.min())}
    out["max"] = float(x.max())
    out["ci95"] = None
    if n > 1:
        from scipy import stats

        std = float(np.std(x, ddof=1))
        half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
        out["std"] = std
        out["ci95"] = [mean - half, mean + half]
    return out


def summarize(
    rows: Sequence[dict[str, Any]],
    *,
    config: TrainConfig | None = None,
    seeds: Sequence[int] | None = None,
    train_sizes: Sequence[float | int] | None = None,
) -> dict[str, Any]:
    """Statistics per training size over the runs' rows (see :func:`describe`)."""
    sizes = list(dict.fromkeys(row["train_size"] for row in rows))
    class_cols = _class_columns(rows)
    names: dict[str, str] = {}
    for row in rows:
        names.update(row.get("_class_names", {}))
    groups = []
    for ts in sizes:
        sel = [row for row in rows if row["train_size"] == ts]
        groups.append(
            {
                "train_size": ts,
                "runs": len(sel),
                "seeds": [row["seed"] for row in sel],
                "metrics": {m: describe([row[m] for row in sel]) for m in METRICS},
                "train_time_s": describe([row.get("train_time_s") for row in sel]),
                "per_class": {
                    col[len("class_") :]: {
                        "name": names.get(col[len("class_") :], col),
                        **describe([row.get(col) for row in sel]),
                    }
                    for col in class_cols
                },
            }
        )
    summary: dict[str, Any] = {"runs": len(rows), "groups": groups}
    if config is not None:
        summary.update(scene=config.scene_name, model=config.model, config=config.to_dict())
        summary["config"].pop("seed")
        summary["config"].pop("train_size")
    if seeds is not None:
        summary["seeds"] = list(seeds)
    if train_sizes is not None:
        summary["train_sizes"] = list(train_sizes)
    return summary


def _class_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    cols: dict[str, None] = {}
    for row in rows:
        cols.update((k, None) for k in row if k.startswith("class_"))
    return list(cols)


# ----------------------------------------------------------------------------- outputs
def write_outputs(
    folder: Path, rows: Sequence[dict[str, Any]], summary: dict[str, Any]
) -> dict[str, Path]:
    """sweep.csv, summary.json, summary.md and sweep.png, each written atomically."""
    from hsi import render

    folder = Path(folder)
    outputs = {
        "csv": folder / "sweep.csv",
        "json": folder / "summary.json",
        "markdown": folder / "summary.md",
        "plot": folder / "sweep.png",
    }
    write_text(outputs["csv"], rows_csv(rows))
    write_text(outputs["json"], json.dumps(summary, indent=2, allow_nan=False) + "\n")
    write_text(outputs["markdown"], summary_markdown(summary))
    several = len(summary["groups"]) > 1
    render.save_sweep_plot(
        outputs["plot"], list(rows), METRICS, group_by="train_size" if several else None
    )
    return outputs


def rows_csv(rows: Sequence[dict[str, Any]]) -> str:
    head = ["train_size", "seed", *METRICS]
    tail = ["train_time_s", "total_time_s", "best_epoch", "epochs_run", "test_pixels", "run"]
    columns = head + _class_columns(rows) + tail
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        # repr() of a float round-trips exactly, so the CSV holds the very numbers summarised
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})
    return buf.getvalue()


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """sweep.csv back as rows of numbers (empty cells → None)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = []
        for raw in csv.DictReader(fh):
            row: dict[str, Any] = {}
            for key, text in raw.items():
                row[key] = text if key == "run" else _number(text)
            rows.append(row)
    return rows


def _number(text: str) -> float | int | None:
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def _pm(stats: dict[str, Any], scale: float = 100.0, digits: int = 2) -> str:
    if stats["mean"] is None:
        return "–"
    mean = f"{stats['mean'] * scale:.{digits}f}"
    return mean if stats["std"] is None else f"{mean} ± {stats['std'] * scale:.{digits}f}"


def _num(value: float | None, scale: float = 100.0, digits: int = 2) -> str:
    return "–" if value is None else f"{value * scale:.{digits}f}"


def _ci(stats: dict[str, Any], scale: float = 100.0, digits: int = 2) -> str:
    if stats["ci95"] is None:
        return "–"
    lo, hi = stats["ci95"]
    return f"[{lo * scale:.{digits}f}, {hi * scale:.{digits}f}]"


def headline(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the main table: per training size, runs and mean ± std of OA/AA/Kappa."""
    header = ["train size", "runs", "OA (%)", "AA (%)", "Kappa (×100)", "train time (s)"]
    rows = []
    for g in summary["groups"]:
        time_s = g["train_time_s"]
        rows.append(
            [
                size_label(g["train_size"]),
                str(g["runs"]),
                *(_pm(g["metrics"][m]) for m in METRICS),
                _pm(time_s, scale=1.0, digits=1),
            ]
        )
    return header, rows


def summary_markdown(summary: dict[str, Any]) -> str:
    title = " — ".join(str(summary[k]) for k in ("scene", "model") if k in summary)
    lines = [f"# Sweep{': ' + title if title else ''}", ""]
    seeds = summary.get("seeds")
    if seeds is not None:
        lines.append(f"Seeds: {_seed_text(seeds)} ({len(seeds)} per training size).")
    lines.append(
        "Scores in % (Kappa ×100): mean ± sample standard deviation over seeds; the 95 % "
        "confidence interval of the mean uses the t distribution."
    )
    threads = summary.get("threads_per_run")
    if threads is not None:
        lines.append(
            f"Each run trained with {threads} PyTorch thread(s); on this machine "
            f"`hsi train --threads {threads}` with the same options, `--seed` and "
            "`--train-size` repeats a run bit for bit."
        )
    lines.append("")
    header, rows = headline(summary)
    lines += _md_table(header, rows) + [""]

    lines += ["## OA, AA and Kappa", ""]
    detail = []
    for g in summary["groups"]:
        for m in METRICS:
            s = g["metrics"][m]
            detail.append(
                [
                    size_label(g["train_size"]),
                    METRIC_LABELS[m],
                    _pm(s),
                    _num(s["min"]),
                    _num(s["max"]),
                    _ci(s),
                ]
            )
    cols = ["train size", "metric", "mean ± std", "min", "max", "95 % CI"]
    lines += _md_table(cols, detail) + [""]

    for g in summary["groups"]:
        lines += [f"## Per-class accuracy (%), train size {size_label(g['train_size'])}", ""]
        per_class = [
            [cid, s["name"], _pm(s), _num(s["min"]), _num(s["max"]), _ci(s), str(s["n"])]
            for cid, s in g["per_class"].items()
        ]
        cols = ["class", "name", "mean ± std", "min", "max", "95 % CI", "runs"]
        lines += _md_table(cols, per_class) + [""]
    return "\n".join(lines)


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return [line(header), "|" + "|".join("---" for _ in header) + "|", *map(line, rows)]


def _seed_text(seeds: Sequence[int]) -> str:
    """Compact ranges: [0, 1, 2, 3, 7] → ``0-3, 7``."""
    parts, start, prev = [], None, None
    for s in seeds:
        if start is not None and s == prev + 1:
            prev = s
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = s
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return ", ".join(parts)
