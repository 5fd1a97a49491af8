"""Where a scene lies on the ground and which wavelengths its bands see.

GeoTIFF scenes are read with rasterio, block by block into one preallocated ``(H, W, B)``
float32 cube; their coordinate reference system, geotransform and band wavelengths are kept.
ENVI headers give the same through ``map info``, ``coordinate system string``, ``wavelength``
and ``wavelength units``. rasterio is imported only when a GeoTIFF or a CRS is involved, so
reading a ``.mat`` scene never loads GDAL.

Conventions shared with :class:`~hsi.data.scene.Scene` and :mod:`hsi.mapfiles`:

- a CRS is carried as WKT text;
- a transform is the GDAL geotransform ``(x0, dx, rx, y0, ry, dy)`` (6 floats); an
  ``affine.Affine`` (rasterio's ``src.transform``) is accepted wherever a transform is taken;
- wavelengths are nanometres, float64, one per band.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hsi.errors import DataError

TIFF_SUFFIXES = {".tif", ".tiff"}
# Rows of a GeoTIFF are read in strips of about this many bytes of source data at a time.
_STRIP_BYTES = 64 * 2**20


@dataclass(frozen=True)
class GeoInfo:
    """A raster's CRS (WKT), GDAL geotransform and band wavelengths (nm); each may be unknown."""

    crs: str | None = None
    transform: tuple[float, ...] | None = None
    wavelengths: np.ndarray | None = None


# --------------------------------------------------------------------------------------------
# GeoTIFF
# --------------------------------------------------------------------------------------------


def read_geotiff_cube(path: Path) -> tuple[np.ndarray, GeoInfo, int]:
    """``(cube, geo, n_nodata)``: a multi-band GeoTIFF as an ``(H, W, B)`` float32 cube.

    Band scales and offsets (``src.scales`` / ``src.offsets``) are applied; values equal to a
    band's nodata value become NaN, so the reader's non-finite policy decides about them
    (``n_nodata`` counts those pixels). The file is read in horizontal strips straight into the
    cube, so the only other memory used is one strip in the file's own type.
    """
    _rasterio()
    from rasterio.windows import Window

    try:
        with _open(path) as src:
            _check_tiff(src, path)
            h, w, b = src.height, src.width, src.count
            if any(np.issubdtype(np.dtype(d), np.complexfloating) for d in src.dtypes):
                raise DataError(
                    f"{path.name}: the GeoTIFF holds complex numbers ({src.dtypes[0]}); save its "
                    "real part or its magnitude as a real-valued raster"
                )
            cube = np.empty((h, w, b), dtype=np.float32)
            rows = _strip_rows(src, w, b)
            nodata = [None if v is None else float(v) for v in src.nodatavals]
            scales = np.asarray(src.scales, dtype=np.float64)
            offsets = np.asarray(src.offsets, dtype=np.float64)
            rescale = bool(np.any(scales != 1) or np.any(offsets != 0))
            n_nodata = 0
            for r0 in range(0, h, rows):
                hh = min(rows, h - r0)
                strip = src.read(window=Window(0, r0, w, hh))  # (B, hh, W), the file's type
                dest = cube[r0 : r0 + hh]
                dest[...] = strip.transpose(1, 2, 0)
                missing = _nodata_mask(strip, nodata)
                if rescale:
                    dest *= scales.astype(np.float32)
                    dest += offsets.astype(np.float32)
                if missing is not None:
                    dest[missing.transpose(1, 2, 0)] = np.nan
                    n_nodata += int(missing.any(axis=0).sum())
            geo = _tiff_geoinfo(src, b)
    except DataError:
        raise
    except Exception as exc:  # rasterio/GDAL errors: one line for the user
        raise DataError(f"{path.name}: cannot read the GeoTIFF ({_short(exc)})") from exc
    return cube, geo, n_nodata


def read_geotiff_labels(path: Path) -> tuple[np.ndarray, GeoInfo]:
    """A single-band GeoTIFF of class ids; pixels equal to its nodata value become 0."""
    try:
        with _open(path) as src:
            _check_tiff(src, path)
            if src.count != 1:
                raise DataError(
                    f"{path.name}: expected a single-band GeoTIFF of class ids for the ground "
                    f"truth, found {src.count} bands"
                )
            gt = src.read(1)
            nd = src.nodatavals[0]
            if nd is not None:
                missing = np.isnan(gt) if math.isnan(nd) else gt == nd
                if missing.any():
                    gt = np.where(missing, 0, gt)
            geo = _tiff_geoinfo(src, 1, wavelengths=False)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path.name}: cannot read the GeoTIFF ({_short(exc)})") from exc
    return gt, geo


