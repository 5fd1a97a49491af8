"""Every bad input is refused the same way, and a failure never damages an output folder.

The promise (docs/errors.md): exit code 2, exactly one ``error: …`` line on stderr, no traceback,
and the output folder exactly as it was — nothing created, nothing half-written, nothing removed.
One row per case: bad files, options, bundles and outputs for train, predict, sweep and models;
then faults injected while writing (a full disk), and two runs writing into one folder at once.
"""

from __future__ import annotations

import errno
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import RUN_FILES
from typer.testing import CliRunner

from hsi.cli import app
from hsi.data.synthetic import make_scene

runner = CliRunner()
TINY = ["--pca", "13", "--patch", "9", "--epochs", "1", "--batch-size", "64", "--train-size", "0.3"]
TINY += ["--device", "cpu", "--quiet"]


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """A 24×24×20 scene with class ids 1..3, and variants of it that must be refused."""
    d = tmp_path_factory.mktemp("bad")
    scene = make_scene(24, 24, bands=20, n_classes=3, seed=0)
    cube, gt = scene.cube.astype(np.float32), scene.labels.astype(np.int64)
    np.savez(
        d / "scene.npz", cube=cube, labels=gt, flat=cube[:, :, 0], four=cube[None],
        cplx=cube.astype(np.complex64),
    )  # fmt: skip
    np.save(d / "cube.npy", cube)
    np.save(d / "tiny.npy", cube[:3, :5])  # narrower than half the bundle's 9×9 window
    np.save(d / "gt.npy", gt)
    np.savez(d / "zero.npz", cube=np.zeros_like(cube), labels=gt)
    np.savez(d / "constant.npz", cube=np.broadcast_to(cube[0, 0], cube.shape).copy(), labels=gt)
    # three spectral directions in 20 bands: PCA to 13 would whiten 10 components of zero variance
    rng = np.random.default_rng(0)
    low_rank = (rng.normal(size=(24 * 24, 3)) @ rng.normal(size=(3, 20))).reshape(24, 24, 20)
    np.savez(d / "rank3.npz", cube=low_rank.astype(np.float32), labels=gt)
    one = np.zeros_like(gt)
    one[2, 2], one[10, 10], one[20, 20] = 1, 2, 3
    np.savez(d / "onepixel.npz", cube=cube, labels=one)
    huge = np.where(gt > 0, np.uint64(2**63) + gt.astype(np.uint64), np.uint64(0))
    np.savez(d / "hugeid.npz", cube=cube, labels=huge)
    np.save(d / "other_gt.npy", np.where(gt > 0, gt + 100, 0))
    np.savez(d / "unlabeled.npz", cube=cube, labels=np.zeros_like(gt))
    (d / "a_file").write_text("not a folder\n")
    (d / "sub").mkdir()
    (d / "sub" / "m.npy").mkdir()  # a folder where predict's map.npy would go
    return d


def skip_where_mps(argv) -> None:
    """The cases of a device this machine lacks name MPS: a Mac has it."""
    if "mps" in map(str, argv) and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")


def scene_args(files: Path, name: str = "scene.npz", cube_key: str = "cube") -> list[str]:
    f = str(files / name)
    return ["--scene", f, "--labels", f, "--cube-key", cube_key, "--labels-key", "labels"]


@pytest.fixture(scope="module")
def bundle(files) -> Path:
    """A run trained once (one epoch) for the predict cases."""
    out = files / "trained"
    res = runner.invoke(app, ["train", *scene_args(files), *TINY, "--out", str(out)])
    assert res.exit_code == 0, res.output
    return (out / "latest").resolve() / "model.pt"


