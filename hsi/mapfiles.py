"""Label maps written by suffix: GeoTIFF, ENVI classification, PNG picture, ``.npy``, ``.mat``.

:func:`write_map` picks the format from the path's suffix:

``.tif`` / ``.tiff``
    A single-band GeoTIFF of the ground truth's own class ids (0 = unlabeled, the nodata value),
    in the smallest unsigned type that holds them (see :func:`raster_dtype`), deflate-compressed,
    with the scene's CRS and geotransform when given. Up to uint16 it carries a colour table with
    the palette (GDAL colour tables exist for 8- and 16-bit bands only). The class names are
    dataset tags: ``CLASS_NAMES`` (JSON ``{"id": "name"}``) and one ``CLASS_<id>`` per class.
    Beside it, ``<stem>.qml``: a QGIS style (paletted renderer, one entry per class with its
    colour and name) that QGIS loads with the raster, so the legend names the classes.
    With ``confidence``, a second GeoTIFF ``<stem>_confidence.tif``: float32 max-softmax
    probability on the same grid, NaN (its nodata) where no class was predicted.
``.hdr``
    An ENVI classification (``map.hdr`` + ``map.img``, via ``spectral.envi.save_classification``):
    pixel values are the class ids themselves, so the header lists ``classes = max id + 1``
    names and ``class lookup`` colours, ids absent from the model named ``unused <id>``;
    ``map info`` (and ``coordinate system string``) from the transform and CRS. With
    ``confidence``, ``<stem>_confidence.hdr/.img`` (float32, same ``map info``).
``.png``
    The picture with a legend, drawn by :func:`hsi.render.save_map` (matplotlib is imported only
    for this). No georeferencing.
``.npy`` / ``.mat``
    The id array in the smallest signed type from int16 (``.npy``) or int32 (``.mat``, variable
    ``prediction``) up (:func:`id_dtype`). ``confidence`` goes to ``<stem>_confidence.npy`` or
    the ``.mat`` variable ``confidence``.

Every file is written under a temporary name in its folder and all the files of one call are
renamed together at the end (:func:`hsi.atomic.atomic_paths`): a failure leaves none of them.
A command that writes more outputs can reserve the temporaries itself::

    finals = map_paths(out, confidence=True)
    with atomic_paths([*finals, report]) as tmps:
        write_map(out, pred, ids, names, palette, confidence=conf, tmp_paths=tmps[: len(finals)])
        ...
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np

from hsi.atomic import atomic_paths
from hsi.errors import HSIError

__all__ = [
    "MAP_SUFFIXES",
    "MapError",
    "id_dtype",
    "map_paths",
    "raster_dtype",
    "write_map",
]

MAP_SUFFIXES = (".tif", ".tiff", ".hdr", ".png", ".npy", ".mat")
# An ENVI classification names every value 0..max id; beyond 16 bits that list is no use.
ENVI_MAX_ID = np.iinfo(np.uint16).max


class MapError(HSIError, ValueError):
    """A map cannot be written as asked: an unknown suffix, ids that do not fit the format, ...

    A ValueError too, like :class:`hsi.render.RenderError`.
    """


# --------------------------------------------------------------------------------------------
# Types
# --------------------------------------------------------------------------------------------


def id_dtype(class_ids: Any, smallest: type = np.int16) -> type:
    """The smallest signed integer type, from ``smallest`` up, that holds every class id.

    Ids are never narrowed: 5,000,000,000 stays 5,000,000,000 (int64), not 705,032,704.
    Used for ``.npy`` (from int16) and ``.mat`` (from int32) maps.
    """
    top = int(np.max(np.asarray(class_ids), initial=0))
    for dtype in (np.int8, np.int16, np.int32):
        if np.dtype(dtype).itemsize >= np.dtype(smallest).itemsize and top <= np.iinfo(dtype).max:
            return dtype
    return np.int64  # class ids are int64 from the reader on: nothing larger can arrive


def raster_dtype(class_ids: Any) -> type:
    """The smallest type a GeoTIFF map stores the ids in: uint8, uint16, uint32, else int64.

    Unsigned, because ids are never negative and 0 is the nodata value; only uint8 and uint16
    bands can carry a GDAL colour table.
    """
    top = int(np.max(np.asarray(class_ids), initial=0))
    for dtype in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dtype).max:
            return dtype
    return np.int64


# --------------------------------------------------------------------------------------------
# The one entry point
# --------------------------------------------------------------------------------------------


def map_paths(path: str | Path, *, confidence: bool = False) -> list[Path]:
    """Every file :func:`write_map` writes for ``path``, the map itself first."""
    path = Path(path)
    suffix = _suffix(path)
    conf = path.with_name(f"{path.stem}_confidence{suffix}")
    if suffix in (".tif", ".tiff"):
        files = [path, path.with_suffix(".qml")]
        return files + [conf] if confidence else files
    if suffix == ".hdr":
        files = [path, path.with_suffix(".img")]
        return files + [conf, conf.with_suffix(".img")] if confidence else files
    if suffix == ".png" and confidence:
        raise MapError(
            f"{path.name}: a PNG map cannot hold the confidence; write .tif, .hdr, .npy or .mat"
        )
    if suffix == ".npy" and confidence:
        return [path, conf]
    return [path]


def write_map(
    path: str | Path,
    pred_ids: np.ndarray,
    class_ids: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    palette: np.ndarray | None = None,
    *,
    crs: Any = None,
    transform: Any = None,
    confidence: np.ndarray | None = None,
    title: str | None = None,
    tmp_paths: Sequence[str | Path] | None = None,
) -> list[Path]:
    """Write a label map in the format its suffix names; return the files written.

    ``pred_ids`` is ``(H, W)`` in the ground truth's own ids, 0 = unlabeled; ``class_ids``,
    ``class_names`` and ``palette`` (``(K, 3)`` uint8, default :func:`hsi.render.default_palette`)
    describe the K classes. ``crs`` (WKT, ``"EPSG:…"`` or a rasterio CRS) and ``transform``
    (GDAL geotransform, or an ``affine.Affine``) — usually ``scene.crs`` and
    ``scene.transform`` — georeference ``.tif`` and ``.hdr`` maps; the other formats have no
    place for them. ``confidence`` is ``(H, W)`` in [0, 1] (NaN allowed where ``pred_ids`` is 0).

    Without ``tmp_paths`` the files are written under temporary names and renamed together.
    With it — one temporary per :func:`map_paths` entry, reserved by the caller's own
    :func:`~hsi.atomic.atomic_paths` — the files are written there and the caller renames them.
    Everything is checked before the first byte is written.
    """
    path = Path(path)
    finals = map_paths(path, confidence=confidence is not None)
    m = _checked(path, pred_ids, class_ids, class_names, palette, crs, transform, confidence)
    if tmp_paths is not None:
        tmps = [Path(p) for p in tmp_paths]
        if len(tmps) != len(finals):
            raise ValueError(f"tmp_paths: {len(finals)} paths needed ({finals}), got {len(tmps)}")
        _write(path.suffix.lower(), tmps, m, title)
        return finals
    with atomic_paths(finals) as tmps:
        _write(path.suffix.lower(), tmps, m, title)
    return finals


class _Map:
    """The checked inputs of one map."""

    def __init__(self, pred, ids, names, palette, crs, transform, confidence):
        self.pred = pred
        self.ids = ids
        self.names = names
        self.palette = palette
        self.crs = crs
        self.transform = transform
        self.confidence = confidence


def _write(suffix: str, tmps: list[Path], m: _Map, title: str | None) -> None:
    if suffix in (".tif", ".tiff"):
        _write_geotiff(tmps[0], m, title)
        tmps[1].write_text(qgis_style(m.ids, m.names, m.palette), encoding="utf-8")
        if m.confidence is not None:
            _write_confidence_tif(tmps[2], m)
    elif suffix == ".hdr":
        _write_envi_classification(tmps[0], tmps[1], m, title)
        if m.confidence is not None:
            _write_envi_confidence(tmps[2], tmps[3], m)
    elif suffix == ".png":
        from hsi.render import save_map

        save_map(tmps[0], m.pred, m.ids, m.names, m.palette, title=title)
    elif suffix == ".npy":
        np.save(tmps[0], m.pred.astype(id_dtype(m.ids, smallest=np.int16)))
        if m.confidence is not None:
            np.save(tmps[1], m.confidence)
    elif suffix == ".mat":
        import scipy.io

        arrays = {"prediction": m.pred.astype(id_dtype(m.ids, smallest=np.int32))}
        if m.confidence is not None:
            arrays["confidence"] = m.confidence
        scipy.io.savemat(tmps[0], arrays, do_compression=True)


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in MAP_SUFFIXES:
        shown = repr(suffix) if suffix else "no suffix"
        raise MapError(
            f"{path.name}: unsupported map format ({shown}); expected {', '.join(MAP_SUFFIXES)}"
        )
    return suffix


def _checked(path, pred_ids, class_ids, class_names, palette, crs, transform, confidence) -> _Map:
    name = path.name
    ids = np.asarray(class_ids)
    if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
        raise MapError(f"{name}: class_ids must be a 1-D sequence of integers, got {ids!r}")
    ids = ids.astype(np.int64)
    if np.any(ids <= 0) or len(np.unique(ids)) != len(ids):
        raise MapError(f"{name}: class_ids must be unique positive ids, got {ids.tolist()}")
    names = [str(n) for n in class_names]
    if len(names) != len(ids):
        raise MapError(f"{name}: {len(names)} class names for {len(ids)} class ids")
    pal = _palette(palette, len(ids), name)

    pred = np.asarray(pred_ids)
    if pred.ndim != 2 or not (np.issubdtype(pred.dtype, np.integer) or pred.dtype == bool):
        raise MapError(
            f"{name}: the map must be a 2-D integer array of class ids, "
            f"got shape {pred.shape} {pred.dtype}"
        )
    pred = pred.astype(np.int64, copy=False)
    unknown = np.setdiff1d(np.unique(pred), np.concatenate([[0], ids]))
    if unknown.size:
        raise MapError(
            f"{name}: the map holds ids {unknown[:10].tolist()} that are not among the "
            f"class ids {ids.tolist()[:20]} (0 = unlabeled)"
        )

    conf = None
    if confidence is not None:
        conf = np.array(confidence, dtype=np.float32)
        if conf.shape != pred.shape:
            raise MapError(f"{name}: confidence is {conf.shape}, the map {pred.shape}")
        conf[pred == 0] = np.nan
        shown = conf[pred != 0]
        if not np.all(np.isfinite(shown)) or np.any((shown < 0) | (shown > 1)):
            raise MapError(f"{name}: confidence must lie in [0, 1] wherever a class is mapped")

    suffix = _suffix(path)
    geo_crs = geo_t = None
    if suffix in (".tif", ".tiff", ".hdr"):
        from hsi.data import geo

        try:
            geo_t = None if transform is None else geo.as_gdal_transform(transform)
            geo_crs = None if crs is None else geo.as_crs(crs)
            if suffix == ".hdr" and geo_t is not None:
                geo.transform_to_mapinfo(geo_t, geo_crs)  # can ENVI express it? ask now
        except ValueError as exc:
            raise MapError(f"{name}: {exc}") from exc
        if suffix == ".hdr" and ids.size and ids.max() > ENVI_MAX_ID:
            raise MapError(
                f"{name}: an ENVI classification names every value up to its largest id, and "
                f"id {ids.max()} is beyond {ENVI_MAX_ID}; write the map as .tif, .npy or .mat"
            )
    return _Map(pred, ids, names, pal, geo_crs, geo_t, conf)


def _palette(palette: Any, k: int, name: str) -> np.ndarray:
    if palette is None:
        from hsi.render import default_palette

        return default_palette(k)
    pal = np.asarray(palette)
    if pal.shape != (k, 3):
        raise MapError(f"{name}: the palette must be ({k}, 3) for {k} classes, got {pal.shape}")
    if np.issubdtype(pal.dtype, np.floating) and pal.size and pal.max() <= 1.0:
        pal = np.round(pal * 255)  # a matplotlib-style palette in [0, 1]
    if pal.size and (pal.min() < 0 or pal.max() > 255):
        raise MapError(f"{name}: palette values must lie in 0..255")
    return pal.astype(np.uint8)


# --------------------------------------------------------------------------------------------
# GeoTIFF
# --------------------------------------------------------------------------------------------


def _geotiff_profile(m: _Map, dtype: Any, nodata: float) -> dict[str, Any]:
    from affine import Affine

    h, w = m.pred.shape
    profile: dict[str, Any] = dict(
        driver="GTiff", height=h, width=w, count=1, dtype=np.dtype(dtype).name, nodata=nodata
    )
    # BigTIFF only where a compressed file could pass 4 GB (GDAL cannot know in advance)
    profile.update(compress="deflate", BIGTIFF="IF_SAFER")
    if h >= 512 and w >= 512:  # tiles let QGIS read a view of a large map without the rest
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    if m.crs is not None:
        profile["crs"] = m.crs
    if m.transform is not None:
        profile["transform"] = Affine.from_gdal(*m.transform)
    return profile


@contextlib.contextmanager
def _open_for_writing(path: Path, profile: dict[str, Any]):
    import rasterio
    import rasterio.errors

    with warnings.catch_warnings():  # a map without a transform is allowed; say nothing
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as dst:
            yield dst


def _write_geotiff(tmp: Path, m: _Map, title: str | None) -> None:
    dtype = raster_dtype(m.ids)
    with _open_for_writing(tmp, _geotiff_profile(m, dtype, 0)) as dst:
        dst.write(m.pred.astype(dtype), 1)
        if dtype in (np.uint8, np.uint16):
            cmap = {0: (0, 0, 0, 0)}
            cmap.update(
                {int(i): (*map(int, c), 255) for i, c in zip(m.ids, m.palette, strict=True)}
            )
            dst.write_colormap(1, cmap)
        dst.set_band_description(1, "class id (0 = unlabeled)")
        tags = {
            "CLASS_NAMES": json.dumps({str(i): n for i, n in zip(m.ids, m.names, strict=True)}),
            "CLASS_IDS": json.dumps(m.ids.tolist()),
            "TIFFTAG_SOFTWARE": f"hsi {_version()}",
        }
        tags.update({f"CLASS_{i}": n for i, n in zip(m.ids, m.names, strict=True)})
        if title:
            tags["TIFFTAG_IMAGEDESCRIPTION"] = title
        dst.update_tags(**tags)


def _write_confidence_tif(tmp: Path, m: _Map) -> None:
    with _open_for_writing(tmp, _geotiff_profile(m, np.float32, float("nan"))) as dst:
        dst.write(m.confidence, 1)
        dst.set_band_description(1, "confidence (max softmax probability)")
        dst.update_tags(TIFFTAG_SOFTWARE=f"hsi {_version()}")


def qgis_style(class_ids: Any, class_names: Sequence[str], palette: np.ndarray) -> str:
    """A QGIS layer style (``.qml``): paletted rendering of band 1, one labelled entry per class.

    QGIS applies ``<name>.qml`` beside ``<name>.tif`` when it opens the raster.
    """
    entries = "\n".join(
        f"        <paletteEntry value={quoteattr(str(int(i)))} color={quoteattr(_hex(c))} "
        f'alpha="255" label={quoteattr(_one_line(n))}/>'
        for i, n, c in zip(class_ids, class_names, palette, strict=True)
    )
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.0" styleCategories="AllStyleCategories">
  <pipe>
    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">
      <rasterTransparency/>
      <colorPalette>
{entries}
      </colorPalette>
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0"/>
    <rasterresampler maxOversampling="2"/>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""


# --------------------------------------------------------------------------------------------
# ENVI
# --------------------------------------------------------------------------------------------


def _envi_geo_metadata(m: _Map) -> dict[str, Any]:
    from hsi.data import geo

    meta: dict[str, Any] = {}
    if m.transform is not None:
        meta["map info"] = geo.transform_to_mapinfo(m.transform, m.crs)
    if m.crs is not None:
        # braces included: spectral writes a plain string as is, and ENVI wants {…}
        meta["coordinate system string"] = "{" + geo.crs_to_esri_wkt(m.crs) + "}"
    return meta


def _write_envi_classification(tmp_hdr: Path, tmp_img: Path, m: _Map, title: str | None) -> None:
    import spectral.io.envi as envi

    top = int(m.ids.max(initial=0))
    dtype = np.uint8 if top <= np.iinfo(np.uint8).max else np.uint16
    by_id = dict(zip(m.ids.tolist(), zip(m.names, m.palette.tolist(), strict=True), strict=True))
    names = ["Unclassified"]
    colours = [[0, 0, 0]]
    for i in range(1, top + 1):
        name, colour = by_id.get(i, (f"unused {i}", [0, 0, 0]))
        names.append(_envi_text(name))
        colours.append([int(v) for v in colour])
    meta = _envi_geo_metadata(m)
    meta["description"] = _one_line(title) if title else f"hsi {_version()} classification"
    meta["band names"] = ["class id"]
    with _envi_image_beside(tmp_hdr, tmp_img) as written:
        envi.save_classification(
            str(tmp_hdr),
            m.pred.astype(dtype),
            class_names=names,
            class_colors=colours,
            metadata=meta,
            force=True,
            ext=written.suffix,
        )


def _write_envi_confidence(tmp_hdr: Path, tmp_img: Path, m: _Map) -> None:
    import spectral.io.envi as envi

    meta = _envi_geo_metadata(m)
    meta["description"] = "max softmax probability of the mapped class; NaN where unmapped"
    meta["band names"] = ["confidence"]
    with _envi_image_beside(tmp_hdr, tmp_img) as written:
        envi.save_image(str(tmp_hdr), m.confidence, metadata=meta, force=True, ext=written.suffix)


@contextlib.contextmanager
def _envi_image_beside(tmp_hdr: Path, tmp_img: Path):
    """spectral names the image after the header; move it onto the reserved temporary."""
    written = Path(os.path.realpath(tmp_hdr)).with_suffix(".img")
    try:
        yield written
        os.replace(written, tmp_img)
    finally:
        with contextlib.suppress(OSError):
            written.unlink()


# --------------------------------------------------------------------------------------------


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())


def _envi_text(text: str) -> str:
    """ENVI header lists are ``{a, b}``: a comma would split a name, a brace end the list."""
    return _one_line(text).replace(",", ";").replace("{", "(").replace("}", ")")


def _hex(colour: Any) -> str:
    r, g, b = (int(v) for v in colour)
    return f"#{r:02x}{g:02x}{b:02x}"


def _version() -> str:
    from hsi import __version__

    return __version__