def _check_tiff(src: Any, path: Path) -> None:
    if src.driver != "GTiff":
        raise DataError(f"{path.name}: not a GeoTIFF (GDAL reads it as {src.driver})")
    if src.count < 1 or src.width < 1 or src.height < 1:
        raise DataError(f"{path.name}: the GeoTIFF holds no pixels")


def _strip_rows(src: Any, width: int, bands: int) -> int:
    """Rows per read: whole blocks, about ``_STRIP_BYTES`` of source data."""
    block_h = max(1, int(src.block_shapes[0][0])) if src.block_shapes else 1
    itemsize = max(np.dtype(d).itemsize for d in src.dtypes)
    per_row = max(1, width * bands * itemsize)
    rows = max(1, _STRIP_BYTES // per_row) // block_h * block_h
    return max(block_h, rows)


def _nodata_mask(strip: np.ndarray, nodata: Sequence[float | None]) -> np.ndarray | None:
    if all(v is None for v in nodata):
        return None
    missing = np.zeros(strip.shape, dtype=bool)
    for i, v in enumerate(nodata):
        if v is None:
            continue
        missing[i] = np.isnan(strip[i]) if math.isnan(v) else strip[i] == v
    return missing if missing.any() else None


def _tiff_geoinfo(src: Any, bands: int, *, wavelengths: bool = True) -> GeoInfo:
    crs = src.crs.to_wkt() if src.crs is not None else None
    transform = None
    # GDAL reports an identity transform for a TIFF without georeferencing: that is no place.
    if not _is_identity(src.transform):
        transform = tuple(float(v) for v in src.transform.to_gdal())
    return GeoInfo(
        crs=crs,
        transform=transform,
        wavelengths=_tiff_wavelengths(src, bands) if wavelengths else None,
    )


def _is_identity(affine: Any) -> bool:
    return tuple(affine)[:6] == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def _tiff_wavelengths(src: Any, bands: int) -> np.ndarray | None:
    """Band centres in nm from what GDAL-written GeoTIFFs carry, the most explicit source first.

    1. GDAL 3.10's ``IMAGERY`` band metadata ``CENTRAL_WAVELENGTH_UM``;
    2. band tags ``wavelength`` (+ ``wavelength_units``), as GDAL's ENVI driver passes them on;
    3. dataset tags ``wavelength`` (a list) + ``wavelength_units``, plain or in the ENVI domain;
    4. band descriptions such as ``"Band 7 (0.4682 Micrometers)"`` or ``"552.3 nm"``.
    """
    idx = range(1, bands + 1)
    imagery = [_lower(src.tags(i, ns="IMAGERY")).get("central_wavelength_um") for i in idx]
    if all(v is not None for v in imagery):
        found = to_nanometres(imagery, "um", bands)
        if found is not None:
            return found
    band_tags = [_lower(src.tags(i)) for i in idx]
    ds_tags = _lower(src.tags())
    if all("wavelength" in t for t in band_tags):
        units = band_tags[0].get("wavelength_units") or ds_tags.get("wavelength_units")
        found = to_nanometres([t["wavelength"] for t in band_tags], units, bands)
        if found is not None:
            return found
    for tags in (ds_tags, _lower(src.tags(ns="ENVI"))):
        if "wavelength" in tags:
            units = tags.get("wavelength_units") or tags.get("wavelength units")
            found = to_nanometres(_split_list(tags["wavelength"]), units, bands)
            if found is not None:
                return found
    return _wavelengths_from_descriptions(src.descriptions, bands)


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_WITH_UNIT = re.compile(
    rf"({_NUMBER})\s*(nm|nanomet(?:er|re)s?|um|µm|μm|microns?|micromet(?:er|re)s?)\b",
    re.IGNORECASE,
)


def _wavelengths_from_descriptions(descriptions: Sequence[str | None], bands: int):
    values, units = [], set()
    for d in descriptions:
        if not d:
            return None
        m = _WITH_UNIT.search(d)
        if m:
            values.append(m.group(1))
            units.add(_unit_kind(m.group(2)))
        elif re.fullmatch(rf"\s*{_NUMBER}\s*", d):
            values.append(d)
            units.add(None)
        else:
            return None
    if len(units) != 1:
        return None
    return to_nanometres(values, units.pop(), bands)


# --------------------------------------------------------------------------------------------
# ENVI
# --------------------------------------------------------------------------------------------


def envi_geoinfo(hdr: Path, metadata: Mapping[str, Any], bands: int) -> GeoInfo:
    """CRS, transform and wavelengths from an ENVI header's fields (as spectral parses them)."""
    transform = None
    crs = None
    info = metadata.get("map info")
    if info:
        fields = [str(f).strip() for f in (info if isinstance(info, list) else [info])]
        try:
            transform, crs_fields = mapinfo_to_transform(fields)
        except (ValueError, IndexError):
            transform, crs_fields = None, None  # a malformed map info: no place, not no scene
        css = _coordinate_system_string(hdr)
        crs = _normalise_wkt(css) if css else _crs_from_mapinfo(crs_fields)
    wavelengths = None
    if "wavelength" in metadata:
        raw = metadata["wavelength"]
        wavelengths = to_nanometres(
            raw if isinstance(raw, list) else _split_list(raw),
            metadata.get("wavelength units"),
            bands,
        )
    return GeoInfo(crs=crs, transform=transform, wavelengths=wavelengths)


def mapinfo_to_transform(fields: Sequence[str]) -> tuple[tuple[float, ...], dict[str, str]]:
    """An ENVI ``map info`` list as a GDAL geotransform, and its projection fields.

    ``{proj, ref x, ref y, easting, northing, x size, y size, [zone, North|South,] [datum,]
    units=…, rotation=…}``: the reference pixel is 1-based, (1, 1) being the upper-left corner
    of the upper-left pixel; ``rotation`` (degrees, counter-clockwise) turns the grid about it,
    with GDAL's sign: an AVIRIS-NG line's ``rotation=42`` at 5.2 m is GDAL's
    ``(…, 3.864, 3.479, …, 3.479, -3.864)``.
    """
    proj = fields[0]
    refx, refy, east, north, dx, dy = (float(f) for f in fields[1:7])
    named = {}
    plain = []
    for f in fields[7:]:
        if "=" in f:
            k, v = f.split("=", 1)
            named[k.strip().lower()] = v.strip()
        else:
            plain.append(f)
    rotation = float(named.get("rotation", 0.0))
    if abs(rotation) == 180.0:
        # GDAL writes a south-up grid (rows running north) as rotation=180, and reads it so
        a, b, d, e = dx, 0.0, 0.0, dy
    else:
        c, s = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
        # + 0.0 turns the -0.0 of an unrotated grid into 0.0
        a, b, d, e = c * dx + 0.0, s * dy + 0.0, s * dx + 0.0, -c * dy + 0.0
    x0 = east - (refx - 1) * a - (refy - 1) * b
    y0 = north - (refx - 1) * d - (refy - 1) * e
    crs_fields = {"projection": proj, "units": named.get("units", "")}
    if proj.upper().startswith("UTM") and len(plain) >= 2:
        crs_fields.update(zone=plain[0], hemisphere=plain[1], datum=plain[2] if plain[2:] else "")
    elif plain:
        crs_fields["datum"] = plain[0]
    return (x0, a, b, y0, d, e), crs_fields


def transform_to_mapinfo(transform: Any, crs: Any = None) -> list[str]:
    """The ENVI ``map info`` fields for a GDAL geotransform (and CRS, when known).

    UTM on WGS-84 and geographic WGS-84 get their ENVI projection names; any other CRS is
    written as ``Arbitrary`` here and carried exactly by the header's ``coordinate system
    string`` (see :func:`crs_to_esri_wkt`), which GDAL — hence QGIS — reads first.
    """
    gt = as_gdal_transform(transform)
    x0, a, b, y0, d, e = gt
    if b == 0 and d == 0 and a > 0 and e > 0:  # south-up: GDAL's rotation=180
        dx, dy, rotation = a, e, 180.0
    else:
        dx, dy = math.hypot(a, d), math.hypot(b, e)
        if a * e - b * d >= 0:  # a mirrored grid: no ENVI map info expresses that
            raise ValueError(
                "the geotransform is not north-up or rotated north-up (its y axis flips); "
                "write the map as .tif"
            )
        # GDAL's sign (see mapinfo_to_transform); rounded, so that 30° is not 29.999999999999996
        rotation = round(math.degrees(math.atan2(d, a)), 9) + 0.0
    head = ["1", "1", _num(x0), _num(y0), _num(dx), _num(dy)]
    name, tail = "Arbitrary", []
    epsg = _epsg(crs)
    if epsg is not None and (32601 <= epsg <= 32660 or 32701 <= epsg <= 32760):
        name = "UTM"
        tail = [str(epsg % 100), "North" if epsg < 32700 else "South", "WGS-84", "units=Meters"]
    elif epsg == 4326:
        name, tail = "Geographic Lat/Lon", ["WGS-84", "units=Degrees"]
    if rotation:
        tail.append(f"rotation={_num(rotation)}")
    if not same_grid(_gdal_reading(x0, y0, dx, dy, rotation), gt):
        raise ValueError(
            "an ENVI map info cannot hold this grid so that GDAL (QGIS) reads it back in place "
            "(a rotated grid with non-square or sheared pixels, or a half turn); "
            "write the map as .tif"
        )
    return [name, *head, *tail]


def _gdal_reading(x0: float, y0: float, dx: float, dy: float, rotation: float) -> tuple[float, ...]:
    """The geotransform GDAL's ENVI driver (ProcessMapinfo) makes of a ``map info`` tied at
    pixel (1, 1), as this module writes it: the rotation's terms scaled by the other axis' size
    (hence refused for non-square pixels), and 180 a south-up grid. The values are the ones
    written: ``_num`` prints them exactly."""
    if abs(rotation) == 180.0:
        return (x0, dx, 0.0, y0, 0.0, dy)
    c, s = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
    return (x0, c * dx, s * dx, y0, s * dy, -c * dy)


def _coordinate_system_string(hdr: Path) -> str | None:
    """The header's ``coordinate system string`` verbatim (spectral splits it at commas)."""
    try:
        text = hdr.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    m = re.search(r"^\s*coordinate system string\s*=\s*\{(.*?)\}", text, re.I | re.M | re.S)
    return " ".join(m.group(1).split()) if m else None


def _crs_from_mapinfo(fields: Mapping[str, str] | None) -> str | None:
    """A CRS for the two projections ENVI names unambiguously without a coordinate string."""
    if not fields:
        return None
    datum = fields.get("datum", "").upper().replace("-", "").replace(" ", "")
    if datum not in ("WGS84",):
        return None
    proj = fields["projection"].upper()
    if proj.startswith("UTM"):
        try:
            zone = int(fields["zone"])
        except (KeyError, ValueError):
            return None
        if not 1 <= zone <= 60:
            return None
        south = fields.get("hemisphere", "").lower().startswith("s")
        return _epsg_wkt(32700 + zone if south else 32600 + zone)
    if proj.startswith("GEOGRAPHIC"):
        return _epsg_wkt(4326)
    return None


# --------------------------------------------------------------------------------------------
# CRS and transform helpers
# --------------------------------------------------------------------------------------------


def as_gdal_transform(transform: Any) -> tuple[float, ...]:
    """A GDAL geotransform from 6 numbers in GDAL order or an ``affine.Affine``."""
    if type(transform).__name__ == "Affine":
        return tuple(float(v) for v in transform.to_gdal())
    try:
        values = tuple(float(v) for v in transform)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"a transform is 6 numbers (GDAL order), got {transform!r}") from exc
    if len(values) != 6 or not all(math.isfinite(v) for v in values):
        raise ValueError(f"a transform is 6 finite numbers (GDAL order), got {values}")
    if values[1] * values[5] - values[2] * values[4] == 0:
        raise ValueError(f"the transform {values} is degenerate (zero pixel size)")
    return values


