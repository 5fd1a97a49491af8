"""Time to accuracy: validation OA per epoch, for each model, scene, initialisation and seed.

Every run goes through `train_run`, the code of `hsi train`, at the model's defaults (PCA 30,
the model's window: 25 for the networks), 10 % stratified training pixels (10 % of them for
validation), Adam 1e-3, batch 32 (``--batch-size``), a fixed number of epochs and no early
stopping (unless ``--patience``), so the curves
are whole. Per run it records the validation OA and the number of distinct classes predicted on
the validation pixels after every epoch (1 = the one-class plateau), the first epoch at which
the validation OA reaches 95 % of its final value, the test OA / AA / Kappa of the kept weights
(the best on validation, as `hsi train` keeps), and the training seconds.

Scenes: the semi-synthetic Indian Pines, and the real Jasper Ridge and Samson cubes in
../shared/data (benchmarks/common.py).

    python benchmarks/bench_convergence.py --scenes indian_pines_semisynthetic --seeds 0-4 \\
        --inits reference,torch --epochs 20 --json conv.json --plot conv.png
    python benchmarks/bench_convergence.py --report conv.json [more.json ...] --plot conv.png

The accuracies do not depend on the machine's load (the runs are deterministic); the seconds do:
the script records the CPU count and load average before each run. ``--workers N`` runs N at
once (processes sharing the cores, or one GPU with ``--device cuda``): their seconds are not
alone, and each row says so (``alone``); so does ``--shared``, for a run beside another job.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

SCENES = ("indian_pines_semisynthetic", "jasper_ridge", "samson")


def parse_seeds(text: str) -> list[int]:
    from hsi.sweep import parse_seeds as parse

    return parse(text)


def first_epoch_reaching(curve: list[float], share: float = 0.95) -> int:
    """First epoch (1-based) whose value is at least ``share`` of the last epoch's."""
    target = share * curve[-1]
    return next(i + 1 for i, v in enumerate(curve) if v >= target)


_prepared: dict = {}  # per process: (scene, model) -> PreparedScene, PCA fitted once


def run_one(task: dict) -> dict:
    """One training run through `train_run`, summarised (its run folder is thrown away)."""
    from common import benchmark_scene, machine_state

    from hsi.config import TrainConfig
    from hsi.experiment import train_run
    from hsi.stages import prepare_scene

    scene, model, init, seed = task["scene"], task["model"], task["init"], task["seed"]
    config = TrainConfig(**{**task["config"], "model": model, "init": init, "seed": seed})
    config.validate(scene_given=True)
    key = (scene, config.pca, config.whiten)
    if key not in _prepared:
        _prepared[key] = prepare_scene(benchmark_scene(scene), config)
    state = machine_state(f"{scene} {model} {init} seed {seed}")
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / f"{scene}_{model}_{init}_{seed}"
        result = train_run(config, _prepared[key], run_dir=run_dir)
        return summarise(result, scene, model, init, seed, state)


def run(args: argparse.Namespace) -> list[dict]:
    from common import run_tasks

    base = {
        "epochs": args.epochs, "patience": args.patience, "train_size": args.train_size,
        "threads": args.threads, "batch_size": args.batch_size, "split": args.split,
        "patch": args.patch, "device": args.device,
    }  # fmt: skip
    # seed-major: a grid stopped by its deadline leaves whole seeds of every model
    tasks = [
        {"scene": scene, "model": model, "init": init, "seed": seed, "config": base}
        for seed in parse_seeds(args.seeds)
        for scene in args.scenes.split(",")
        for model in args.models.split(",")
        for init in args.inits.split(",")
    ]
    rows: list[dict] = []

    def keep(task: dict, row: dict) -> None:
        if "error" in row:
            print(f"error: {task['scene']} {task['model']} {task['init']} seed {task['seed']}: "
                  f"{row['error']}", flush=True)  # fmt: skip
            return
        row["alone"] = args.workers <= 1 and not args.shared
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "curve"}), flush=True)
        if args.json:  # after every run: a long benchmark keeps what it measured
            args.json.write_text(json.dumps(rows, indent=1))

    deadline = time.time() + args.deadline if args.deadline is not None else None
    left = run_tasks(run_one, tasks, keep, workers=args.workers, deadline=deadline)
    if left:
        print(f"deadline: {left} runs not started")
    return rows


