"""Library messages go through `logging` (loggers under "hsi"); the CLI shows them on stderr.

The notes of a run (a class capped by --train-size N, the SVM's chosen C and γ) are INFO records
of ``hsi.stages``; a Python user silences or redirects them the usual way, or passes ``log=``.
"""

from __future__ import annotations

import logging

import pytest
from conftest import tiny_config, tiny_options
from typer.testing import CliRunner

from hsi.cli import app
from hsi.experiment import train_run
from hsi.sweep import run_sweep

# an SVM on a per-class split of 200 pixels: the tiny scene's classes have fewer, so the split
# notes them, and the SVM notes its C and γ
SVM = dict(model="svm", pca=5, patch=1, split="per_class", train_size=200)
SVM_OPTIONS = ["--model", "svm", "--pca", "5", "--patch", "1", "--split", "per_class"]
SVM_OPTIONS += ["--train-size", "200"]


def messages(caplog, name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == name]


@pytest.fixture(autouse=True)
def _restore_hsi_logger():
    logger = logging.getLogger("hsi")
    level, handlers = logger.level, list(logger.handlers)
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers


def test_a_runs_notes_are_info_records_of_hsi_stages(scene_file, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="hsi")
    result = train_run(tiny_config(scene_file, **SVM), run_dir=tmp_path / "run")
    notes = messages(caplog, "hsi.stages")
    assert any("not more than 200" in n for n in notes), notes
    assert any(n.startswith("svm: C=") for n in notes), notes
    assert notes == result.notes  # the same notes metrics.json keeps
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "hsi.stages")


def test_log_callback_takes_the_messages_instead(scene_file, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="hsi")
    said: list[str] = []
    train_run(tiny_config(scene_file, **SVM), run_dir=tmp_path / "run", log=said.append)
    assert any(n.startswith("svm: C=") for n in said)
    assert messages(caplog, "hsi.stages") == []


def test_python_users_silence_them_the_usual_way(scene_file, tmp_path, caplog):
    caplog.set_level(logging.INFO)  # the root logger
    logging.getLogger("hsi").setLevel(logging.WARNING)
    train_run(tiny_config(scene_file, **SVM), run_dir=tmp_path / "run")
    assert not [r for r in caplog.records if r.name.startswith("hsi")]


def test_a_sweep_reports_its_runs_and_keeps_their_notes_at_debug(scene_file, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="hsi")
    config = tiny_config(scene_file, **SVM, out=str(tmp_path))
    run_sweep(config, [0])
    assert [m for m in messages(caplog, "hsi.sweep") if m.startswith("[1/1] ")]
    run_notes = [r for r in caplog.records if r.name == "hsi.sweep.run"]
    assert run_notes and all(r.levelno == logging.DEBUG for r in run_notes)
    caplog.clear()
    run_sweep(config, [0])
    assert any("already finished" in m for m in messages(caplog, "hsi.sweep"))


def test_the_cli_prints_them_as_bare_lines_and_quiet_hides_them(scene_file, tmp_path):
    runner = CliRunner()
    args = ["train", *tiny_options(scene_file), *SVM_OPTIONS, "--out", str(tmp_path)]
    loud = runner.invoke(app, [a for a in args if a != "--quiet"])
    assert loud.exit_code == 0, loud.output
    assert "class 2: 9 pixels, not more than 200; 4 used for training\n" in loud.stderr
    assert any(line.startswith("svm: C=") for line in loud.stderr.splitlines())
    assert loud.stdout.startswith("OA ")  # the results on stdout, as before
    quiet = runner.invoke(app, args)
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == ""
    # the command leaves the logger as it found it
    assert logging.getLogger("hsi").level == logging.NOTSET
    assert logging.getLogger("hsi").handlers == []