def as_crs(crs: Any) -> Any:
    """A ``rasterio.crs.CRS`` from WKT, ``"EPSG:32633"``, a PROJ string or a CRS object."""
    rasterio = _rasterio()
    try:
        return rasterio.crs.CRS.from_user_input(crs)
    except Exception as exc:
        raise ValueError(f"cannot interpret the CRS {str(crs)[:60]!r} ({_short(exc)})") from exc


def crs_to_esri_wkt(crs: Any) -> str:
    """The CRS as ESRI-dialect WKT, the form ENVI's ``coordinate system string`` holds."""
    return as_crs(crs).to_wkt(version="WKT1_ESRI")


def same_crs(a: str | None, b: str | None) -> bool:
    """Two CRSs are the same (either unknown counts as agreeing).

    The same EPSG code counts too: ESRI WKT (an ENVI header's) and the EPSG definition (a
    GeoTIFF's) of one CRS do not always compare equal as objects.
    """
    if a is None or b is None or a == b:
        return True
    try:
        ca, cb = as_crs(a), as_crs(b)
    except ValueError:
        return False
    if ca == cb:
        return True
    code = ca.to_epsg()
    return code is not None and code == cb.to_epsg()


def same_grid(a: Sequence[float] | None, b: Sequence[float] | None) -> bool:
    """Two geotransforms place pixels the same, to a millionth of a pixel."""
    if a is None or b is None:
        return True
    tol = 1e-6 * max(abs(a[1]), abs(a[5]), abs(a[2]), abs(a[4]))
    return bool(np.allclose(a, b, rtol=0, atol=tol))