def summarise(result, scene: str, model: str, init: str, seed: int, state: dict) -> dict:
    with open(result.run_dir / "history.csv", newline="") as f:
        history = list(csv.DictReader(f))
    curve = [float(r["val_acc"]) for r in history]
    # the svm has no epochs: one row, its cross-validated accuracy, no class count
    classes = [int(r["val_classes"]) if r.get("val_classes") else 0 for r in history]
    m = result.metrics
    return {
        "scene": scene,
        "model": model,
        "batch_size": m["config"]["batch_size"],
        "split": m["config"]["split"],
        "patch": m["config"]["patch"],
        "test_pixels": m["split"]["test"],
        "patience": m["config"]["patience"],
        "epochs_run": m["training"]["epochs_run"],
        "map_s": m["timings_s"]["map"],
        "init": init,
        "seed": seed,
        "epochs": len(curve),
        "curve": curve,
        "val_classes": classes,
        "epoch_95": first_epoch_reaching(curve),
        "one_class_after_5": len(classes) >= 5 and classes[4] == 1,
        "one_class_after_10": len(classes) >= 10 and classes[9] == 1,
        "oa": m["oa"],
        "aa": m["aa"],
        "kappa": m["kappa"],
        "best_epoch": m["training"]["best_epoch"],
        "train_s": m["timings_s"]["train"],
        "val_pixels": m["split"]["val"],
        "machine": state,
    }