@pytest.fixture(scope="module")
def damaged(files, bundle) -> Path:
    """Bundles holding NaN in a weight or the PCA, one colour or class name fewer than classes."""
    payload = torch.load(bundle, weights_only=True)
    name = next(k for k, v in payload["state_dict"].items() if v.is_floating_point())
    payload["state_dict"][name].view(-1)[0] = float("nan")
    torch.save(payload, files / "nan_weights.pt")
    payload = torch.load(bundle, weights_only=True)
    payload["reducer_state"]["components"][0, 0] = float("nan")
    torch.save(payload, files / "nan_pca.pt")
    payload = torch.load(bundle, weights_only=True)
    payload["palette"] = payload["palette"][:-1]
    torch.save(payload, files / "short_palette.pt")
    payload = torch.load(bundle, weights_only=True)
    payload["class_names"] = payload["class_names"][:-1]
    torch.save(payload, files / "short_names.pt")
    payload = torch.load(bundle, weights_only=True)
    payload["model_name"] = "resnet"  # a model of another hsi, or of none
    torch.save(payload, files / "unknown_model.pt")
    payload = torch.load(bundle, weights_only=True)
    payload["patch"] = 10  # HybridSN takes 9 and up, odd only
    torch.save(payload, files / "even_patch.pt")
    with open(files / "plain_pickle.pt", "wb") as fh:
        pickle.dump({"weights": [1, 2, 3]}, fh, protocol=4)
    return files


# ----------------------------------------------------------------------------- helpers
def snapshot(folder: Path) -> dict[str, tuple] | None:
    """Every entry under ``folder`` (hidden ones too): kind, size, mtime, link target."""
    if not folder.exists():
        return None
    entries = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        link = os.readlink(path) if path.is_symlink() else None
        entries[str(path.relative_to(folder))] = (st.st_mode, st.st_size, st.st_mtime_ns, link)
    return entries


