"""The tables of benchmarks/bench_convergence.py: seconds only from runs made alone, and the
summary's side-by-side test OA (random split before spatial, the SVM without an init)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_convergence as bench  # noqa: E402


def run(model="hybridsn", seed=0, oa=0.9, split="stratified", init="reference", **extra):
    curve = [0.5, oa] if model != "svm" else [oa]
    return {
        "scene": "s", "split": split, "model": model, "init": init, "seed": seed,
        "batch_size": 32, "epochs": 2, "epochs_run": 2, "curve": curve, "epoch_95": 2,
        "one_class_after_5": False, "one_class_after_10": False, "oa": oa, "aa": oa,
        "kappa": oa, "train_s": 10.0, "map_s": 1.0, **extra,
    }  # fmt: skip


def test_seconds_come_only_from_runs_made_alone():
    rows = [run(seed=0, alone=True), run(seed=1, alone=False, train_s=100.0, map_s=50.0)]
    line = bench.report(rows).splitlines()[-1]
    assert line.endswith("| 5.0 (1 of 2 runs) | 1.0 |")  # 10 s over 2 epochs; not the shared run
    shared = bench.report([run(alone=False)]).splitlines()[-1]
    assert shared.endswith("| - | - |")


def test_the_summary_puts_each_scenes_random_split_first_and_the_svm_without_an_init():
    rows = [
        run(split="spatial", oa=0.4), run(seed=0, oa=0.9), run(seed=1, oa=0.8),
        run(model="svm", init="reference", oa=0.95),
    ]  # fmt: skip
    header, _, hybridsn, svm = bench.summary(rows).splitlines()
    assert header.index("s · stratified") < header.index("s · spatial")
    assert hybridsn == "| hybridsn | reference | 0.8500 ± 0.0707 (2) | 0.4000 (1) |"
    assert svm == "| svm | - | 0.9500 (1) | - |"


def test_a_run_beside_another_job_is_not_marked_alone(monkeypatch):
    import argparse

    monkeypatch.setattr(bench, "run_one", lambda task: run(seed=task["seed"]))
    args = dict(
        epochs=2, patience=None, train_size=0.1, threads=1, batch_size=32, split="stratified",
        patch=None, device="cpu", seeds="0", scenes="s", models="hybridsn", inits="reference",
        workers=1, deadline=None, json=None,
    )  # fmt: skip
    assert bench.run(argparse.Namespace(**args, shared=False))[0]["alone"] is True
    assert bench.run(argparse.Namespace(**args, shared=True))[0]["alone"] is False
