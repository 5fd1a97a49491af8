"""The arithmetic behind docs/models.md's "does it beat the seed spread" table, and the grid
runner of the benchmarks: pairing by seed, the t-interval's sign, later files winning, a
deadline and a failing run."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_improvements as bench  # noqa: E402
from common import run_tasks  # noqa: E402


def row(variant, seed, oa, scene="s", split="stratified", **extra):
    return {"variant": variant, "seed": seed, "scene": scene, "split": split, "oa": oa, **extra}


def test_differences_pair_runs_of_the_same_scene_split_and_seed():
    rows = [
        row("hybridsn", 0, 0.90), row("hybridsn", 1, 0.80), row("hybridsn", 2, 0.70),
        row("hybridsn_augment", 0, 0.91), row("hybridsn_augment", 1, 0.82),
        row("hybridsn_augment", 3, 0.99),  # no plain run with seed 3: left out
        row("hybridsn_augment", 0, 0.10, split="spatial"),  # another split kind: left out
    ]  # fmt: skip
    diffs = bench.paired(rows, "hybridsn_augment", "oa", None, "stratified")
    assert diffs == pytest.approx([0.01, 0.02])


def test_the_interval_gives_the_sign_only_when_it_excludes_zero():
    assert bench._diff([0.01, 0.012, 0.011])[1] == 1
    assert bench._diff([-0.01, -0.012, -0.011])[1] == -1
    assert bench._diff([0.05, -0.04, 0.01])[1] == 0
    assert bench._diff([0.05]) == ("-", 0)  # one pair: no spread, no verdict


def test_a_default_is_proposed_only_when_both_split_kinds_clear_zero():
    rows = []
    for seed in range(3):
        for split in ("stratified", "spatial"):
            rows.append(row("hybridsn", seed, 0.80, split=split))
            gain = 0.02 + 0.001 * seed  # clears zero on both split kinds
            rows.append(row("hybridsn_augment", seed, 0.80 + gain, split=split))
            # clears it on spatial splits only: on random ones it goes either way
            noisy = gain if split == "spatial" else 0.01 * (seed - 1)
            rows.append(row("hybridsn_smooth", seed, 0.80 + noisy, split=split))
    lines = bench.difference_table(rows).splitlines()[2:]
    verdicts = {line.split("|")[1].strip(): line.split("|")[-2].strip() for line in lines}
    assert verdicts == {"hybridsn_augment": "yes", "hybridsn_smooth": "no"}


def test_the_accuracy_table_quotes_seconds_of_runs_made_alone_only():
    timing = dict(epochs_run=10, aa=0.5, kappa=0.4)
    rows = [
        row("ssftt", 0, 0.9, device="cpu", alone=True, train_s=10.0, map_s=1.0, **timing),
        row("ssftt", 1, 0.8, device="cpu", alone=True, train_s=20.0, map_s=3.0, **timing),
        row("ssftt", 2, 0.7, device="cuda", alone=True, train_s=2.0, map_s=0.5, **timing),
        row("ssftt", 3, 0.6, device="cpu", alone=False, train_s=99.0, map_s=9.0, **timing),
        row("ssftt", 4, 0.5, device="cpu", alone=True, train_s=50.0, map_s=5.0, scene="other",
            **timing),
    ]  # fmt: skip
    lines = bench.accuracy_table(rows, rows).splitlines()[2:]
    cells = [c.strip() for c in lines[0].split("|")[1:-1]]
    assert cells[:4] == ["s", "stratified", "ssftt", "4"]
    assert cells[-2:] == ["cpu 15.0 (2), cuda 2.0 (1)", "cpu 2.00 (2), cuda 0.50 (1)"]
    assert bench.accuracy_table(rows).splitlines()[2].endswith("| - | - |")  # nothing timed


def test_spatial_only_variants_run_on_spatial_splits_only():
    args = bench.argparse.Namespace(
        seeds="0", scenes="a", splits="stratified,spatial", variants="ssftt,ssftt_b12,svm_p25",
        device="cpu", threads=None, epochs=30, patience=10, extra="",
    )  # fmt: skip
    tasks = [(t["split"], t["variant"]) for t in bench.tasks_of(args)]
    assert tasks == [("stratified", "ssftt"), ("spatial", "ssftt"), ("spatial", "ssftt_b12"),
                     ("spatial", "svm_p25")]  # fmt: skip


def test_resume_refuses_runs_of_another_schedule_and_the_report_warns():
    task = dict(variant="hybridsn", split="stratified", seed=0, device="cpu", threads=None)
    defaults = bench.schedule({**task, "epochs": None, "patience": None})
    assert defaults == (40, 20)  # hsi train's
    assert bench.schedule({**task, "epochs": 30, "patience": 0}) == (30, None)
    old = [row("hybridsn", 0, 0.9, epochs=30, patience=10)]
    bench.check_schedule(old, (30, 10))
    with pytest.raises(SystemExit, match="--epochs 30 --patience 10, this grid with --epochs 40"):
        bench.check_schedule(old, defaults)
    timing = dict(aa=0.5, kappa=0.4, epochs_run=10, model="hybridsn", val_pixels=9)
    rows = [row("hybridsn", 0, 0.9, epochs=30, patience=10, **timing),
            row("hybridsn", 1, 0.8, epochs=40, patience=20, **timing)]  # fmt: skip
    first = bench.report(rows).splitlines()[0]
    assert first.startswith("warning: the networks' runs mix schedules")
    assert "1 at --epochs 30 --patience 10" in first and "1 at --epochs 40 --patience 20" in first
    assert not bench.report(rows[:1]).startswith("warning")


def test_a_run_found_again_in_a_later_file_replaces_the_earlier(tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    runs = [row("svm", 0, 0.5, device="cuda"), row("svm", 1, 0.6, device="cuda")]
    first.write_text(json.dumps(runs))
    second.write_text(json.dumps([row("svm", 0, 0.7, device="cuda")]))
    loaded = bench.load([first, second])
    assert sorted((r["seed"], r["oa"]) for r in loaded) == [(0, 0.7), (1, 0.6)]


def _square(task):
    if task == 3:
        raise ValueError("broken run")
    return {"value": task * task}


def test_run_tasks_keeps_going_past_a_failure_and_stops_at_the_deadline():
    seen = []
    left = run_tasks(_square, [1, 2, 3, 4], lambda t, r: seen.append((t, r)))
    assert left == 0
    assert seen[2] == (3, {"error": "ValueError: broken run"})
    assert seen[3] == (4, {"value": 16})
    late = []
    left = run_tasks(_square, [1, 2], lambda t, r: late.append(t), deadline=time.time() - 1)
    assert (left, late) == (2, [])
