"""Training improvements against the seed spread: HybridSN with and without each, SSFTT, the SVM.

One run per (seed, scene, split kind, variant) through the stages of `hsi train` (`fit_run`,
`map_scene`, `score`; no run folder), at the defaults of `hsi train` (10 % training pixels,
10 % of them for validation, batch 32, PCA 30 fitted on the scene) but for ``--epochs`` and
``--patience``, hsi train's unless given. docs/models.md's grid used ``--epochs 30 --patience
10``, the defaults when it began; add seeds to it with the same two options.

- ``hybridsn``: the defaults; ``hybridsn_augment``: ``--augment``; ``hybridsn_smooth``:
  ``--label-smoothing 0.1``; ``hybridsn_cosine``: ``--schedule cosine --warmup 3``;
  ``hybridsn_all``: the three together; ``ssftt`` and ``svm`` at their defaults; ``svm_p25``:
  the SVM given 25×25 windows, so a spatial split leaves it HybridSN's very test pixels;
  ``ssftt_b12``: SSFTT with ``--buffer 12``, HybridSN's, for the same reason.
- For the networks in ``--extra`` (default: hybridsn, hybridsn_all, ssftt) the same trained
  model is also scored with test-time augmentation (``--tta``) and with the last epoch's weights
  instead of the best on validation, so both comparisons are paired without more training.

Scenes: the semi-synthetic Indian Pines and the real Jasper Ridge and Samson (common.py); split
kinds: stratified and spatial. Accuracies are test pixels only. ``--report`` tabulates one or
more JSON files: the accuracy table (mean ± std), and the paired differences against plain
HybridSN, mean and 95 % t-interval over seeds, per scene and split kind and pooled over scenes.

    python benchmarks/bench_improvements.py --seeds 0-4 --workers 3 --device cuda \\
        --epochs 30 --patience 10 --json improvements.json
    python benchmarks/bench_improvements.py --alone --seeds 0 --scenes indian_pines_semisynthetic \\
        --splits stratified --variants hybridsn,ssftt,svm --epochs 30 --patience 10 \\
        --json alone.json
    python benchmarks/bench_improvements.py --report improvements.json

``--workers N`` runs N runs at once (processes; on a GPU they share it), so their seconds are
not alone; ``--alone`` runs one at a time, and the report quotes seconds from such rows only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

SCENES = ("indian_pines_semisynthetic", "jasper_ridge", "samson")
SPLITS = ("stratified", "spatial")
VARIANTS = {
    "hybridsn": {"model": "hybridsn"},
    "hybridsn_augment": {"model": "hybridsn", "augment": True},
    "hybridsn_smooth": {"model": "hybridsn", "label_smoothing": 0.1},
    "hybridsn_cosine": {"model": "hybridsn", "schedule": "cosine", "warmup": 3},
    "hybridsn_all": {
        "model": "hybridsn",
        "augment": True,
        "label_smoothing": 0.1,
        "schedule": "cosine",
        "warmup": 3,
    },
    "ssftt": {"model": "ssftt"},
    # SSFTT's 13×13 windows would cut 13×13 blocks with a 6-pixel buffer; HybridSN's buffer of
    # 12 gives it HybridSN's spatial split, hence its test pixels (no change on random splits)
    "ssftt_b12": {"model": "ssftt", "buffer": 12},
    "svm": {"model": "svm"},
    # the SVM reads only the centre pixel, but a 25×25 window gives it HybridSN's spatial split
    # (the same blocks and buffer, hence the same test pixels): a paired comparison
    "svm_p25": {"model": "svm", "patch": 25},
}
BASELINE = "hybridsn"
# variants that differ from another only on spatial splits: not run on the others
SPATIAL_ONLY = ("svm_p25", "ssftt_b12")

_prepared: dict = {}  # per worker process: (scene, pca) -> PreparedScene, PCA fitted once


def prepared_scene(scene_name: str, config):
    from common import benchmark_scene

    from hsi.stages import prepare_scene

    key = (scene_name, config.pca, config.whiten, config.pca_fit)
    if key not in _prepared:
        _prepared[key] = prepare_scene(benchmark_scene(scene_name), config)
    return _prepared[key]


def make_config(task: dict):
    from hsi.config import TrainConfig

    options = VARIANTS[task["variant"]]
    config = TrainConfig(
        split=task["split"],
        seed=task["seed"],
        device=task["device"],
        threads=task["threads"],
        **({"epochs": task["epochs"]} if task.get("epochs") else {}),
        # 0 turns early stopping off, as hsi train --patience 0 does
        **({"patience": task["patience"]} if task.get("patience") is not None else {}),
        **options,
    )
    return config.validate(scene_given=True)


def weights_sha(state: dict) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def run_one(task: dict) -> dict:
    from dataclasses import replace

    from hsi.experiment import fit_run
    from hsi.stages import map_scene, score

    config = make_config(task)
    prepared = prepared_scene(task["scene"], config)
    fitted = fit_run(config, prepared, log=lambda msg: None)
    model, fit = fitted.trained.model, fitted.trained.fit
    scene, split = fitted.scene, fitted.split
    mapped = map_scene(model, fitted.reduced, config, device=fitted.device)
    report = score(scene, split, mapped.index)
    val_labels = scene.labels[split.val[:, 0], split.val[:, 1]] if len(split.val) else []
    val_counts = [int((val_labels == c).sum()) for c in scene.class_ids]
    row = {
        **{k: task[k] for k in ("scene", "split", "variant", "seed")},
        "model": config.model,
        "options": VARIANTS[task["variant"]],
        "epochs": config.epochs,
        "patience": config.patience,
        "patch": config.patch,
        "train_pixels": len(split.train),
        "val_pixels": len(split.val),
        "val_min_per_class": min(val_counts) if val_counts else 0,
        "test_pixels": len(split.test),
        **{m: report[m] for m in ("oa", "aa", "kappa")},
        "train_s": fit.train_time_s,
        "map_s": mapped.seconds,
        "epochs_run": len(fit.history),
        "best_epoch": fit.best_epoch,
        "weights_sha": weights_sha(fit.best_state) if fit.best_state else None,
        "device": str(fitted.device),
    }
    if task["variant"] in task["extra"] and getattr(model, "trained_by_gradient", True):
        tta = map_scene(model, fitted.reduced, replace(config, tta=True), device=fitted.device)
        tta_report = score(scene, split, tta.index)
        row.update({f"{m}_tta": tta_report[m] for m in ("oa", "aa", "kappa")})
        row["map_tta_s"] = tta.seconds
        model.load_state_dict(fit.last_state)
        last = map_scene(model, fitted.reduced, config, device=fitted.device)
        last_report = score(scene, split, last.index)
        row.update({f"{m}_last": last_report[m] for m in ("oa", "aa", "kappa")})
        model.load_state_dict(fit.best_state)
    return row


def tasks_of(args: argparse.Namespace) -> list[dict]:
    from hsi.sweep import parse_seeds

    # seed-major: a grid stopped by its deadline leaves whole seeds, every variant paired
    return [
        {
            "seed": seed,
            "scene": scene,
            "split": split,
            "variant": variant,
            "device": args.device,
            "threads": args.threads,
            "epochs": args.epochs,
            "patience": args.patience,
            "extra": args.extra.split(","),
        }  # fmt: skip
        for seed in parse_seeds(args.seeds)
        for scene in args.scenes.split(",")
        for split in args.splits.split(",")
        for variant in args.variants.split(",")
        if split == "spatial" or variant not in SPATIAL_ONLY
    ]


def schedule(task: dict) -> tuple[int, int | None]:
    """A task's (epochs, patience) as its validated config has them (patience 0 is None)."""
    config = make_config(task)
    return config.epochs, config.patience


