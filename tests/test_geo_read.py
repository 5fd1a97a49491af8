"""Reading georeferenced scenes: GeoTIFF cubes and labels, ENVI map info and wavelengths."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
from affine import Affine  # noqa: E402

from hsi.data import geo  # noqa: E402
from hsi.data.io import read_labels, read_scene  # noqa: E402
from hsi.errors import DataError  # noqa: E402

RNG = np.random.default_rng(0)
CUBE = RNG.random((9, 7, 4)).astype(np.float32)
GT = RNG.choice([0, 1, 10, 11, 12], size=(9, 7)).astype(np.uint8)
GDAL_T = (500000.0, 30.0, 0.0, 4100000.0, 0.0, -30.0)
TRANSFORM = Affine.from_gdal(*GDAL_T)


def write_tif(path, bands, *, crs="EPSG:32633", transform=TRANSFORM, **profile):
    bands = np.asarray(bands)
    if bands.ndim == 2:
        bands = bands[None]
    kw = dict(driver="GTiff", height=bands.shape[1], width=bands.shape[2], count=bands.shape[0])
    kw.update(dtype=bands.dtype.name, crs=crs, transform=transform, **profile)
    with rasterio.open(path, "w", **kw) as dst:
        dst.write(bands)
    return path


def cube_tif(path, cube=CUBE, **kw):
    return write_tif(path, np.ascontiguousarray(cube.transpose(2, 0, 1)), **kw)


def test_geotiff_scene_keeps_cube_crs_transform(tmp_path):
    p = cube_tif(tmp_path / "scene.tif")
    s = read_scene(p)
    assert s.cube.dtype == np.float32 and s.cube.shape == (9, 7, 4)
    np.testing.assert_array_equal(s.cube, CUBE)
    assert s.transform == GDAL_T
    assert rasterio.crs.CRS.from_wkt(s.crs) == rasterio.crs.CRS.from_epsg(32633)
    assert s.wavelengths is None  # the file does not say
    assert s.name == "scene"


def test_geotiff_read_in_strips_equals_whole(tmp_path, monkeypatch):
    big = RNG.random((40, 33, 3)).astype(np.float32)
    p = cube_tif(tmp_path / "tiled.tif", big, tiled=True, blockxsize=16, blockysize=16)
    monkeypatch.setattr(geo, "_STRIP_BYTES", 16 * 33 * 3 * 4)  # one block row per strip
    np.testing.assert_array_equal(read_scene(p).cube, big)


def test_integer_geotiff_with_scale_offset(tmp_path):
    raw = (CUBE * 10000).astype(np.int16)
    p = cube_tif(tmp_path / "refl.tif", raw)
    with rasterio.open(p, "r+") as dst:
        dst.scales = (1e-4,) * 4
        dst.offsets = (0.5,) * 4
    s = read_scene(p)
    np.testing.assert_allclose(s.cube, raw * 1e-4 + 0.5, rtol=1e-6)


def test_geotiff_labels_single_band_nodata_is_unlabeled(tmp_path):
    cube_p = cube_tif(tmp_path / "c.tif")
    gt = GT.copy()
    gt[0, :] = 255
    lab_p = write_tif(tmp_path / "gt.tif", gt, nodata=255)
    s = read_scene(cube_p, lab_p)
    expected = np.where(gt == 255, 0, gt)
    np.testing.assert_array_equal(s.labels, expected)
    assert s.class_ids.tolist() == [1, 10, 11, 12]  # the ground truth's own ids
    assert read_labels(lab_p).dtype == np.int64


def test_geotiff_labels_must_be_one_band(tmp_path):
    p = write_tif(tmp_path / "gt2.tif", np.stack([GT, GT]))
    with pytest.raises(DataError, match=r"gt2\.tif: expected a single-band GeoTIFF"):
        read_labels(p)


def test_labels_on_another_grid_are_refused(tmp_path):
    cube_p = cube_tif(tmp_path / "c.tif")
    lab_p = write_tif(
        tmp_path / "gt.tif",
        GT,
        transform=Affine.from_gdal(500030.0, 30.0, 0.0, 4100000.0, 0.0, -30.0),
    )
    with pytest.raises(DataError, match=r"gt\.tif: the ground truth is georeferenced differently"):
        read_scene(cube_p, lab_p)


def test_geotiff_nodata_pixels(tmp_path):
    cube = CUBE.copy()
    cube[2, 3, :] = -9999
    p = cube_tif(tmp_path / "nd.tif", cube, nodata=-9999)
    with pytest.raises(DataError, match=r"nd\.tif: 1 pixel is nodata"):
        read_scene(p)
    lab_p = write_tif(tmp_path / "gt.tif", np.maximum(GT, 1))
    s = read_scene(p, lab_p, nonfinite="mask")
    assert s.labels[2, 3] == 0 and s.meta["nonfinite_pixels"] == 1
    assert s.meta["nonfinite_mask"].sum() == 1 and s.meta["nonfinite_mask"][2, 3]
    assert np.all(s.cube[2, 3] == 0)


@pytest.mark.parametrize(
    "tags, expected",
    [
        ({"wavelength": "0.45", "wavelength_units": "Micrometers"}, 450.0),  # µm → nm
        ({"wavelength": "450", "wavelength_units": "Nanometers"}, 450.0),
        ({"wavelength": "0.45"}, 450.0),  # no unit: < 30 must be µm
    ],
)
def test_geotiff_band_tag_wavelengths(tmp_path, tags, expected):
    p = cube_tif(tmp_path / "w.tif")
    with rasterio.open(p, "r+") as dst:
        for i in range(1, 5):
            scaled = {k: (str(float(v) * i) if k == "wavelength" else v) for k, v in tags.items()}
            dst.update_tags(i, **scaled)
    np.testing.assert_allclose(read_scene(p).wavelengths, expected * np.arange(1, 5))


def test_geotiff_imagery_domain_and_descriptions(tmp_path):
    p = cube_tif(tmp_path / "imagery.tif")
    with rasterio.open(p, "r+") as dst:
        for i, um in enumerate([0.47, 0.55, 0.64, 0.86], 1):
            dst.update_tags(i, ns="IMAGERY", CENTRAL_WAVELENGTH_UM=str(um))
    np.testing.assert_allclose(read_scene(p).wavelengths, [470, 550, 640, 860])
    p = cube_tif(tmp_path / "desc.tif")
    with rasterio.open(p, "r+") as dst:
        for i, um in enumerate([0.47, 0.55, 0.64, 0.86], 1):
            dst.set_band_description(i, f"Band {i} ({um:.4f} Micrometers)")
    np.testing.assert_allclose(read_scene(p).wavelengths, [470, 550, 640, 860])


def test_geotiff_without_georeferencing(tmp_path):
    p = tmp_path / "plain.tif"
    kw = dict(driver="GTiff", height=9, width=7, count=4, dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(p, "w", **kw) as dst:  # no crs, no transform
            dst.write(CUBE.transpose(2, 0, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no NotGeoreferencedWarning for the user either
        s = read_scene(p)
    assert s.crs is None and s.transform is None


def test_corrupt_geotiff_is_one_clear_error(tmp_path):
    p = tmp_path / "broken.tif"
    p.write_bytes(b"II*\x00" + b"\x00garbage" * 10)
    with pytest.raises(DataError, match=r"^broken\.tif: cannot read the GeoTIFF") as e:
        read_scene(p)
    assert "\n" not in str(e.value)


def test_other_readers_leave_geo_fields_none(tmp_path):
    np.save(tmp_path / "c.npy", CUBE)
    s = read_scene(tmp_path / "c.npy")
    assert s.crs is None and s.transform is None and s.wavelengths is None


# -- ENVI ----------------------------------------------------------------------------------


def envi_cube(tmp_path, metadata):
    import spectral.io.envi as envi

    hdr = tmp_path / "c.hdr"
    envi.save_image(str(hdr), CUBE, interleave="bsq", force=True, metadata=metadata)
    return hdr


def test_envi_map_info_utm_and_wavelengths(tmp_path):
    hdr = envi_cube(
        tmp_path,
        {
            "map info": [
                "UTM",
                "1",
                "1",
                "500000",
                "4100000",
                "30",
                "30",
                "33",
                "North",
                "WGS-84",
                "units=Meters",
            ],  # fmt: skip
            "wavelength": ["0.45", "0.55", "0.65", "0.85"],
            "wavelength units": "Micrometers",
        },
    )
    s = read_scene(hdr)
    assert s.transform == GDAL_T
    assert rasterio.crs.CRS.from_wkt(s.crs).to_epsg() == 32633
    np.testing.assert_allclose(s.wavelengths, [450, 550, 650, 850])
    assert isinstance(s.cube, np.memmap)  # still memory-mapped


def test_envi_reference_pixel_and_coordinate_string(tmp_path):
    wkt = rasterio.crs.CRS.from_epsg(3035).to_wkt(version="WKT1_ESRI")
    hdr = envi_cube(
        tmp_path,
        {
            "map info": ["Arbitrary", "2", "3", "4321000", "3210000", "10", "10", "units=Meters"],
            "wavelength": [400, 500, 600, 700],
            "wavelength units": "Nanometers",
        },
    )
    with open(hdr, "a") as f:  # what ENVI writes: the WKT inside braces, commas and all
        f.write(f"coordinate system string = {{{wkt}}}\n")
    s = read_scene(hdr)
    # reference pixel (2, 3) is 1-based: the corner lies 1 pixel left and 2 pixels up of it
    assert s.transform == (4321000 - 10.0, 10.0, 0.0, 3210000 + 20.0, 0.0, -10.0)
    assert rasterio.crs.CRS.from_wkt(s.crs).to_epsg() == 3035
    np.testing.assert_allclose(s.wavelengths, [400, 500, 600, 700])


def test_envi_cube_with_geotiff_labels_on_the_same_grid(tmp_path):
    wkt = rasterio.crs.CRS.from_epsg(3035).to_wkt(version="WKT1_ESRI")
    info = ["Arbitrary", "1", "1", "500000", "4100000", "30", "30", "units=Meters"]
    hdr = envi_cube(tmp_path, {"map info": info})
    with open(hdr, "a") as f:
        f.write(f"coordinate system string = {{{wkt}}}\n")
    lab = write_tif(tmp_path / "gt.tif", GT, crs="EPSG:3035")  # the EPSG form of the same CRS
    s = read_scene(hdr, lab)
    np.testing.assert_array_equal(s.labels, GT)
    assert s.transform == GDAL_T


def test_envi_without_map_info_has_no_place(tmp_path):
    s = read_scene(envi_cube(tmp_path, {}))
    assert s.crs is None and s.transform is None and s.wavelengths is None


@pytest.mark.parametrize("rotation", [0.0, 30.0, -66.0])
def test_map_info_round_trip(rotation):
    t = math.radians(rotation)
    gt = (736600.0, 2.7 * math.cos(t), 2.7 * math.sin(t), 4078126.0, 2.7 * math.sin(t),
          -2.7 * math.cos(t))  # fmt: skip
    fields = geo.transform_to_mapinfo(gt, "EPSG:32612")
    assert fields[0] == "UTM" and fields[7:10] == ["12", "North", "WGS-84"]
    if rotation:
        assert fields[-1].startswith("rotation=")  # GDAL's sign: counter-clockwise
        assert float(fields[-1].split("=")[1]) == pytest.approx(rotation)
    back, crs_fields = geo.mapinfo_to_transform(fields)
    np.testing.assert_allclose(back, gt, atol=1e-6)
    assert crs_fields["zone"] == "12"


def test_a_rotated_map_info_reads_as_gdal_reads_it(tmp_path):
    # an AVIRIS-NG line's header and the geotransform gdalinfo prints for it (ORNL DAAC's
    # "Understanding AVIRIS-NG data in ENVI format with rotated grid")
    info = ["UTM", "1", "1", "581226.666764", "7916192.56364", "5.2", "5.2", "4", "North",
            "WGS-84", "rotation=42"]  # fmt: skip
    published = (581226.666764, 3.86435309248245, 3.479479153066063, 7916192.56364,
                 3.479479153066063, -3.86435309248245)  # fmt: skip
    np.testing.assert_allclose(geo.mapinfo_to_transform(info)[0], published, rtol=1e-12)
    for rotation in ("42", "-66", "150", "180"):  # and GDAL itself; 180 is its south-up grid
        (tmp_path / rotation).mkdir()
        hdr = envi_cube(tmp_path / rotation, {"map info": [*info[:-1], f"rotation={rotation}"]})
        with rasterio.open(hdr.with_suffix(".img")) as src:
            gdal = src.transform.to_gdal()
        np.testing.assert_allclose(read_scene(hdr).transform, gdal, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    "values, units, expected",
    [
        ([0.4, 2.5], "um", [400, 2500]),
        ([400, 2500], None, [400, 2500]),
        ([0.4, 2.5], "Unknown", [400, 2500]),
        ([25000, 4000], "Wavenumber", [400, 2500]),
        ([1, 2], "Index", None),  # no length: unknown rather than wrong
        ([400], "nm", None),  # one value for two bands
    ],
)
def test_to_nanometres(values, units, expected):
    got = geo.to_nanometres(values, units, 2)
    if expected is None:
        assert got is None
    else:
        np.testing.assert_allclose(got, expected)
