"""`hsi predict --out map.tif | map.hdr`: georeferenced maps that QGIS and ENVI open, from a
GeoTIFF scene; the RGB view beside the maps; pixels the reader could not use stay 0."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

rasterio = pytest.importorskip("rasterio")
from test_geo_read import GDAL_T, cube_tif, write_tif  # noqa: E402

from hsi.cli import app  # noqa: E402
from hsi.errors import HSIError  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def geo_scene(workdir, tmp_path_factory):
    """The CLI tests' scene as a UTM GeoTIFF cube and a GeoTIFF ground truth."""
    d = tmp_path_factory.mktemp("geo")
    cube = np.load(workdir / "cube.npy")
    gt = np.load(workdir / "gt.npy").astype(np.uint8)
    return cube_tif(d / "cube.tif", cube), write_tif(d / "gt.tif", gt), cube, gt


def _predict(scene, trained, out, *extra):
    args = ["predict", str(scene), "--model", str(trained), "--out", str(out), *extra]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return res


def test_geotiff_map_keeps_the_scenes_georeferencing(geo_scene, trained, tmp_path):
    scene, labels, _, gt = geo_scene
    out = tmp_path / "maps" / "map.tif"
    res = _predict(scene, trained, out, "--labels", str(labels))
    with rasterio.open(out) as src:
        ids = src.read(1)
        assert src.crs.to_epsg() == 32633
        assert src.transform.to_gdal() == pytest.approx(GDAL_T)
        assert src.nodata == 0
        colours = src.colormap(1)
    assert set(np.unique(ids)) <= {1, 10, 11, 12, 13, 14}  # the ground truth's own ids
    assert colours[10][:3] != colours[11][:3]
    names = sorted(p.name for p in out.parent.iterdir())
    assert names == ["map.qml", "map.tif", "map_metrics.json", "map_panels.png"]
    assert "style: " in res.output and "map.qml" in res.output  # the QGIS style is listed
    # the same ids as the PNG path's .npy
    _predict(scene, trained, tmp_path / "png" / "map.png")
    np.testing.assert_array_equal(ids, np.load(tmp_path / "png" / "map.npy"))
    assert gt.shape == ids.shape


def test_envi_classification_map(geo_scene, trained, tmp_path):
    import spectral

    scene, *_ = geo_scene
    out = tmp_path / "map.hdr"
    _predict(scene, trained, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.hdr", "map.img"]
    img = spectral.envi.open(str(out))
    assert img.metadata["file type"] == "ENVI Classification"
    with rasterio.open(tmp_path / "map.img") as src:  # the scene's place, as GDAL (QGIS) reads it
        assert src.crs.to_epsg() == 32633
        assert src.transform.to_gdal() == pytest.approx(GDAL_T)
    ids = np.asarray(img.load())[:, :, 0]
    _predict(scene, trained, tmp_path / "tif" / "map.tif")
    with rasterio.open(tmp_path / "tif" / "map.tif") as src:
        np.testing.assert_array_equal(ids, src.read(1))


def test_nodata_pixels_are_no_class(geo_scene, trained, tmp_path):
    """A flight line's fill (nodata) is zero-filled by --nonfinite mask: it must map to 0, not
    to whatever class a zero spectrum looks like."""
    _, _, cube, _ = geo_scene
    holed = cube.copy()
    holed[:5, :7] = -9999.0
    scene = cube_tif(tmp_path / "holed.tif", holed, nodata=-9999.0)
    out = tmp_path / "m.tif"
    _predict(scene, trained, out, "--nonfinite", "mask")
    with rasterio.open(out) as src:
        ids = src.read(1)
    assert (ids[:5, :7] == 0).all() and (ids[5:] != 0).all()


def test_panels_start_with_the_rgb_view(geo_scene, trained, tmp_path, monkeypatch):
    from hsi import render

    seen = {}

    def spy(path, *args, **kwargs):
        seen.update(kwargs)
        return real(path, *args, **kwargs)

    real = render.save_panels
    monkeypatch.setattr(render, "save_panels", spy)
    scene, labels, cube, _ = geo_scene
    _predict(scene, trained, tmp_path / "m.png", "--labels", str(labels))
    assert seen["rgb"].shape == cube.shape[:2] + (3,) and seen["rgb"].dtype == np.uint8
    assert seen["rgb_title"].startswith("false colour")  # no wavelengths in this GeoTIFF


def test_unknown_map_suffix_is_refused_before_any_work(workdir, trained, tmp_path):
    res = runner.invoke(
        app, ["predict", str(workdir / "cube.npy"), "--model", str(trained), "--out", "m.jpg"]
    )
    assert res.exit_code == 2
    assert "--out m.jpg: expected a map file ending in .png, .tif, .tiff, .hdr" in res.output


def test_confidence_beside_the_geotiff(geo_scene, trained, tmp_path):
    scene, *_ = geo_scene
    out = tmp_path / "m.tif"
    _predict(scene, trained, out, "--confidence")
    with rasterio.open(out) as src:
        ids = src.read(1)
    with rasterio.open(tmp_path / "m_confidence.tif") as src:
        conf = src.read(1)
        assert src.dtypes[0] == "float32" and src.crs.to_epsg() == 32633
    assert conf.shape == ids.shape
    # the largest of K probabilities: at least 1/K, at most 1
    assert np.nanmin(conf) >= 1 / 6 - 1e-6 and np.nanmax(conf) <= 1 + 1e-6
    # and exactly the network's: the softmax of its logits, as HSIClassifier.predict_proba gives
    from hsi import HSIClassifier

    cube = geo_scene[2]
    expected = HSIClassifier.load(trained).predict_proba(cube).max(axis=-1)
    np.testing.assert_allclose(conf, expected, rtol=0, atol=1e-4)  # a GPU may round otherwise
    # the same map as without --confidence (its arg-max)
    _predict(scene, trained, tmp_path / "plain.tif")
    with rasterio.open(tmp_path / "plain.tif") as src:
        np.testing.assert_array_equal(ids, src.read(1))


def test_an_envi_map_named_like_a_confidence_keeps_all_four_files(geo_scene, trained, tmp_path):
    """The files' roles were once guessed from '_confidence' in their names: a map called
    a_confidence.hdr lost its .img to its confidence's, and the command still exited 0."""
    scene, *_ = geo_scene
    res = _predict(scene, trained, tmp_path / "a_confidence.hdr", "--confidence")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "a_confidence.hdr", "a_confidence.img",
        "a_confidence_confidence.hdr", "a_confidence_confidence.img",
    ], names  # fmt: skip
    for role in ("map:", "image:", "confidence:", "confidence_image:"):
        assert role in res.output, res.output