def check_schedule(rows: list[dict], wanted: tuple[int, int | None]) -> None:
    """Refuse to add runs to a file whose runs trained for other epochs or patience."""
    other = {(r["epochs"], r["patience"]) for r in rows} - {wanted}
    if other:
        found = ", ".join(f"--epochs {e} --patience {p or 0}" for e, p in sorted(other, key=str))
        raise SystemExit(
            f"--resume: its runs trained with {found}, this grid with --epochs {wanted[0]} "
            f"--patience {wanted[1] or 0}; pass the same two options so that the seeds pair"
        )


def run(args: argparse.Namespace) -> list[dict]:
    from common import machine_state, run_tasks

    rows: list[dict] = []
    tasks = tasks_of(args)
    if args.resume:  # keep its finished runs, run only the others
        rows = [r for r in load(args.resume) if "error" not in r]
        if tasks:  # a grid of no task (e.g. spatial-only variants on random splits) adds none
            check_schedule(rows, schedule(tasks[0]))
        done = {(r["seed"], r["scene"], r["split"], r["variant"]) for r in rows}
        tasks = [t for t in tasks if (t["seed"], t["scene"], t["split"], t["variant"]) not in done]
        print(f"resume: {len(rows)} runs kept, {len(tasks)} to run")
    state = machine_state("before the grid")
    deadline = time.time() + args.deadline if args.deadline is not None else None
    t0 = time.perf_counter()

    def keep(task: dict, row: dict) -> None:
        row = {**{k: task[k] for k in ("scene", "split", "variant", "seed")}, **row}
        row["machine"] = state
        row["alone"] = args.workers <= 1
        rows.append(row)
        shown = {k: row.get(k) for k in ("scene", "split", "variant", "seed", "oa", "error")}
        print(json.dumps(shown), f"{time.perf_counter() - t0:.0f} s", flush=True)
        if args.json:  # after every run: a grid cut short keeps what it measured
            args.json.write_text(json.dumps(rows, indent=1))

    left = run_tasks(run_one, tasks, keep, workers=args.workers, deadline=deadline)
    if left:
        print(f"deadline: {left} runs not started")
    return rows


