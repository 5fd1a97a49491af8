"""`hsi sweep`: seed parsing, statistics, the files it writes, resuming, and equality with
single runs. Real runs are tiny (24×24 synthetic scene, HybridSN at its smallest, 2 epochs)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from conftest import tiny_config, tiny_options, weights_hash
from typer.testing import CliRunner

from hsi.cli import app
from hsi.errors import ConfigError
from hsi.experiment import train_run
from hsi.sweep import (
    describe,
    is_finished,
    parse_seeds,
    parse_train_sizes,
    read_rows,
    run_folder,
    run_sweep,
    summarize,
    summary_markdown,
)
from hsi.sweep.local import default_threads

runner = CliRunner()


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    ("text", "seeds"),
    [
        ("0-9", list(range(10))),
        ("0,3,7", [0, 3, 7]),
        ("0-4,10", [0, 1, 2, 3, 4, 10]),
        (" 5 ", [5]),
        ("3,1-3", [3, 1, 2]),
    ],
)
def test_parse_seeds(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["", "a", "1-", "-1", "5-2", "0,,1", "1.5", "0-3-5"])
def test_parse_seeds_rejects(text):
    with pytest.raises(ConfigError, match="seeds"):
        parse_seeds(text)


def test_the_seed_limit_counts_distinct_seeds_and_says_so():
    assert len(parse_seeds("0-9999,3")) == 10_000  # a repeated seed runs once, so counts once
    for text in ("0-10000", "0-9999,10000", "0-100000000000"):
        with pytest.raises(ConfigError) as info:
            parse_seeds(text)
        # it was "10,001 --seeds or more": the word was taken for the option
        assert info.value.cli_message() == (
            f"--seeds {text}: more than 10,000 distinct values, the most a sweep takes"
        )
    # repeats are bounded too (3,000 copies of 0-9999 took 1.3 s to add nothing), and a long
    # list is abridged in the message
    with pytest.raises(ConfigError, match=r"more than 100,000 values written out") as info:
        parse_seeds(",".join(["0-9999"] * 11))
    assert len(info.value.cli_message()) < 160
    assert len(parse_seeds(",".join(["0-9999"] * 10))) == 10_000


def test_parse_train_sizes():
    assert parse_train_sizes("0.05,0.1,0.3") == [0.05, 0.1, 0.3]
    assert parse_train_sizes("10, 50") == [10, 50]
    assert parse_train_sizes(0.1) == [0.1]
    with pytest.raises(ConfigError, match="train_size"):
        parse_train_sizes("0.1,x")
    with pytest.raises(ConfigError, match="train_size"):
        parse_train_sizes("0.1,")


# ----------------------------------------------------------------------------- statistics
def test_describe_matches_the_textbook():
    x = [0.8, 0.9, 0.85, 0.95]
    s = describe(x)
    assert s["n"] == 4 and s["mean"] == pytest.approx(0.875)
    assert s["std"] == pytest.approx(np.std(x, ddof=1))
    assert (s["min"], s["max"]) == (0.8, 0.95)
    half = 3.182446305284263 * s["std"] / 2  # t(0.975, 3) · s / √4
    assert s["ci95"] == pytest.approx([0.875 - half, 0.875 + half])
    one = describe([0.7, None, float("nan")])
    assert one["n"] == 1 and one["mean"] == 0.7 and one["std"] is None and one["ci95"] is None
    assert describe([])["mean"] is None


def test_interval_stays_within_the_scores_range():
    # two seeds: t(0.975, 1) = 12.7, so the raw interval of 0.95 and 1.0 reaches 1.29
    raw = describe([0.95, 1.0])
    assert raw["ci95"][1] > 1.0
    clipped = describe([0.95, 1.0], bounds=(0.0, 1.0))
    assert clipped["ci95"][1] == 1.0 and clipped["ci95"][0] == raw["ci95"][0]
    rows = [
        {"train_size": 0.1, "seed": s, "oa": oa, "aa": oa, "kappa": k, "class_3": oa}
        for s, oa, k in [(0, 0.95, -0.9), (1, 1.0, -0.6)]
    ]
    g = summarize(rows)["groups"][0]
    for stats in [*g["metrics"].values(), g["per_class"]["3"]]:
        lo, hi = stats["ci95"]
        assert -1.0 <= lo <= hi <= 1.0
    assert g["metrics"]["oa"]["ci95"][1] == 1.0 and g["metrics"]["kappa"]["ci95"][0] == -1.0


def test_summary_groups_by_train_size():
    rows = [
        {"train_size": ts, "seed": s, "oa": oa, "aa": oa, "kappa": oa, "class_10": oa}
        for ts, s, oa in [(0.05, 0, 0.6), (0.05, 1, 0.7), (0.1, 0, 0.8), (0.1, 1, 0.9)]
    ]
    summary = summarize(rows)
    assert [g["train_size"] for g in summary["groups"]] == [0.05, 0.1]
    assert summary["groups"][1]["metrics"]["oa"]["mean"] == pytest.approx(0.85)
    assert summary["groups"][0]["per_class"]["10"]["mean"] == pytest.approx(0.65)
    md = summary_markdown(summary)
    assert "| train size | runs | OA (%) | AA (%) | Kappa (×100) |" in md
    assert "| 0.05 | 2 | 65.00 ± 7.07 |" in md
    assert "## Per-class accuracy (%), train size 0.1" in md


# ----------------------------------------------------------------------------- real sweeps
def test_cli_sweep_three_seeds_two_jobs_then_resume(scene_file, tmp_path):
    args = ["sweep", *tiny_options(scene_file), "--seeds", "0-2", "--jobs", "2"]
    args += ["--out", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3 trained, 0 already done" in result.stdout
    folder = tmp_path / "sweep_tiny_hybridsn"
    for name in ("sweep.csv", "summary.json", "summary.md", "sweep.png", "sweep.json"):
        assert (folder / name).stat().st_size > 0, name
    for seed in range(3):
        assert is_finished(folder / "ts0.3" / f"seed_{seed}")

    rows = read_rows(folder / "sweep.csv")
    assert [r["seed"] for r in rows] == [0, 1, 2]
    assert {"oa", "aa", "kappa", "class_1", "class_2", "class_3", "train_time_s"} <= set(rows[0])
    summary = json.loads((folder / "summary.json").read_text())
    (group,) = summary["groups"]
    for m in ("oa", "aa", "kappa"):
        assert group["metrics"][m]["mean"] == pytest.approx(np.mean([r[m] for r in rows]), abs=0)
        assert group["metrics"][m]["min"] == min(r[m] for r in rows)
    for cid, stats in group["per_class"].items():
        values = [r[f"class_{cid}"] for r in rows if r[f"class_{cid}"] is not None]
        assert stats["mean"] == pytest.approx(np.mean(values), abs=0)
    assert "| train size |" in (folder / "summary.md").read_text()

    stamp = (folder / "ts0.3" / "seed_1" / "model.pt").stat().st_mtime_ns
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "0 trained, 3 already done" in again.stdout
    assert (folder / "ts0.3" / "seed_1" / "model.pt").stat().st_mtime_ns == stamp
    assert read_rows(folder / "sweep.csv") == rows
    assert {r["threads"] for r in rows} == {default_threads(2)}
    assert summary["threads_per_run"] == default_threads(2)

    # resumed with --jobs 1, a new run trains with this process's threads: the summaries say
    # each run's own count, not the last part's for every run
    own = torch.get_num_threads()
    torch.set_num_threads(default_threads(2) + 1)
    try:
        resumed = ["sweep", *tiny_options(scene_file), "--seeds", "0-3", "--jobs", "1"]
        more = runner.invoke(app, [*resumed, "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(own)
    assert more.exit_code == 0, more.output
    assert "1 trained, 3 already done" in more.stdout
    threads = [r["threads"] for r in read_rows(folder / "sweep.csv")]
    assert threads == [default_threads(2)] * 3 + [default_threads(2) + 1]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["threads_per_run"] == [default_threads(2), default_threads(2) + 1]
    assert "sweep.csv's `threads` column" in (folder / "summary.md").read_text()

    # a resume with other options would mix incomparable runs: refused before any training
    other = runner.invoke(app, [*args[:-2], "--out", str(tmp_path), "--epochs", "3"])
    assert other.exit_code == 2
    assert "other options" in other.output and "epochs: 2 → 3" in other.output


def test_sweep_run_equals_a_single_run_and_takes_a_second_axis(scene_file, tmp_path, one_thread):
    config = tiny_config(scene_file, out=str(tmp_path))
    result = run_sweep(config, [1], [0.3, 0.5], jobs=1)
    assert result.ran == 2 and result.skipped == 0
    assert [(r["train_size"], r["seed"]) for r in result.rows] == [(0.3, 1), (0.5, 1)]
    assert [g["train_size"] for g in result.summary["groups"]] == [0.3, 0.5]

    single = train_run(tiny_config(scene_file, seed=1, train_size=0.5), run_dir=tmp_path / "one")
    swept = run_folder(result.folder, 0.5, 1)
    assert weights_hash(swept / "model.pt") == weights_hash(single.run_dir / "model.pt")
    assert result.rows[1]["oa"] == single.metrics["oa"]


def test_a_dataset_sweep_recorded_with_file_options_resumes_without_them(tmp_path):
    """Earlier versions recorded --labels beside --dataset (and ignored it); now that it is
    refused, the same sweep must still resume, and other changes still be refused."""
    from hsi.config import TrainConfig
    from hsi.sweep.folder import _check_manifest, _shared_options

    config = TrainConfig(dataset="indian_pines", epochs=3)
    recorded = {**_shared_options(config), "labels": "/data/gt.mat", "cube_key": "x"}
    (tmp_path / "sweep.json").write_text(json.dumps({"options": recorded}))
    run = tmp_path / "ts0.1" / "seed_0"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"training": {"interrupted": False}}))
    _check_manifest(tmp_path, config)
    with pytest.raises(ConfigError, match="epochs: 3 → 4"):
        _check_manifest(tmp_path, TrainConfig(dataset="indian_pines", epochs=4))


def test_an_interrupted_run_is_not_finished(tmp_path):
    run = tmp_path / "seed_0"
    run.mkdir()
    assert not is_finished(run)
    (run / "metrics.json").write_text(json.dumps({"training": {"interrupted": True}}))
    assert not is_finished(run)
    (run / "metrics.json").write_text(json.dumps({"training": {"interrupted": False}}))
    assert is_finished(run)


def test_cli_sweep_reports_bad_seeds_in_one_line(scene_file, tmp_path):
    result = runner.invoke(app, ["sweep", *tiny_options(scene_file), "--seeds", "5-2"])
    assert result.exit_code == 2
    assert "error: --seeds: range '5-2' runs backwards" in result.output
    assert "Traceback" not in result.output


def test_summary_std_is_none_for_one_seed():
    s = summarize([{"train_size": 0.1, "seed": 0, "oa": 0.5, "aa": 0.5, "kappa": 0.5}])
    assert s["groups"][0]["metrics"]["oa"]["std"] is None
    assert not any(
        isinstance(v, float) and math.isnan(v) for v in s["groups"][0]["metrics"]["oa"].values()
    )
    assert "50.00 |" in summary_markdown(s)


def test_a_sweep_that_fails_to_start_does_not_pin_its_options(scene_file, tmp_path):
    with pytest.raises(ConfigError, match="pca 25"):
        run_sweep(tiny_config(scene_file, out=str(tmp_path), pca=25), [0])
    assert not (tmp_path / "sweep_tiny_hybridsn" / "sweep.json").exists()


# ----------------------------------------------------------------------------- models, backends
def test_cli_sweep_over_two_models(scene_file, tmp_path):
    args = ["sweep", *tiny_options(scene_file), "--seeds", "0", "--threads", "1"]
    args += ["--models", "hybridsn,svm", "--out", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "sweep_tiny_hybridsn+svm"
    for model in ("hybridsn", "svm"):
        assert is_finished(run_folder(folder, 0.3, 0, model))
    rows = read_rows(folder / "sweep.csv")
    assert [(r["model"], r["seed"]) for r in rows] == [("hybridsn", 0), ("svm", 0)]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["models"] == ["hybridsn", "svm"]
    assert [(g["model"], g["train_size"]) for g in summary["groups"]] == [
        ("hybridsn", 0.3),
        ("svm", 0.3),
    ]
    assert set(summary["configs"]) == {"hybridsn", "svm"}
    md = (folder / "summary.md").read_text()
    assert "| model | train size | runs |" in md
    assert "## hybridsn" in md and "## svm" in md and "### Per-class accuracy" in md
    assert "svm" in result.stdout and "hybridsn" in result.stdout

    # the manifest still refuses a resume with other options
    other = runner.invoke(app, [*args, "--epochs", "3"])
    assert other.exit_code == 2
    assert "other options" in other.output and "epochs: 2 → 3" in other.output


def test_summary_groups_by_model_then_train_size():
    rows = [
        {"model": m, "train_size": ts, "seed": s, "oa": oa, "aa": oa, "kappa": oa}
        for m, ts, s, oa in [("a", 0.1, 0, 0.6), ("a", 0.1, 1, 0.8), ("b", 0.1, 0, 0.9)]
    ]
    summary = summarize(rows)
    assert [(g["model"], g["runs"]) for g in summary["groups"]] == [("a", 2), ("b", 1)]
    assert summary["groups"][0]["metrics"]["oa"]["mean"] == pytest.approx(0.7)
    md = summary_markdown(summary)
    assert "| a | 0.1 | 2 | 70.00 ± 14.14 |" in md


def test_models_must_share_every_other_option(scene_file, tmp_path):
    configs = [tiny_config(scene_file), tiny_config(scene_file, model="svm", epochs=3)]
    with pytest.raises(ConfigError, match="differ in epochs"):
        run_sweep(configs, [0], folder=tmp_path / "sweep")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--models", "hybridsn,nope"], "error: --models: unknown model 'nope'"),
        (["--backend", "local", "--address", "auto"], "error: --address is for --backend ray"),
        (
            ["--models", "hybridsn,svm", "--width", "0.5"],
            "error: --width: none of the models hybridsn, svm takes it",
        ),
    ],
)
def test_cli_sweep_refuses_bad_models_and_backends(scene_file, tmp_path, args, message):
    result = runner.invoke(app, ["sweep", *tiny_options(scene_file), *args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.output


def test_backend_ray_without_ray_is_one_clear_line(scene_file, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if not installed
    args = ["sweep", *tiny_options(scene_file), "--backend", "ray", "--out", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.output.strip() == "error: --backend ray needs Ray: pip install -e '.[ray]'"
    with pytest.raises(ConfigError, match=r"needs Ray: pip install -e '\.\[ray\]'"):
        run_sweep(tiny_config(scene_file, out=str(tmp_path)), [0], backend="ray")
    assert not list(tmp_path.iterdir())  # refused before anything was read or written


def test_width_goes_to_the_models_that_take_it():
    from hsi.cli import _options_for

    options = {"model": "hybridsn", "width": 0.5, "groups": None}
    names = ["hybridsn", "mobilenet_v2"]
    assert _options_for("mobilenet_v2", names, options)["width"] == 0.5
    assert _options_for("hybridsn", names, options)["width"] is None


def test_a_run_no_ray_node_can_take_is_refused_or_warned():
    from types import SimpleNamespace

    from hsi.sweep.ray_backend import _check_fits

    ray = SimpleNamespace(nodes=lambda: [{"Alive": True, "Resources": {"CPU": 2.0}}])
    _check_fits(ray, 2, 0, started=True)  # fits
    with pytest.raises(ConfigError, match=r"1 CPU\(s\) and 1 GPU, but no node has that"):
        _check_fits(ray, 1, 1, started=True)  # a Ray started here never gets a GPU
    with pytest.warns(UserWarning, match="wait until such a node joins"):
        _check_fits(ray, 4, 0, started=False)  # a cluster may still grow