def check_refused(result, *needles: str) -> str:
    """Exit 2, one `error:` line on stderr and nothing else there, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def run_refused(argv: list[str], out: Path, needles: list[str], cwd: Path | None = None) -> str:
    """Invoke the CLI; it must refuse with one line and leave ``out`` exactly as it was.
    Returns that line."""
    before = snapshot(out)
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = runner.invoke(app, [str(a) for a in argv])
    finally:
        os.chdir(old)
    line = check_refused(result, *needles)
    assert snapshot(out) == before, f"{out} changed"
    return line


# ----------------------------------------------------------------------------- train
TRAIN_CASES = {
    # bad files
    "cube key names a 2-D array": (["--cube-key", "flat"], ["scene.npz:flat", "3-D"]),
    "cube key names a 4-D array": (["--cube-key", "four"], ["scene.npz:four", "3-D"]),
    "complex cube": (["--cube-key", "cplx"], ["complex"]),
    "all-zero cube": (["--scene-file", "zero.npz"], ["zero.npz", "constant"]),
    "constant cube": (["--scene-file", "constant.npz"], ["constant.npz", "constant"]),
    "more PCA components than directions": (["--scene-file", "rank3.npz"], ["--pca 13", "3"]),
    "one pixel per class": (["--scene-file", "onepixel.npz"], ["at least 2 labeled pixels"]),
    "class id above 2**63-1": (["--scene-file", "hugeid.npz"], ["2**63 - 1"]),
    "ground truth without a labeled pixel": (
        ["--scene-file", "unlabeled.npz"],
        ["unlabeled.npz: no labeled pixel", "at least 2 classes"],
    ),
    # what the model can take: checked before the scene is read, named as the options
    "fewer PCA components than the model takes": (
        ["--pca", "5"],
        ["--pca 5: hybridsn needs at least 13 components"],
    ),
    "a window smaller than the model takes": (
        ["--model", "ssftt", "--patch", "3"],
        ["--patch 3: ssftt needs windows of at least 5"],
    ),
    # options
    "negative seed": (["--seed", "-1"], ["--seed", "-1"]),
    "seed beyond 64 bits": (["--seed", str(2**64)], ["--seed", str(2**64)]),
    "infinite lr": (["--lr", "inf"], ["--lr", "finite"]),
    "NaN lr": (["--lr", "nan"], ["--lr", "finite"]),
    "zero lr": (["--lr", "0"], ["--lr"]),
    "train size 1.0, a count of 1 or every pixel": (["--train-size", "1.0"], ["--train-size"]),
    "val size not a number": (["--val-size", "ten"], ["--val-size", "ten"]),
    "batch size beyond a C int": (["--batch-size", str(10**20)], ["--batch-size", "2**31 - 1"]),
    "threads beyond a C int": (["--threads", str(10**20)], ["--threads", "2**31 - 1"]),
    "usage error from click": (["--pca", "abc"], ["--pca", "integer"]),
    "unknown option": (["--colour", "red"], ["--colour"]),
    # outputs
    "--out is a file": (["--out-at", "a_file"], ["--out", "a_file is a file"]),
    "--out under a file": (["--out-at", "a_file/runs"], ["--out", "a_file is a file"]),
    "--out under /proc": (["--out-abs", "/proc/hsi-runs"], ["--out", "cannot write"]),
    "runs/latest is a real folder": (["--latest-folder"], ["latest is a folder"]),
    "a device this machine lacks": (["--device", "mps"], ["--device mps", "no Apple MPS GPU"]),
    # training that diverges: stopped at once, no run left behind
    "loss becomes NaN": (["--lr", "1e30", "--epochs", "3"], ["diverged", "--lr"]),
}


@pytest.mark.parametrize("case", TRAIN_CASES, ids=list(TRAIN_CASES))
def test_train_refuses(files, tmp_path, case):
    extra, needles = TRAIN_CASES[case]
    out = tmp_path / "runs"
    name, cube_key, args = "scene.npz", "cube", []
    it = iter(extra)
    for a in it:
        if a == "--scene-file":
            name = next(it)
        elif a == "--cube-key":
            cube_key = next(it)
        elif a == "--out-at":
            out = files / next(it)
        elif a == "--out-abs":
            out = Path(next(it))
        elif a == "--latest-folder":
            (out / "latest").mkdir(parents=True)
            (out / "latest" / "mine.txt").write_text("a user's own folder\n")
        else:
            args.append(a)
    argv = ["train", *scene_args(files, name, cube_key), *TINY, *args, "--out", out]
    skip_where_mps(argv)
    run_refused(argv, out, needles)


def test_loader_processes_are_at_most_four_per_usable_cpu():
    # --workers 100000 used to start that many processes, each with its own torch; the weights
    # do not depend on it, so a config recorded on a larger machine still runs, with fewer
    from hsi.seeding import usable_cores
    from hsi.stages import loader_processes

    notes: list[str] = []
    most = 4 * usable_cores()
    assert loader_processes(100_000, notes.append) == most
    assert notes == [f"workers 100000: {most} loader processes here (4 per CPU)"]
    cores = usable_cores()
    assert loader_processes(cores, notes.append) == cores and len(notes) == 1
    assert loader_processes(cores + 1, notes.append) == cores + 1
    assert (
        notes[-1]
        == f"workers {cores + 1}: more loader processes than the {cores} CPUs here; they share them"
    )


def test_more_loader_processes_than_cpus_is_noted_once_not_warned_by_torch():
    # torch's own warning came twice, with source lines, under --quiet too
    import warnings

    from torch.utils.data import DataLoader

    from hsi.seeding import usable_cores
    from hsi.training import _Loader

    many = usable_cores() + 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        DataLoader(range(4), num_workers=many)
        assert any("This DataLoader will create" in str(w.message) for w in caught)
        caught.clear()
        _Loader(range(4), num_workers=many)
    assert not caught, [str(w.message) for w in caught]


def test_a_split_with_no_test_pixel_is_one_line_without_quiet_too(files, tmp_path):
    """The split's notes (blocks, classes without test pixels) used to come first: five lines
    before the error. The error names the options that would leave test pixels."""
    out = tmp_path / "runs"
    loud = [a for a in TINY if a != "--quiet"]
    argv = ["train", *scene_args(files), *loud, "--split", "spatial", "--buffer", "40"]
    line = run_refused([*argv, "--out", out], out, ["no test pixel"])
    assert all(f"--{o}" in line for o in ("train-size", "val-size", "buffer", "block-size")), line


def test_under_torchrun_process_0_alone_prints_a_bad_option(files, tmp_path, monkeypatch):
    """Every process checks the same options: N copies of one error line helped no one. An
    error a process may meet alone (a file its node cannot read) is still each one's to say,
    and RANK without torchrun's WORLD_SIZE (a cluster's own variable) silences nothing."""
    argv = ["train", *scene_args(files), *TINY, "--lr", "0", "--out", tmp_path / "runs"]
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    result = runner.invoke(app, [str(a) for a in argv])
    assert result.exit_code == 2 and result.stderr == "", result.stderr
    from hsi.cli.app import _left_to_process_0
    from hsi.errors import DataError

    assert not _left_to_process_0(DataError("scene.npz: cannot read the file"))
    monkeypatch.setenv("RANK", "0")
    run_refused(argv, tmp_path / "runs", ["--lr"])
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "1")
    run_refused(argv, tmp_path / "runs", ["--lr"])


def test_read_only_out_is_refused_before_the_scene_is_read(files, tmp_path, monkeypatch):
    """A read-only file system (EROFS) simulated: root ignores permission bits, not mounts."""
    import tempfile

    from hsi import stages

    ro = tmp_path / "ro"
    ro.mkdir()
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve().is_relative_to(ro):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dir))
        return real_mkstemp(*args, dir=dir, **kwargs)

    def never(*args, **kwargs):
        raise AssertionError("the scene was read before --out was checked")

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(stages, "scene_from_config", never)
    argv = ["train", *scene_args(files), *TINY, "--out", ro / "runs"]
    run_refused(argv, ro, ["--out", "Read-only file system"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")
def test_train_refuses_a_read_only_out_before_training(files, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        argv = ["train", *scene_args(files), *TINY, "--out", locked / "runs"]
        run_refused(argv, locked, ["--out", "cannot write"])
    finally:
        locked.chmod(0o755)


# ----------------------------------------------------------------------------- predict
# (scene, bundle, --out, more options): file names are in the `files` folder; None: the default
PREDICT_CASES = {
    "NaN in the weights": ((None, "nan_weights.pt", None, []), ["nan_weights.pt", "NaN"]),
    "NaN in the PCA": ((None, "nan_pca.pt", None, []), ["nan_pca.pt", "PCA"]),
    "a colour short": ((None, "short_palette.pt", None, []), ["short_palette.pt", "palette"]),
    "a class name short": ((None, "short_names.pt", None, []), ["short_names.pt", "class name"]),
    "a model this hsi lacks": (
        (None, "unknown_model.pt", None, []),
        ["unknown_model.pt: cannot rebuild its model", "'resnet'"],
    ),
    "an even window": ((None, "even_patch.pt", None, []), ["even_patch.pt", "must be odd"]),
    "a plain pickle": ((None, "plain_pickle.pt", None, []), ["plain_pickle.pt: not a model"]),
    "a device this machine lacks": ((None, None, None, ["--device", "mps"]), ["--device mps"]),
    "ground truth of other class ids": (
        (None, None, None, ["--labels", "other_gt.npy"]),
        ["other_gt.npy", "101, 102, 103", "1, 2, 3"],
    ),
    "cube key names a 2-D array": (
        ("scene.npz", None, None, ["--cube-key", "flat"]),
        ["scene.npz:flat", "3-D"],
    ),
    "constant cube": (("zero.npz", None, None, ["--cube-key", "cube"]), ["constant"]),
    # the bundle's window, not a --patch that predict has no option for
    "a scene too small for the window": (
        ("tiny.npy", None, None, []),
        ["tiny.npy is 3×5 pixels, too small for the 9×9 windows", "at least 5 pixels each way"],
    ),
    "--out under a file": ((None, None, "a_file/m.png", []), ["--out", "a_file is a file"]),
    "--out's .npy is a folder": ((None, None, "sub/m.png", []), ["m.npy is a folder"]),
    "usage error from click": ((None, None, None, ["--method"]), ["--method"]),
    # a map written over what it reads: the .npy beside a PNG, the ground truth, the map itself
    "--out's .npy is the scene": (
        (None, None, "cube.png", []),
        ["--out", "npy file would overwrite", "cube.npy, an input"],
    ),
    "--out's .npy is the ground truth": (
        (None, None, "gt.png", ["--labels", "gt.npy"]),
        ["--out", "gt.npy, an input"],
    ),
    # options of the other mode (one map / --out-dir), refused rather than ignored
    "--format without --out-dir": ((None, None, None, ["--format", "tif"]), ["--format: for"]),
    "--backend without --out-dir": (
        (None, None, None, ["--backend", "ray"]),
        ["--backend: for --out-dir DIR (several scenes)"],
    ),
    "--address without --out-dir": (
        (None, None, None, ["--address", "auto"]),
        ["--address: for --out-dir DIR (several scenes)"],
    ),
    "--out beside --out-dir": (
        (None, None, None, ["--out-dir", "maps"]),
        ["--out: for one scene", "--out-dir names each map"],
    ),
}


@pytest.mark.parametrize("case", PREDICT_CASES, ids=list(PREDICT_CASES))
def test_predict_refuses(files, bundle, damaged, tmp_path, case):
    (scene, model, out, extra), needles = PREDICT_CASES[case]
    scene = files / (scene or "cube.npy")
    model = files / model if model else bundle
    out = files / out if out else tmp_path / "m.png"
    extra = [str(files / a) if a.endswith(".npy") else a for a in extra]
    argv = ["predict", scene, "--model", model, "--out", out, *extra]
    skip_where_mps(argv)
    run_refused(argv, out.parent, needles)


# ----------------------------------------------------------------------------- sweep, models
SWEEP_CASES = {
    "a hundred billion seeds": (["--seeds", "0-100000000000"], ["--seeds", "10,000 distinct"]),
    "seed beyond 64 bits": (["--seeds", f"0,{2**64}"], ["--seeds", str(2**64)]),
    "--out is a file": (["--out-at", "a_file"], ["--out", "a_file"]),
    "infinite lr": (["--lr", "inf"], ["--lr"]),
    # each size of the list before the first run trains, not only the first
    "a training size of the list out of range": (
        ["--train-size", "0.3,1.5"],
        ["--train-size", "got 1.5"],
    ),
    "a model of the list that the PCA cannot feed": (
        ["--models", "svm,hybridsn", "--pca", "5"],
        ["--pca 5: hybridsn needs at least 13"],
    ),
    "a device this machine lacks": (["--device", "mps"], ["--device mps"]),
    # found after work began: no sweep folder holding only its manifest is left behind
    "the first run diverges": (["--lr", "1e30", "--epochs", "3"], ["diverged", "--lr"]),
}


@pytest.mark.parametrize("case", SWEEP_CASES, ids=list(SWEEP_CASES))
def test_sweep_refuses(files, tmp_path, case):
    extra, needles = SWEEP_CASES[case]
    out = tmp_path / "sweeps"
    if extra[0] == "--out-at":
        out, extra = files / extra[1], []
    argv = ["sweep", *scene_args(files), *TINY, *extra, "--out", out]
    skip_where_mps(argv)
    run_refused(argv, out, needles)


def test_models_lists_those_that_fit_and_marks_the_others():
    res = runner.invoke(app, ["models", "--bands", "5", "--no-timing"])
    assert res.exit_code == 0, res.output
    for name in ("hybridsn", "hybridsn_se", "hybridsn_cbam"):
        assert f"does not fit: {name} needs at least 13" in res.stdout
    # the table's rows by their first cell (rich may wrap a long name onto a second line)
    rows = {}
    for line in res.stdout.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells and cells[0]:
            rows.setdefault(cells[0].split()[0], cells)
    assert set(rows["hybridsn"][1:]) == {"-"} and "(does" in rows["hybridsn"][0]
    assert any(c.isdigit() for c in rows["mobilenet_v2"][1]), rows["mobilenet_v2"]
    check_refused(runner.invoke(app, ["models", "--pca", "0", "--no-timing"]), "--pca")
    # an even window fits no model: the error says so rather than naming HybridSN's minimum
    check_refused(runner.invoke(app, ["models", "--patch", "8", "--no-timing"]), "--patch", "odd")


def test_usage_errors_are_one_line_in_a_real_process(files, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "hsi.cli", "train", "--pca", "abc"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [proc.stderr.strip()], proc.stderr
    assert proc.stderr.startswith("error: ") and "--pca" in proc.stderr
    assert "Usage" not in proc.stderr


def test_a_foreign_pickle_is_one_line_in_a_real_process(files, damaged, tmp_path):
    # torch's safe unpickler warns about the pickle's protocol first: two lines before the error
    argv = ["predict", files / "cube.npy", "--model", files / "plain_pickle.pt"]
    argv += ["--out", tmp_path / "m.png"]
    proc = subprocess.run(
        [sys.executable, "-m", "hsi.cli", *map(str, argv)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [proc.stderr.strip()], proc.stderr
    assert "plain_pickle.pt: not a model bundle" in proc.stderr


def test_an_allocation_too_large_is_one_line():
    # 10**11 classes: a head of 47 TB; torch's allocator error used to be a traceback
    res = runner.invoke(app, ["models", "--classes", str(10**11), "--no-timing"])
    assert res.exit_code == 1, (res.output, res.exception)
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: out of memory: tried to allocate ")
    assert "GiB" in lines[0] and "--classes" in lines[0] and "Traceback" not in res.output


# ----------------------------------------------------------------------------- faults while writing
def _fill_then_fail(path, *args, **kwargs):
    """A writer that gets half-way, then finds the disk full."""
    with open(path, "wb") as fh:
        fh.write(b"\0" * 1000)
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_during_predict_leaves_the_old_outputs(files, bundle, tmp_path, monkeypatch):
    out = tmp_path / "m.png"
    argv = ["predict", files / "cube.npy", "--model", bundle, "--out", out, "--labels"]
    argv.append(files / "gt.npy")
    ok = runner.invoke(app, [str(a) for a in argv])
    assert ok.exit_code == 0, ok.output
    import scipy.io

    # the .mat is written after the .npy: the .npy must not replace the old one either
    monkeypatch.setattr(scipy.io, "savemat", _fill_then_fail)
    run_refused(argv, tmp_path, ["No space left on device"])


@pytest.mark.parametrize("failing", ["save_map", "save_panels"])
def test_predict_failing_at_its_last_output_writes_none(
    files, bundle, tmp_path, monkeypatch, failing
):
    from hsi import render

    if failing == "save_map":
        monkeypatch.setattr(render, "save_map", _fill_then_fail)
    else:

        def bad_palette(*args, **kwargs):
            raise render.RenderError("palette must have shape (3, 3) for 3 classes, got (2, 3)")

        monkeypatch.setattr(render, "save_panels", bad_palette)
    out = tmp_path / "maps"
    argv = ["predict", files / "cube.npy", "--model", bundle, "--out", out / "m.png"]
    run_refused([*argv, "--labels", files / "gt.npy"], tmp_path, [])
    assert not out.exists()  # the folder made for the outputs went too


def test_full_disk_while_writing_the_run_leaves_no_run(files, tmp_path, monkeypatch):
    from hsi import render

    out = tmp_path / "runs"
    ok = runner.invoke(app, ["train", *scene_args(files), *TINY, "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    # the curves are the last file of a run folder
    monkeypatch.setattr(render, "save_curves", _fill_then_fail)
    argv = ["train", *scene_args(files), *TINY, "--out", out]
    run_refused(argv, out, ["No space left on device", "nothing was kept"])
    fresh = tmp_path / "fresh"
    run_refused(["train", *scene_args(files), *TINY, "--out", fresh], fresh, ["No space left"])


# ----------------------------------------------------------------------------- concurrency
def test_two_processes_training_into_one_folder_at_once(files, tmp_path):
    """Same options, same seed, same --out, started together: two complete, distinct runs."""
    out = tmp_path / "runs"
    argv = [sys.executable, "-m", "hsi.cli", "train", *scene_args(files), *TINY, "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (_, stderr) in zip(procs, results, strict=True):
        assert p.returncode == 0, stderr
    runs = [
        Path(next(ln for ln in s.splitlines() if ln.startswith("run: "))[5:]) for s, _ in results
    ]
    assert runs[0] != runs[1]
    for run in runs:
        assert {p.name for p in run.iterdir()} == RUN_FILES
    names = {p.name for p in out.iterdir()}
    assert names == {"latest", runs[0].name, runs[1].name}, names  # no temporary left over
    latest = out / "latest"
    assert latest.is_symlink() and os.readlink(latest) in {runs[0].name, runs[1].name}
    assert {p.name for p in latest.iterdir()} == RUN_FILES


def test_staged_folders_of_one_name_never_mix(tmp_path):
    """Two runs of one name filled at the same time: private temporaries, distinct results."""
    from hsi.runfolder import point_latest, staged_folder

    # a stray file with the old fixed temporary name must neither block nor be deleted
    (tmp_path / ".tmp-scene_hybridsn_s0_t").write_text("someone's file\n")
    with (
        staged_folder(tmp_path, "scene_hybridsn_s0_t") as a,
        staged_folder(tmp_path, "scene_hybridsn_s0_t") as b,
    ):
        assert a.path != b.path
        (a.path / "who.txt").write_text("a")
        (b.path / "who.txt").write_text("b")
    assert a.final != b.final
    assert (a.final / "who.txt").read_text() == "a" and (b.final / "who.txt").read_text() == "b"
    assert (tmp_path / ".tmp-scene_hybridsn_s0_t").read_text() == "someone's file\n"
    point_latest(a.final)
    point_latest(b.final)
    assert os.readlink(tmp_path / "latest") == b.final.name
    hidden = {p.name for p in tmp_path.iterdir() if p.name.startswith(".")}
    assert hidden == {".tmp-scene_hybridsn_s0_t"}


def test_staged_folder_left_by_an_error_leaves_nothing(tmp_path):
    from hsi.runfolder import staged_folder

    parent = tmp_path / "new" / "runs"
    with pytest.raises(RuntimeError), staged_folder(parent, "run") as stage:
        (stage.path / "model.pt").write_bytes(b"half")
        raise RuntimeError("a bug half-way")
    assert not (tmp_path / "new").exists()


def test_class_ids_beyond_32_bits_keep_their_value(files, bundle, tmp_path):
    """5,000,000,001 came back as 705,032,705: ids must keep their width in .npy and .mat."""
    import scipy.io

    payload = torch.load(bundle, weights_only=True)
    big = [5_000_000_000 + i for i in payload["class_ids"]]
    payload["class_ids"] = big
    torch.save(payload, tmp_path / "big.pt")
    out = tmp_path / "m.png"
    argv = ["predict", files / "cube.npy", "--model", tmp_path / "big.pt", "--out", out, "-q"]
    res = runner.invoke(app, [str(a) for a in argv])
    assert res.exit_code == 0, res.output
    assert set(np.unique(np.load(tmp_path / "m.npy")).tolist()) <= set(big)
    mat = scipy.io.loadmat(tmp_path / "m.mat")["prediction"]
    assert set(np.unique(mat).tolist()) <= set(big)