# ------------------------------------------------------------------------------------ report
def _pm(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    from hsi.sweep import describe

    d = describe([v * scale for v in values])
    if d["n"] == 0:
        return "-"
    if d["std"] is None:
        return f"{d['mean']:.{digits}f}"
    return f"{d['mean']:.{digits}f} ± {d['std']:.{digits}f}"


def _diff(values: list[float]) -> tuple[str, int]:
    """'mean [lo, hi]' in OA points, and the sign the interval shows (+1, -1, or 0)."""
    from hsi.sweep import describe

    d = describe([v * 100 for v in values])
    if d["n"] < 2:
        return ("-", 0)
    lo, hi = d["ci95"]
    sign = 1 if lo > 0 else -1 if hi < 0 else 0
    return (f"{d['mean']:+.2f} [{lo:+.2f}, {hi:+.2f}]", sign)


def accuracy_table(rows: list[dict], timed: list[dict] | None = None) -> str:
    """OA / AA / κ per scene, split and variant, beside the mean seconds of the ``timed`` runs
    made alone (per device; the runs timed need not be the ones scored)."""
    lines = [
        "| scene | split | variant | seeds | OA % | AA % | κ × 100 | epochs run (mean) | "
        "train s, alone (runs) | map s, alone (runs) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (scene, split, variant), rs in _groups(rows, ("scene", "split", "variant")).items():
        epochs = sum(r["epochs_run"] for r in rs) / len(rs)
        alone = [
            r for r in timed or [] if r.get("alone") and _ok(r, variant)
            and (r["scene"], r["split"]) == (scene, split)
        ]  # fmt: skip
        for suffix, name in (("", variant), ("_tta", f"{variant} + tta")):
            scored = [r for r in rs if f"oa{suffix}" in r]
            if not scored:
                continue
            oa, aa, kappa = ([r[f"{m}{suffix}"] for r in scored] for m in ("oa", "aa", "kappa"))
            map_field = "map_tta_s" if suffix else "map_s"
            lines.append(
                f"| {scene} | {split} | {name} | {len(scored)} | {_pm(oa)} | {_pm(aa)} | "
                f"{_pm(kappa)} | {epochs:.0f} | {_seconds(alone, 'train_s')} | "
                f"{_seconds(alone, map_field)} |"
            )
    return "\n".join(lines)


def _seconds(rows: list[dict], field: str) -> str:
    """Mean ``field`` per device, e.g. "cpu 296.1 (2), cuda 9.3 (1)"; "-" for none."""
    by_device: dict[str, list[float]] = {}
    for r in rows:
        if field in r:
            by_device.setdefault(r.get("device", "?"), []).append(r[field])
    parts = [
        f"{device} {sum(v) / len(v):.{1 if field == 'train_s' else 2}f} ({len(v)})"
        for device, v in sorted(by_device.items())
    ]
    return ", ".join(parts) or "-"


def oa_matrix(rows: list[dict]) -> str:
    """One row per variant (and variant + TTA), one column per scene and split kind: OA %."""
    cells = list(_groups(rows, ("scene", "split")))
    head = " | ".join(f"{scene} · {split}" for scene, split in cells)
    lines = [f"| OA %, mean ± std (seeds) | {head} |", "|---|" + "---|" * len(cells)]
    by_variant = _groups(rows, ("variant",))
    for (variant,), rs in by_variant.items():
        for suffix, name in (("", variant), ("_tta", f"{variant} + tta")):
            if not any(f"oa{suffix}" in r for r in rs):
                continue
            out = []
            for scene, split in cells:
                values = [r[f"oa{suffix}"] for r in rs if (r["scene"], r["split"]) == (scene, split)
                          and f"oa{suffix}" in r]  # fmt: skip
                out.append(f"{_pm(values)} ({len(values)})" if values else "-")
            lines.append(f"| {name} | " + " | ".join(out) + " |")
    return "\n".join(lines)


def timing_table(rows: list[dict]) -> str:
    """Seconds of the runs made one at a time (``--alone``): the only ones worth quoting."""
    lines = [
        "| scene | split | variant | seed | device | epochs run | train s | train s per epoch | "
        "map s | map s with TTA | OA % |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if not r.get("alone") or "error" in r:
            continue
        tta = f"{r['map_tta_s']:.2f}" if "map_tta_s" in r else "-"
        lines.append(
            f"| {r['scene']} | {r['split']} | {r['variant']} | {r['seed']} | {r['device']} | "
            f"{r['epochs_run']} | {r['train_s']:.1f} | {r['train_s'] / r['epochs_run']:.2f} | "
            f"{r['map_s']:.2f} | {tta} | {100 * r['oa']:.1f} |"
        )
    return "\n".join(lines)


def comparisons(rows: list[dict]) -> list[tuple[str, str, str]]:
    """(name, the compared rows' variant, its OA field) against plain HybridSN's ``oa``."""
    found = {r["variant"] for r in rows}
    pairs = [(v, v, "oa") for v in VARIANTS if v != BASELINE and v in found]
    if any("oa_tta" in r for r in rows if r["variant"] == BASELINE):
        pairs.append(("hybridsn + tta", BASELINE, "oa_tta"))
    if any("oa_last" in r for r in rows if r["variant"] == BASELINE):
        pairs.append(("hybridsn, last epoch kept", BASELINE, "oa_last"))
    if any("oa_tta" in r for r in rows if r["variant"] == "hybridsn_all"):
        pairs.append(("hybridsn_all + tta", "hybridsn_all", "oa_tta"))
    return pairs


def paired(rows: list[dict], variant: str, field: str, scene: str | None, split: str):
    """OA differences (variant's field − plain HybridSN's OA) over the seeds both have."""
    base = {(r["scene"], r["split"], r["seed"]): r["oa"] for r in rows if _ok(r, BASELINE)}
    diffs = []
    for r in rows:
        key = (r["scene"], r["split"], r["seed"])
        wanted = r["split"] == split and (scene is None or r["scene"] == scene)
        if wanted and _ok(r, variant) and field in r and key in base:
            diffs.append(r[field] - base[key])
    return diffs


def difference_table(rows: list[dict]) -> str:
    scenes = list(dict.fromkeys(r["scene"] for r in rows))
    splits = [s for s in SPLITS if any(r["split"] == s for r in rows)]
    head = [f"{s} · {k}" for s in [*scenes, "pooled"] for k in splits]
    lines = [
        "| against plain HybridSN (OA points, mean [95 % CI]) | " + " | ".join(head) + " | "
        "CI above 0 on both split kinds (pooled) |",
        "|---|" + "---|" * (len(head) + 1),
    ]
    for name, variant, field in comparisons(rows):
        cells, pooled_signs = [], []
        for scene in [*scenes, None]:
            for split in splits:
                text, sign = _diff(paired(rows, variant, field, scene, split))
                cells.append(text)
                if scene is None:
                    pooled_signs.append(sign)
        verdict = "yes" if pooled_signs and all(s > 0 for s in pooled_signs) else "no"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {verdict} |")
    return "\n".join(lines)


def best_vs_last(rows: list[dict]) -> str:
    lines = [
        "| variant | split | runs | best > last | equal | best < last | OA best − last, points "
        "(mean [95 % CI]) | validation pixels (mean), fewest per class (min) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (variant, split), rs in _groups(
        [r for r in rows if "oa_last" in r], ("variant", "split")
    ).items():
        diffs = [r["oa"] - r["oa_last"] for r in rs]
        val = sum(r["val_pixels"] for r in rs) / len(rs)
        lines.append(
            f"| {variant} | {split} | {len(rs)} | {sum(d > 0 for d in diffs)} | "
            f"{sum(d == 0 for d in diffs)} | {sum(d < 0 for d in diffs)} | {_diff(diffs)[0]} | "
            f"{val:.0f}, {min(r['val_min_per_class'] for r in rs)} |"
        )
    return "\n".join(lines)


def tta_cost(rows: list[dict]) -> str:
    """Mean map seconds with and without TTA per scene, variant and device (a GPU's and a
    CPU's seconds do not average)."""
    lines = [
        "| scene | variant | device | runs | map s | map s with TTA | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for (scene, variant, device), rs in _groups(
        [r for r in rows if "map_tta_s" in r], ("scene", "variant", "device")
    ).items():
        plain = sum(r["map_s"] for r in rs) / len(rs)
        tta = sum(r["map_tta_s"] for r in rs) / len(rs)
        lines.append(
            f"| {scene} | {variant} | {device} | {len(rs)} | {plain:.2f} | {tta:.2f} | "
            f"{tta / plain:.1f} |"
        )
    return "\n".join(lines)


def _ok(row: dict, variant: str) -> bool:
    return row["variant"] == variant and "error" not in row


ORDER = {"scene": SCENES, "split": SPLITS, "variant": tuple(VARIANTS)}


def _groups(rows: list[dict], keys: tuple[str, ...]) -> dict[tuple, list[dict]]:
    """Rows by ``keys``, in the order of SCENES, SPLITS and VARIANTS."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if "error" not in r:
            groups.setdefault(tuple(r[k] for k in keys), []).append(r)

    def rank(key: tuple) -> tuple:
        return tuple(
            ORDER[k].index(v) if v in ORDER.get(k, ()) else len(ORDER.get(k, ()))
            for k, v in zip(keys, key, strict=True)
        )

    return dict(sorted(groups.items(), key=lambda item: rank(item[0])))


def _unique(rows: list[dict]) -> list[dict]:
    """One row per (seed, scene, split, variant): an alone rerun of a run counts once."""
    return list({(r["seed"], r["scene"], r["split"], r["variant"]): r for r in rows}.values())


def report(rows: list[dict]) -> str:
    errors = [r for r in rows if "error" in r]
    scored = _unique(rows)
    schedules = _groups(
        [r for r in scored if r.get("model") != "svm"], ("epochs", "patience")
    )  # the SVM has no epochs
    parts = [
        oa_matrix(scored),
        accuracy_table(scored, rows),
        timing_table(rows),
        difference_table(scored),
        best_vs_last(scored),
        tta_cost(scored),
    ]
    if len(schedules) > 1:
        mixed = ", ".join(
            f"{len(rs)} at --epochs {e} --patience {p or 0}" for (e, p), rs in schedules.items()
        )
        parts.insert(0, f"warning: the networks' runs mix schedules ({mixed}): compare with care")
    if errors:
        parts.append("\n".join(f"error: {r['variant']} {r['scene']} {r['split']} seed "
                               f"{r['seed']}: {r['error']}" for r in errors))  # fmt: skip
    return "\n\n".join(parts)


def load(files: list[Path]) -> list[dict]:
    """The runs of several files; a run found again in a later file replaces the earlier one."""
    runs: dict[tuple, dict] = {}
    for f in files:
        for r in json.loads(f.read_text()):
            key = (r["seed"], r["scene"], r["split"], r["variant"], bool(r.get("alone")))
            key += (r.get("device"),)  # the same run on another device is another run
            runs[key] = r
    return list(runs.values())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", default=",".join(SCENES))
    p.add_argument("--splits", default=",".join(SPLITS))
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument(
        "--extra",
        default="hybridsn,hybridsn_all,ssftt",
        help="variants also scored with TTA and with the last epoch's weights",
    )
    p.add_argument("--seeds", default="0-4")
    p.add_argument("--epochs", type=int, default=None, help="default: hsi train's")
    p.add_argument("--patience", type=int, default=None, help="default: hsi train's")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--workers", type=int, default=1, help="runs at once (processes)")
    p.add_argument("--alone", action="store_true", help="one run at a time (the default)")
    p.add_argument("--deadline", type=float, default=None, help="start no run after this many s")
    p.add_argument("--json", type=Path, help="write the runs here (after each run)")
    p.add_argument("--report", type=Path, nargs="+", help="only tabulate these JSON files")
    p.add_argument("--resume", type=Path, nargs="+", help="keep these files' runs; run the rest")
    args = p.parse_args()
    if args.alone:
        args.workers = 1
    rows = load(args.report) if args.report else run(args)
    print(report(rows))


if __name__ == "__main__":
    main()
