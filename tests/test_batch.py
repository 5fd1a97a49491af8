"""`hsi predict A B C --out-dir DIR`: many scenes, one model, failures per scene."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from hsi.cli import app

runner = CliRunner()


@pytest.fixture
def scenes(workdir, tmp_path):
    """Two good copies of the CLI scene (one shrunk) and a corrupt one."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(workdir / "cube.npy", folder / "a.npy")
    np.save(folder / "b.npy", np.load(workdir / "cube.npy")[:20, :30])
    (folder / "bad.npy").write_bytes(b"not a numpy file")
    return [folder / "a.npy", folder / "bad.npy", folder / "b.npy"]


def _run(scenes, trained, out, *extra):
    args = ["predict", *map(str, scenes), "--model", str(trained), "--out-dir", str(out)]
    return runner.invoke(app, [*args, *extra])


def _rows(out):
    with open(out / "summary.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("backend", ["local", "ray"])
def test_maps_the_good_scenes_reports_the_bad_one(scenes, trained, tmp_path, backend):
    if backend == "ray":
        pytest.importorskip("ray")
    out = tmp_path / "maps"
    res = _run(scenes, trained, out, "--format", "tif", "--backend", backend)
    assert res.exit_code == 1, res.output
    assert "2 of 3 scenes mapped" in res.stdout
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "bad.npy" in errors[0], res.stderr
    assert errors[0].count("bad.npy") == 1, errors[0]  # the scene named once, not twice
    assert sorted(p.name for p in out.iterdir()) == [
        "a.qml", "a.tif", "b.qml", "b.tif", "summary.csv",
    ]  # fmt: skip
    rows = _rows(out)
    assert [(r["scene"].rsplit("/", 1)[-1], r["status"]) for r in rows] == [
        ("a.npy", "ok"), ("bad.npy", "error"), ("b.npy", "ok"),
    ]  # fmt: skip
    assert rows[1]["error"] and not rows[0]["error"]
    # the class histogram adds up to the mapped pixels
    counts = [int(v) for k, v in rows[2].items() if k.startswith("class_") and v]
    assert sum(counts) == int(rows[2]["pixels"]) == 20 * 30


def test_the_maps_equal_one_scene_predictions(scenes, trained, tmp_path):
    out = tmp_path / "maps"
    _run([scenes[0], scenes[2]], trained, out)
    single = tmp_path / "one" / "a.png"
    res = runner.invoke(
        app, ["predict", str(scenes[0]), "--model", str(trained), "--out", str(single)]
    )
    assert res.exit_code == 0, res.output
    np.testing.assert_array_equal(np.load(out / "a.npy"), np.load(single.with_suffix(".npy")))


def test_batch_refuses_what_only_one_scene_takes(scenes, trained, workdir, tmp_path):
    res = _run(scenes[:2], trained, tmp_path / "o", "--labels", str(workdir / "gt.npy"))
    assert res.exit_code == 2 and "--labels: for one scene" in res.output
    res = runner.invoke(app, ["predict", *map(str, scenes[:2]), "--model", str(trained)])
    assert res.exit_code == 2 and "several scenes need --out-dir" in res.output
    twice = [scenes[0], scenes[0].parent.parent / "a.npy"]
    shutil.copy(scenes[0], twice[1])
    res = _run(twice, trained, tmp_path / "o")
    assert res.exit_code == 2 and "same map (a)" in res.output
    assert not (tmp_path / "o").exists()


def test_maps_never_overwrite_the_scenes(trained, tmp_path, workdir):
    import rasterio  # noqa: F401 - GeoTIFF scenes
    from test_geo_read import cube_tif

    folder = tmp_path / "flights"
    folder.mkdir()
    cube_tif(folder / "a.tif", np.load(workdir / "cube.npy"))
    before = (folder / "a.tif").read_bytes()
    res = _run([folder / "a.tif"], trained, folder, "--format", "tif")
    assert res.exit_code == 2 and "would overwrite" in res.output, res.output
    assert f"{folder / 'a.tif'}, a scene to map" in res.output, res.output
    assert (folder / "a.tif").read_bytes() == before


def test_maps_beside_their_scenes_unless_a_file_would_overwrite_one(trained, tmp_path, workdir):
    folder = tmp_path / "flights"
    folder.mkdir()
    shutil.copy(workdir / "cube.npy", folder / "a.npy")
    before = (folder / "a.npy").read_bytes()
    # a PNG map writes a.npy beside it: refused before any map, naming that file
    res = _run([folder / "a.npy"], trained, folder)
    assert res.exit_code == 2, res.output
    assert "npy file of a.npy's map would overwrite" in res.output, res.output
    assert sorted(p.name for p in folder.iterdir()) == ["a.npy"]
    # a GeoTIFF map (a.tif, a.qml) overwrites nothing: mapped into the scenes' own folder
    pytest.importorskip("rasterio")
    res = _run([folder / "a.npy"], trained, folder, "--format", "tif")
    assert res.exit_code == 0, res.output
    assert (folder / "a.tif").is_file() and (folder / "a.npy").read_bytes() == before


@pytest.mark.parametrize(
    "extra, needles",
    [
        (["--confidence"], ["--confidence: a PNG map cannot hold it", "--format tif or hdr"]),
        (["--device", "mps"], ["--device mps: this machine has no Apple MPS GPU"]),
    ],
)
def test_options_every_scene_shares_are_checked_once_before_any(
    scenes, trained, tmp_path, extra, needles
):
    # each used to fail every scene alone: exit 1, an --out-dir holding only summary.csv
    import torch

    if "mps" in extra and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    res = _run(scenes, trained, tmp_path / "o", *extra)
    assert res.exit_code == 2, res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and all(n in lines[0] for n in needles), res.stderr
    assert not (tmp_path / "o").exists()


def test_an_error_that_names_its_scene_with_a_space_names_it_once(workdir, trained, tmp_path):
    # "few.npy has 10 bands but …": the line used to read "few.npy: few.npy has …"
    np.save(tmp_path / "few.npy", np.load(workdir / "cube.npy")[:, :, :10])
    res = _run([tmp_path / "few.npy"], trained, tmp_path / "maps")
    assert res.exit_code == 1, res.output
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith("error: few.npy has 10 bands"), errors
    assert errors[0].count("few.npy") == 1, errors[0]