def _epsg(crs: Any) -> int | None:
    if crs is None:
        return None
    try:
        return as_crs(crs).to_epsg()
    except ValueError:
        return None


def _epsg_wkt(code: int) -> str | None:
    try:
        return as_crs(f"EPSG:{code}").to_wkt()
    except (ValueError, DataError):
        return None


def _normalise_wkt(text: str) -> str:
    """WKT as rasterio writes it, with its EPSG authority where the CRS is a known one.

    ENVI headers hold ESRI WKT, which carries no EPSG code: an identified CRS is written from
    its EPSG definition, so a GeoTIFF made from it names the code (older GDAL cannot identify
    the code from the plain re-written WKT later). Unreadable text is kept as is.
    """
    try:
        crs = as_crs(text)
    except (ValueError, DataError):
        return text
    code = crs.to_epsg(confidence_threshold=90)
    known = _epsg_wkt(code) if code is not None else None
    return known or crs.to_wkt()


# --------------------------------------------------------------------------------------------
# Wavelengths
# --------------------------------------------------------------------------------------------

_NM = {"nm", "nanometer", "nanometers", "nanometre", "nanometres"}
_UM = {"um", "µm", "μm", "micron", "microns", "micrometer", "micrometers", "micrometre"}
_UM |= {"micrometres"}
_MM = {"mm", "millimeter", "millimeters", "millimetre", "millimetres"}
_WAVENUMBER = {"wavenumber", "cm-1", "1/cm", "cm^-1"}
_UNKNOWN = {"", "unknown", "none", "<unspecified>", "unspecified"}


