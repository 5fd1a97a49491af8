"""A sweep's outputs: sweep.csv, summary.json, summary.md and sweep.png."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hsi.atomic import write_text
from hsi.sweep.grid import size_label
from hsi.sweep.stats import METRIC_LABELS, METRICS, _class_columns
from hsi.tables import csv_text, markdown_table, mean_pm_std


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
    plot_rows, group_by = _plot_groups(rows)
    render.save_sweep_plot(outputs["plot"], plot_rows, METRICS, group_by=group_by)
    return outputs


def _plot_groups(rows: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """One box per model, per training size, or per (model, training size): what varies."""
    models = list(dict.fromkeys(row.get("model") for row in rows))
    sizes = list(dict.fromkeys(row["train_size"] for row in rows))
    if len(models) > 1 and len(sizes) > 1:
        key = "model, train size"
        labelled = [{**row, key: f"{row['model']} {size_label(row['train_size'])}"} for row in rows]
        return labelled, key
    if len(models) > 1:
        return list(rows), "model"
    return list(rows), "train_size" if len(sizes) > 1 else None


def rows_csv(rows: Sequence[dict[str, Any]]) -> str:
    """sweep.csv: a row per run, the per-class accuracies between the scores and the times."""
    head = ["model", "train_size", "seed", *METRICS]
    tail = ["train_time_s", "total_time_s", "best_epoch", "epochs_run", "test_pixels"]
    tail += ["threads", "run"]
    return csv_text(rows, head + _class_columns(rows) + tail)


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """sweep.csv back as rows of numbers (empty cells → None)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = []
        for raw in csv.DictReader(fh):
            row: dict[str, Any] = {}
            for key, text in raw.items():
                row[key] = text if key in _TEXT_COLUMNS else _number(text)
            rows.append(row)
    return rows


_TEXT_COLUMNS = ("model", "run")


def _number(text: str) -> float | int | None:
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def _pm(stats: dict[str, Any], scale: float = 100.0, digits: int = 2) -> str:
    return mean_pm_std(stats["mean"], stats["std"], scale=scale, digits=digits)


def _num(value: float | None, scale: float = 100.0, digits: int = 2) -> str:
    return "–" if value is None else f"{value * scale:.{digits}f}"


def _ci(stats: dict[str, Any], scale: float = 100.0, digits: int = 2) -> str:
    if stats["ci95"] is None:
        return "–"
    lo, hi = stats["ci95"]
    return f"[{lo * scale:.{digits}f}, {hi * scale:.{digits}f}]"


def _several_models(summary: dict[str, Any]) -> bool:
    return len({g.get("model") for g in summary["groups"]}) > 1


def headline(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the main table: per training size (and model, when there are several),
    runs and mean ± std of OA/AA/Kappa."""
    several = _several_models(summary)
    header = ["train size", "runs", "OA (%)", "AA (%)", "Kappa (×100)", "train time (s)"]
    header = ["model", *header] if several else header
    rows = []
    for g in summary["groups"]:
        time_s = g["train_time_s"]
        rows.append(
            [
                *([str(g.get("model"))] if several else []),
                size_label(g["train_size"]),
                str(g["runs"]),
                *(_pm(g["metrics"][m]) for m in METRICS),
                _pm(time_s, scale=1.0, digits=1),
            ]
        )
    return header, rows


def summary_markdown(summary: dict[str, Any]) -> str:
    several = _several_models(summary)
    parts = [str(summary["scene"])] if "scene" in summary else []
    if several:
        parts.append(", ".join(dict.fromkeys(str(g.get("model")) for g in summary["groups"])))
    elif "model" in summary:
        parts.append(str(summary["model"]))
    title = " — ".join(parts)
    lines = [f"# Sweep{': ' + title if title else ''}", ""]
    seeds = summary.get("seeds")
    if seeds is not None:
        per = "model and training size" if several else "training size"
        lines.append(f"Seeds: {_seed_text(seeds)} ({len(seeds)} per {per}).")
    lines.append(
        "Scores in % (Kappa ×100): mean ± sample standard deviation over seeds; the 95 % "
        "confidence interval of the mean uses the t distribution, clipped to the scores' range "
        "(0–100 %, Kappa −100–100)."
    )
    threads = summary.get("threads_per_run")
    if isinstance(threads, list):  # resumed with another --jobs: each run has its own count
        counts = " or ".join(map(str, threads))
        lines.append(
            f"Runs trained with {counts} PyTorch threads (sweep.csv's `threads` column, per "
            "run); on this machine `hsi train --threads N` with a run's own N, the same "
            "options, `--seed` and `--train-size` repeats it bit for bit."
        )
    elif threads is not None:
        lines.append(
            f"Each run trained with {threads} PyTorch "
            f"{'thread' if threads == 1 else 'threads'}; on this machine "
            f"`hsi train --threads {threads}` with the same options, `--seed` and "
            "`--train-size` repeats a run bit for bit."
        )
    lines.append("")
    header, rows = headline(summary)
    lines += markdown_table(header, rows) + [""]
    if not several:
        return "\n".join(lines + _details(summary["groups"], "##"))
    for model in dict.fromkeys(g.get("model") for g in summary["groups"]):
        lines += [f"## {model}", ""]
        lines += _details([g for g in summary["groups"] if g.get("model") == model], "###")
    return "\n".join(lines)


def _details(groups: Sequence[dict[str, Any]], level: str) -> list[str]:
    """The OA/AA/Kappa table and the per-class tables of ``groups`` (one model's)."""
    lines = [f"{level} OA, AA and Kappa", ""]
    detail = []
    for g in groups:
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
    lines += markdown_table(cols, detail) + [""]

    for g in groups:
        lines += [f"{level} Per-class accuracy (%), train size {size_label(g['train_size'])}", ""]
        per_class = [
            [cid, s["name"], _pm(s), _num(s["min"]), _num(s["max"]), _ci(s), str(s["n"])]
            for cid, s in g["per_class"].items()
        ]
        cols = ["class", "name", "mean ± std", "min", "max", "95 % CI", "runs"]
        lines += markdown_table(cols, per_class) + [""]
    return lines


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
