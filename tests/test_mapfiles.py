"""Map writers by suffix: GeoTIFF and ENVI read back with rasterio and spectral, all-or-nothing."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import scipy.io

rasterio = pytest.importorskip("rasterio")

from hsi import mapfiles  # noqa: E402
from hsi.atomic import atomic_paths  # noqa: E402
from hsi.data.io import read_labels, read_scene  # noqa: E402
from hsi.mapfiles import MapError, id_dtype, map_paths, raster_dtype, write_map  # noqa: E402

IDS = np.array([1, 10, 11, 14])
NAMES = ["Alfalfa", "Corn, notill", "Grass {pasture}", "Woods"]
PALETTE = np.array([[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200]], np.uint8)
PRED = np.random.default_rng(0).choice([0, 1, 10, 11, 14], size=(12, 9))
CONF = np.random.default_rng(1).random((12, 9)).astype(np.float32)
GT = (500000.0, 30.0, 0.0, 4100000.0, 0.0, -30.0)
CRS = "EPSG:32633"
# maps written without a transform are fine; rasterio warns when the test opens them
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")


def files(folder):
    return sorted(p.name for p in folder.iterdir())


# -- GeoTIFF ---------------------------------------------------------------------------------


def test_geotiff_round_trip(tmp_path):
    out = tmp_path / "map.tif"
    written = write_map(out, PRED, IDS, NAMES, PALETTE, crs=CRS, transform=GT, title="IP")
    assert written == [out, tmp_path / "map.qml"]
    assert files(tmp_path) == ["map.qml", "map.tif"]  # no temporaries left behind
    with rasterio.open(out) as src:
        assert src.count == 1 and src.dtypes == ("uint8",)
        np.testing.assert_array_equal(src.read(1), PRED)  # the ground truth's own ids
        assert src.nodata == 0
        assert src.crs == rasterio.crs.CRS.from_string(CRS)
        assert src.transform.to_gdal() == GT
        assert src.colorinterp[0] == rasterio.enums.ColorInterp.palette
        cmap = src.colormap(1)
        for i, colour in zip(IDS, PALETTE, strict=True):
            assert cmap[int(i)] == (*colour.tolist(), 255)
        tags = src.tags()
        assert json.loads(tags["CLASS_NAMES"]) == {
            str(i): n for i, n in zip(IDS, NAMES, strict=True)
        }
        assert tags["CLASS_10"] == "Corn, notill"
        assert tags["TIFFTAG_IMAGEDESCRIPTION"] == "IP"


def test_geotiff_map_reads_back_as_labels(tmp_path):
    out = tmp_path / "map.tif"
    write_map(out, PRED, IDS, NAMES, PALETTE, crs=CRS, transform=GT)
    np.testing.assert_array_equal(read_labels(out), PRED)


def test_qgis_style_names_every_class(tmp_path):
    write_map(tmp_path / "map.tif", PRED, IDS, NAMES, PALETTE)
    root = ET.parse(tmp_path / "map.qml").getroot()
    renderer = root.find("pipe/rasterrenderer")
    assert renderer.get("type") == "paletted" and renderer.get("band") == "1"
    entries = [(e.get("value"), e.get("color"), e.get("label")) for e in root.iter("paletteEntry")]
    assert entries == [
        ("1", "#e6194b", "Alfalfa"),
        ("10", "#3cb44b", "Corn, notill"),
        ("11", "#ffe119", "Grass {pasture}"),
        ("14", "#0082c8", "Woods"),
    ]


def test_geotiff_confidence_beside_on_the_same_grid(tmp_path):
    out = tmp_path / "map.tiff"
    written = write_map(out, PRED, IDS, NAMES, PALETTE, crs=CRS, transform=GT, confidence=CONF)
    assert written[-1] == tmp_path / "map_confidence.tiff"
    with rasterio.open(written[-1]) as src:
        assert src.dtypes == ("float32",) and np.isnan(src.nodata)
        assert src.crs == rasterio.crs.CRS.from_string(CRS) and src.transform.to_gdal() == GT
        conf = src.read(1)
    np.testing.assert_array_equal(conf[PRED != 0], CONF[PRED != 0])
    assert np.isnan(conf[PRED == 0]).all()


@pytest.mark.parametrize(
    "top, dtype, colour_table",
    [
        (255, "uint8", True),
        (256, "uint16", True),
        (70000, "uint32", False),
        (5_000_000_000, "int64", False),
    ],  # fmt: skip
)
def test_geotiff_dtype_is_the_smallest_that_holds_the_ids(tmp_path, top, dtype, colour_table):
    ids = np.array([1, top])
    pred = np.array([[0, 1], [top, top]])
    out = tmp_path / "m.tif"
    write_map(out, pred, ids, ["a", "b"], PALETTE[:2])
    assert np.dtype(raster_dtype(ids)).name == dtype
    with rasterio.open(out) as src:
        assert src.dtypes == (dtype,)
        np.testing.assert_array_equal(src.read(1), pred)  # never narrowed
        if colour_table:
            assert src.colormap(1)[top] == (*PALETTE[1].tolist(), 255)
        else:
            with pytest.raises(ValueError):
                src.colormap(1)


def test_geotiff_without_georeferencing(tmp_path):
    out = tmp_path / "m.tif"
    write_map(out, PRED, IDS, NAMES, PALETTE)
    with rasterio.open(out) as src:
        assert src.crs is None
    s_labels = read_labels(out)
    np.testing.assert_array_equal(s_labels, PRED)


def test_scene_georeferencing_flows_into_the_map(tmp_path):
    """What predict will do: read a GeoTIFF scene, write its map on the same grid."""
    cube = np.random.default_rng(2).random((12, 9, 3)).astype(np.float32)
    kw = dict(driver="GTiff", height=12, width=9, count=3, dtype="float32", crs=CRS)
    with rasterio.open(
        tmp_path / "scene.tif", "w", transform=rasterio.Affine.from_gdal(*GT), **kw
    ) as dst:
        dst.write(cube.transpose(2, 0, 1))
    scene = read_scene(tmp_path / "scene.tif")
    write_map(tmp_path / "map.tif", PRED, IDS, NAMES, crs=scene.crs, transform=scene.transform)
    back = read_scene(tmp_path / "scene.tif", tmp_path / "map.tif")  # same grid, accepted
    assert back.transform == GT


# -- ENVI ------------------------------------------------------------------------------------


def test_envi_classification_round_trip(tmp_path):
    import spectral.io.envi as envi

    out = tmp_path / "map.hdr"
    written = write_map(out, PRED, IDS, NAMES, PALETTE, crs=CRS, transform=GT, title="IP map")
    assert written == [out, tmp_path / "map.img"]
    assert files(tmp_path) == ["map.hdr", "map.img"]
    img = envi.open(str(out))
    np.testing.assert_array_equal(img.read_band(0), PRED)
    meta = img.metadata
    assert meta["file type"] == "ENVI Classification"
    names = meta["class names"]
    assert len(names) == 15 and int(meta["classes"]) == 15  # values 0..14 are the ids
    assert names[0] == "Unclassified" and names[1] == "Alfalfa" and names[14] == "Woods"
    assert names[10] == "Corn; notill" and names[11] == "Grass (pasture)"
    assert names[2] == "unused 2"
    lookup = np.asarray(meta["class lookup"], dtype=int).reshape(-1, 3)
    for i, colour in zip(IDS, PALETTE, strict=True):
        assert lookup[i].tolist() == colour.tolist()
    assert lookup[0].tolist() == [0, 0, 0]
    assert meta["map info"][:7] == ["UTM", "1", "1", "500000.0", "4100000.0", "30.0", "30.0"]
    assert meta["map info"][7:10] == ["33", "North", "WGS-84"]


ROTATED_GT = (500000.0, 30 * math.cos(0.7), 30 * math.sin(0.7), 4100000.0, 30 * math.sin(0.7),
              -30 * math.cos(0.7))  # fmt: skip


SOUTH_UP_GT = (500000.0, 30.0, 0.0, 4100000.0, 0.0, 30.0)  # GDAL writes it as rotation=180


@pytest.mark.parametrize(
    "gt", [GT, ROTATED_GT, SOUTH_UP_GT], ids=["north-up", "rotated", "south-up"]
)
def test_envi_map_is_georeferenced_for_gdal_and_hsi(tmp_path, gt):
    out = tmp_path / "map.hdr"
    write_map(out, PRED, IDS, NAMES, PALETTE, crs="EPSG:3035", transform=gt)
    with rasterio.open(tmp_path / "map.img") as src:  # GDAL's ENVI driver, as QGIS opens it
        assert src.transform.to_gdal() == pytest.approx(gt, rel=1e-12, abs=1e-6)
        assert src.crs.to_epsg() == 3035
        np.testing.assert_array_equal(src.read(1), PRED)
    labels = read_labels(out)
    np.testing.assert_array_equal(labels, PRED)


def test_envi_confidence(tmp_path):
    import spectral.io.envi as envi

    write_map(tmp_path / "m.hdr", PRED, IDS, NAMES, PALETTE, transform=GT, confidence=CONF)
    assert files(tmp_path) == ["m.hdr", "m.img", "m_confidence.hdr", "m_confidence.img"]
    img = envi.open(str(tmp_path / "m_confidence.hdr"))
    conf = img.read_band(0)
    np.testing.assert_array_equal(conf[PRED != 0], CONF[PRED != 0])
    assert img.metadata["map info"][3:5] == ["500000.0", "4100000.0"]


def test_envi_refuses_ids_it_cannot_list(tmp_path):
    with pytest.raises(MapError, match=r"m\.hdr: an ENVI classification .* write the map as .tif"):
        write_map(tmp_path / "m.hdr", np.array([[1, 70000]]), [1, 70000], ["a", "b"], PALETTE[:2])
    assert files(tmp_path) == []


# -- the other formats ---------------------------------------------------------------------


def test_npy_and_mat_keep_the_id_types(tmp_path):
    write_map(tmp_path / "m.npy", PRED, IDS, NAMES, PALETTE, confidence=CONF)
    assert np.load(tmp_path / "m.npy").dtype == np.int16
    np.testing.assert_array_equal(np.load(tmp_path / "m.npy"), PRED)
    assert np.load(tmp_path / "m_confidence.npy").dtype == np.float32
    write_map(tmp_path / "m.mat", PRED, IDS, NAMES, PALETTE, confidence=CONF)
    mat = scipy.io.loadmat(tmp_path / "m.mat")
    assert mat["prediction"].dtype == np.int32
    np.testing.assert_array_equal(mat["prediction"], PRED)
    assert mat["confidence"].shape == PRED.shape


def test_png_is_the_legend_picture(tmp_path):
    out = tmp_path / "m.png"
    write_map(out, PRED, IDS, NAMES, PALETTE, crs=CRS, transform=GT, title="t")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert files(tmp_path) == ["m.png"]
    with pytest.raises(MapError, match="PNG map cannot hold the confidence"):
        write_map(out, PRED, IDS, NAMES, PALETTE, confidence=CONF)


@pytest.mark.parametrize(
    "top, smallest, expected",
    [
        (14, np.int16, np.int16),
        (40000, np.int16, np.int32),
        (14, np.int32, np.int32),
        (5_000_000_000, np.int16, np.int64),
    ],  # fmt: skip
)
def test_id_dtype(top, smallest, expected):
    assert id_dtype([1, top], smallest=smallest) is expected


# -- checks and atomicity ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("m.jpg", {}, r"m\.jpg: unsupported map format \('\.jpg'\)"),
        ("m.tif", {"pred": np.array([[0, 2]])}, r"m\.tif: the map holds ids \[2\]"),
        ("m.tif", {"palette": PALETTE[:2]}, r"palette must be \(4, 3\)"),
        ("m.tif", {"transform": (1, 2, 3)}, r"m\.tif: a transform is 6 finite numbers"),
        ("m.tif", {"crs": "EPSG:99999999"}, r"m\.tif: cannot interpret the CRS"),
        ("m.tif", {"confidence": CONF * 2}, r"confidence must lie in \[0, 1\]"),
        ("m.hdr", {"transform": (0, -1, 0, 0, 0, -1)}, r"m\.hdr: .*y axis flips.*as \.tif"),
        # grids GDAL would read back elsewhere: non-square rotated pixels, a half turn
        (
            "m.hdr",
            {
                "transform": (
                    0,
                    2 * math.cos(0.5),
                    3 * math.sin(0.5),
                    0,
                    2 * math.sin(0.5),
                    -3 * math.cos(0.5),
                )
            },
            r"m\.hdr: .*GDAL \(QGIS\) reads it back in place.*as \.tif",
        ),  # fmt: skip
        ("m.hdr", {"transform": (0, -1, 0, 0, 0, 1)}, r"m\.hdr: .*half turn.*as \.tif"),
    ],
)
def test_bad_requests_write_nothing(tmp_path, name, kwargs, match):
    args = dict(pred=PRED, palette=PALETTE)
    args.update(kwargs)
    pred, palette = args.pop("pred"), args.pop("palette")
    with pytest.raises(MapError, match=match) as e:
        write_map(tmp_path / name, pred, IDS, NAMES, palette, **args)
    assert "\n" not in str(e.value)
    assert files(tmp_path) == []


def test_failure_mid_write_leaves_nothing(tmp_path, monkeypatch):
    def broken(tmp, m):
        tmp.write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mapfiles, "_write_confidence_tif", broken)
    with pytest.raises(OSError, match="No space left on device"):
        write_map(tmp_path / "m.tif", PRED, IDS, NAMES, PALETTE, confidence=CONF)
    assert files(tmp_path) == []  # the map and its style were done, yet nothing is left


def test_envi_failure_mid_write_leaves_nothing_and_keeps_the_old_map(tmp_path, monkeypatch):
    import spectral.io.envi as envi

    write_map(tmp_path / "m.hdr", PRED, IDS, NAMES, PALETTE)
    before = {p: (tmp_path / p).read_bytes() for p in files(tmp_path)}
    real = envi.save_classification

    def header_then_crash(hdr_file, image, **kw):
        real(hdr_file, image, **kw)  # header and image both written under spectral's names
        raise RuntimeError("crash after writing")

    monkeypatch.setattr(envi, "save_classification", header_then_crash)
    with pytest.raises(RuntimeError, match="crash after writing"):
        write_map(tmp_path / "m.hdr", PRED * 0, IDS, NAMES, PALETTE)
    assert {p: (tmp_path / p).read_bytes() for p in files(tmp_path)} == before


def test_tmp_paths_join_a_larger_atomic_write(tmp_path):
    out = tmp_path / "map.tif"
    finals = map_paths(out, confidence=True)
    report = tmp_path / "report.txt"
    with atomic_paths([*finals, report]) as tmps:
        got = write_map(
            out, PRED, IDS, NAMES, PALETTE, confidence=CONF, tmp_paths=tmps[: len(finals)]
        )
        tmps[-1].write_text("ok")
        assert files(tmp_path) == sorted(p.name for p in tmps)  # nothing final yet
    assert got == finals
    assert files(tmp_path) == ["map.qml", "map.tif", "map_confidence.tif", "report.txt"]