def to_nanometres(values: Sequence[Any], units: str | None, bands: int) -> np.ndarray | None:
    """Band centres in nm, or ``None`` where they cannot be trusted.

    ``units`` follow ENVI and GDAL spellings (``Nanometers``, ``Micrometers``, ``um``, ``µm``,
    ``Millimeters``, ``Wavenumber``). Missing or ``Unknown`` units are guessed from the values:
    imaging spectrometers see 0.35–2.5 µm, so values below 30 are micrometres, else nanometres.
    A count that is not one per band, or values that are not positive numbers, give ``None``.
    """
    try:
        v = np.asarray([float(x) for x in values], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if v.shape != (bands,) or not np.all(np.isfinite(v)) or not np.all(v > 0):
        return None
    kind = _unit_kind(units)
    if kind is None:
        kind = "um" if v.max() < 30 else "nm"
    if kind == "nm":
        return v
    if kind == "um":
        return v * 1e3
    if kind == "mm":
        return v * 1e6
    if kind == "wavenumber":
        return 1e7 / v
    return None  # a unit that is no length (an index, a frequency): better unknown than wrong


def _unit_kind(units: str | None) -> str | None:
    """``"nm"``, ``"um"``, ``"mm"``, ``"wavenumber"``, ``None`` (unknown) or ``"other"``."""
    u = "" if units is None else str(units).strip().lower()
    if u in _UNKNOWN:
        return None
    for kind, names in (("nm", _NM), ("um", _UM), ("mm", _MM), ("wavenumber", _WAVENUMBER)):
        if u in names:
            return kind
    return "other"


# --------------------------------------------------------------------------------------------


def _open(path: Path) -> Any:
    """``rasterio.open(path)``, quiet about a TIFF without georeferencing (that is allowed)."""
    rasterio = _rasterio()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        return rasterio.open(path)


def _rasterio():
    try:
        import rasterio
        import rasterio.crs
        import rasterio.errors
    except ImportError as exc:  # a declared dependency; a broken install says so plainly
        raise DataError(
            f"GeoTIFF support needs rasterio ({_short(exc)}); pip install rasterio"
        ) from exc
    return rasterio


def _lower(tags: Mapping[str, str]) -> dict[str, str]:
    return {str(k).lower(): v for k, v in tags.items()}


def _split_list(text: str) -> list[str]:
    return [t for t in re.split(r"[,\s]+", str(text).strip().strip("{}")) if t]


def _num(x: float) -> str:
    return repr(float(x))


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
