"""Statistics over a sweep's runs: one row per run, mean / std / min / max / 95 % CI per metric."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hsi.config import TrainConfig
from hsi.errors import HSIError
from hsi.sweep.folder import _read_metrics

METRICS = ("oa", "aa", "kappa")

METRIC_LABELS = {"oa": "OA", "aa": "AA", "kappa": "Kappa"}

# The values each score can take: a t-interval over two or three seeds is wide enough to leave
# them (an OA interval reaching 104 %), and a mean outside them is impossible, not uncertain.
ACCURACY_RANGE = (0.0, 1.0)
METRIC_RANGES = {"oa": ACCURACY_RANGE, "aa": ACCURACY_RANGE, "kappa": (-1.0, 1.0)}


def _row(
    ts: float | int, seed: int, run_dir: Path, folder: Path, model: str | None = None
) -> dict[str, Any]:
    metrics = _read_metrics(run_dir)
    if metrics is None:
        raise HSIError(f"{run_dir}: the run has no metrics.json after the sweep")
    if model is None:
        model = metrics.get("config", {}).get("model")
    row: dict[str, Any] = {"model": model, "train_size": ts, "seed": seed}
    row.update({m: metrics[m] for m in METRICS})
    for cid, entry in metrics["per_class"].items():
        row[f"class_{cid}"] = entry["accuracy"]
    timings, training = metrics.get("timings_s", {}), metrics.get("training", {})
    row["train_time_s"] = timings.get("train")
    row["total_time_s"] = timings.get("total")
    row["best_epoch"] = training.get("best_epoch")
    row["epochs_run"] = training.get("epochs_run")
    row["test_pixels"] = metrics.get("split", {}).get("test")
    # the weights depend on it: a sweep resumed with another --jobs trains with another count
    row["threads"] = metrics.get("reproducibility", {}).get("torch_threads")
    row["run"] = Path(run_dir).relative_to(folder).as_posix()
    row["_class_names"] = {cid: e["name"] for cid, e in metrics["per_class"].items()}
    return row


def describe(
    values: Sequence[float | None], *, bounds: tuple[float, float] | None = None
) -> dict[str, Any]:
    """Mean, sample std (ddof=1), min, max and 95 % t-interval of the finite values.

    With a single value the spread is unknown: std and the interval are ``None``. ``bounds``
    are the values the quantity can take; the interval is clipped to them.
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
        lo, hi = mean - half, mean + half
        if bounds is not None:
            lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
        out["ci95"] = [lo, hi]
    return out


def summarize(
    rows: Sequence[dict[str, Any]],
    *,
    config: TrainConfig | Sequence[TrainConfig] | None = None,
    seeds: Sequence[int] | None = None,
    train_sizes: Sequence[float | int] | None = None,
) -> dict[str, Any]:
    """Statistics per (model, training size) over the runs' rows (see :func:`describe`).

    ``groups`` lists them model by model, each group naming its ``model`` (when the rows do).
    """
    keys = list(dict.fromkeys((row.get("model"), row["train_size"]) for row in rows))
    class_cols = _class_columns(rows)
    names: dict[str, str] = {}
    for row in rows:
        names.update(row.get("_class_names", {}))
    groups = []
    for model, ts in keys:
        sel = [row for row in rows if (row.get("model"), row["train_size"]) == (model, ts)]
        groups.append(
            {
                **({} if model is None else {"model": model}),
                "train_size": ts,
                "runs": len(sel),
                "seeds": [row["seed"] for row in sel],
                "metrics": {
                    m: describe([row[m] for row in sel], bounds=METRIC_RANGES[m]) for m in METRICS
                },
                "train_time_s": describe(
                    [row.get("train_time_s") for row in sel], bounds=(0.0, math.inf)
                ),
                "per_class": {
                    col[len("class_") :]: {
                        "name": names.get(col[len("class_") :], col),
                        **describe([row.get(col) for row in sel], bounds=ACCURACY_RANGE),
                    }
                    for col in class_cols
                },
            }
        )
    summary: dict[str, Any] = {"runs": len(rows), "groups": groups}
    models = list(dict.fromkeys(model for model, _ in keys if model is not None))
    if models:
        summary["models"] = models
    if config is not None:
        configs = [config] if isinstance(config, TrainConfig) else list(config)
        recipes = {c.model: _recipe(c) for c in configs}
        summary.update(scene=configs[0].scene_name, model="+".join(recipes))
        summary["models"] = list(recipes)
        if len(configs) == 1:
            summary["config"] = recipes[configs[0].model]
        else:
            summary["configs"] = recipes
    if seeds is not None:
        summary["seeds"] = list(seeds)
    if train_sizes is not None:
        summary["train_sizes"] = list(train_sizes)
    return summary


def _recipe(config: TrainConfig) -> dict[str, Any]:
    options = config.to_dict()
    options.pop("seed")
    options.pop("train_size")
    return options


def _class_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    cols: dict[str, None] = {}
    for row in rows:
        cols.update((k, None) for k in row if k.startswith("class_"))
    return list(cols)