def report(rows: list[dict]) -> str:
    from hsi.models import model_class
    from hsi.sweep import describe
    from hsi.tables import mean_pm_std

    lines = [
        "| scene | split | model | init | batch | seeds | epochs | one class after 5 / 10 | "
        "epoch to 95 % (mean, max) | val OA at 5 / 10 / last | test OA / AA / κ (mean ± std) | "
        "train s per epoch | map s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (r["scene"], r.get("split", "stratified"), r["model"], r["init"])
        key += (r.get("batch_size", 128), r["epochs"])
        groups.setdefault(key, []).append(r)
    for (scene, split, model, init, batch, epochs), rs in groups.items():
        n = len(rs)
        last = epochs
        if not model_class(model).trained_by_gradient:  # the svm: no epochs, batch or init
            init, batch, epochs = "-", "-", "-"
        e95 = [r["epoch_95"] for r in rs]

        def at(epoch: int, rs=rs) -> str:
            values = [r["curve"][epoch - 1] for r in rs if len(r["curve"]) >= epoch]
            return f"{sum(values) / len(values):.3f}" if values else "-"

        oa, aa, kappa = (describe([r[k] for r in rs]) for k in ("oa", "aa", "kappa"))
        scores = " / ".join(mean_pm_std(d["mean"], d["std"]) for d in (oa, aa, kappa))
        # seconds only from runs made alone (rows from before the flag count as they were)
        timed = [r for r in rs if r.get("alone", True)]
        maps = [r["map_s"] for r in timed if "map_s" in r]
        map_s = f"{sum(maps) / len(maps):.1f}" if maps else "-"
        per_epoch = "-"
        if timed:
            seconds = [r["train_s"] / r.get("epochs_run", r["epochs"]) for r in timed]
            per_epoch = f"{sum(seconds) / len(seconds):.1f}"
            if len(timed) < n:
                per_epoch += f" ({len(timed)} of {n} runs)"
        one5 = sum(r["one_class_after_5"] for r in rs) if epochs != "-" else "-"
        one10 = sum(r["one_class_after_10"] for r in rs) if len(rs[0]["curve"]) >= 10 else "-"
        lines.append(
            f"| {scene} | {split} | {model} | {init} | {batch} | {n} | {epochs} | {one5} / {one10}"
            f" | {sum(e95) / n:.1f}, {max(e95)} | {at(5)} / {at(10)} / {at(last)} | {scores} | "
            f"{per_epoch} | {map_s} |"
        )
    return "\n".join(lines)


def summary(rows: list[dict]) -> str:
    """Test OA, mean ± std (seeds), a row per model and initialisation, a column per scene and
    split kind: the rows of :func:`report` side by side."""
    from hsi.models import model_class
    from hsi.sweep import describe
    from hsi.tables import mean_pm_std

    def trained(r: dict) -> bool:
        return model_class(r["model"]).trained_by_gradient

    cells: dict[tuple[str, str], dict[tuple, list[float]]] = {}
    settings = {(r.get("batch_size", 128), r["epochs"]) for r in rows if trained(r)}
    for r in rows:
        label, init = r["model"], r["init"] if trained(r) else "-"
        if len(settings) > 1 and trained(r):  # say which rows ran which batch and epochs
            label += f" (batch {r.get('batch_size', 128)}, {r['epochs']} epochs)"
        key = (label, init)
        column = (r["scene"], r.get("split", "stratified"))
        cells.setdefault(key, {}).setdefault(column, []).append(r["oa"])
    # each scene's random (stratified) split first, then its spatial one
    columns = sorted(
        {c for by_column in cells.values() for c in by_column},
        key=lambda c: (c[0], c[1] != "stratified", c[1]),
    )
    lines = [
        "| test OA, mean ± std (seeds) | init | "
        + " | ".join(f"{scene} · {split}" for scene, split in columns)
        + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for (label, init), by_column in sorted(cells.items()):
        values = []
        for column in columns:
            oa = by_column.get(column)
            if not oa:
                values.append("-")
                continue
            d = describe(oa)
            values.append(f"{mean_pm_std(d['mean'], d['std'])} ({len(oa)})")
        lines.append(f"| {label} | {init} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if len(r["curve"]) > 1]  # curves only: the svm has one point
    panels = sorted({(r["scene"], r["model"]) for r in rows})
    if not panels:
        print(f"no curves to plot: {path} not written")
        return
    ncols = min(len(panels), 4)  # rows of four panels, so that many models stay readable
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(5 * ncols, 3.6 * nrows), squeeze=False, sharey=True
    )
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    colors = {"reference": "tab:blue", "torch": "tab:red"}
    for ax, (scene, model) in zip(axes.flat, panels, strict=False):
        for r in rows:
            if (r["scene"], r["model"]) != (scene, model):
                continue
            epochs = range(1, len(r["curve"]) + 1)
            ax.plot(epochs, r["curve"], color=colors.get(r["init"], "gray"), lw=1, alpha=0.8)
        for init, color in colors.items():
            ax.plot([], [], color=color, label=f"init={init}")
        ax.set_title(f"{model} · {scene}", fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation OA")
        ax.set_ylim(0, 1.02)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, frameon=False, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="hybridsn")
    p.add_argument("--scenes", default=",".join(SCENES))
    p.add_argument("--inits", default="reference,torch")
    p.add_argument("--seeds", default="0-4")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--train-size", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--split", default="stratified")
    p.add_argument("--patch", type=int, default=None, help="default: the model's")
    p.add_argument("--patience", type=int, default=None, help="default: none, whole curves")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int, default=1, help="runs at once (processes); not alone")
    p.add_argument(
        "--shared", action="store_true", help="another job runs beside this one: not alone"
    )
    p.add_argument("--deadline", type=float, default=None, help="start no run after this many s")
    p.add_argument("--json", type=Path, help="write the runs here (after each run)")
    p.add_argument("--plot", type=Path, help="OA against epoch, one line per seed")
    p.add_argument("--report", type=Path, nargs="+", help="only tabulate these JSON files")
    args = p.parse_args()
    rows = [r for f in args.report for r in json.loads(f.read_text())] if args.report else None
    rows = rows or run(args)
    print(report(rows))
    print()
    print(summary(rows))
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