@pytest.mark.parametrize("name", ["m.TIF", "m.Tiff", "m.HDR"])
def test_an_upper_case_suffix_takes_the_confidence_too(geo_scene, trained, tmp_path, name):
    """Map formats are read from the suffix in any case; the confidence beside such a map once
    ended the command in a KeyError traceback before anything was written."""
    scene, *_ = geo_scene
    res = _predict(scene, trained, tmp_path / name, "--confidence")
    suffix = name.split(".")[1]
    names = sorted(p.name for p in tmp_path.iterdir())
    expected = [name, f"m_confidence.{suffix.lower()}"]
    expected += ["m.img", "m_confidence.img"] if suffix == "HDR" else ["m.qml"]
    assert names == sorted(expected), names
    assert "confidence:" in res.output


def test_confidence_needs_a_raster_map(geo_scene, trained, tmp_path):
    scene, *_ = geo_scene
    args = ["predict", str(scene), "--model", str(trained), "--out", str(tmp_path / "m.png")]
    res = runner.invoke(app, [*args, "--confidence"])
    assert res.exit_code == 2 and "--confidence: a PNG map cannot hold it" in res.output
    assert not list(tmp_path.iterdir())


def test_a_scene_from_other_wavelengths_is_refused(tmp_path, one_thread):
    """Same band count, other band centres: the model would read other colours as its own."""
    from hsi.bundle import ModelBundle
    from hsi.config import TrainConfig
    from hsi.data.synthetic import make_scene
    from hsi.experiment import predict_run, train_run

    scene = make_scene(24, 24, bands=20, n_classes=3, seed=0)
    cube = np.ascontiguousarray(scene.cube.transpose(2, 0, 1))
    nm = np.linspace(450, 900, 20)

    def tif(path, wavelengths):
        write_tif(path, cube)
        with rasterio.open(path, "r+") as dst:
            for band, w in enumerate(wavelengths, start=1):
                dst.update_tags(band, wavelength=f"{w:.1f}", wavelength_units="nm")
        return path

    tif(tmp_path / "train.tif", nm)
    write_tif(tmp_path / "gt.tif", scene.labels.astype(np.uint8))
    config = TrainConfig(
        scene=str(tmp_path / "train.tif"), labels=str(tmp_path / "gt.tif"), model="svm", pca=10,
        epochs=1, device="cpu", out=str(tmp_path / "runs"),
    )  # fmt: skip
    run = train_run(config).run_dir
    assert ModelBundle.load(run).info["wavelengths"] == pytest.approx(nm, abs=0.06)
    same = tif(tmp_path / "same.tif", nm + 0.3)  # the same bands, read back a little off
    predict_run(same, tmp_path / "ok.png", bundle_path=run)
    other = tif(tmp_path / "other.tif", np.linspace(400, 2400, 20))
    with pytest.raises(HSIError, match="band 20 is at 2400 nm but the model .* on 900 nm there"):
        predict_run(other, tmp_path / "no.png", bundle_path=run)


@pytest.mark.parametrize("out", ["cube.tif", "gt.tif"])
def test_a_geotiff_map_never_replaces_its_scene_or_ground_truth(geo_scene, trained, out):
    scene, labels, *_ = geo_scene
    before = {p.name: p.read_bytes() for p in scene.parent.iterdir()}
    target = scene.parent / out
    args = ["predict", str(scene), "--labels", str(labels), "--model", str(trained)]
    res = runner.invoke(app, [*args, "--out", str(target)])
    assert res.exit_code == 2 and f"would overwrite {target}, an input" in res.stderr, res.output
    assert {p.name: p.read_bytes() for p in scene.parent.iterdir()} == before
