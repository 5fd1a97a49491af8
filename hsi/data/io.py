"""Read a user's scene from .mat (v5 and v7.3), .npy / .npz, ENVI (.hdr/.img) or GeoTIFF (.tif).

Arrays are found automatically — the one 3-D numeric array is the cube, the one 2-D integer
array is the ground truth — or named with ``cube_key`` / ``labels_key``. GeoTIFF and ENVI scenes
keep their CRS, geotransform and band wavelengths on the :class:`Scene` (see
:mod:`hsi.data.geo`). Every problem is a one-line :class:`~hsi.errors.DataError` naming the file
and what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from hsi.data.geo import (
    TIFF_SUFFIXES,
    GeoInfo,
    envi_geoinfo,
    read_geotiff_cube,
    read_geotiff_labels,
    same_crs,
    same_grid,
)
from hsi.data.scene import Scene
from hsi.errors import DataError

NonFinitePolicy = Literal["error", "mask"]

MAT_SUFFIXES = {".mat"}
NPY_SUFFIXES = {".npy"}
NPZ_SUFFIXES = {".npz"}
ENVI_SUFFIXES = {".hdr", ".img", ".dat", ".raw", ".bil", ".bip", ".bsq"}
SUPPORTED = ".mat, .npy, .npz, ENVI .hdr/.img, GeoTIFF .tif"
_MAX_ID = np.iinfo(np.int64).max


#: the largest magnitude a pixel may hold: PCA squares the values (in float64: up to about
#: 1e154) and hands float32 components (up to 3.4e38) to the models; far above any radiance,
#: so a larger value is a fill (float32's lowest is a common one), treated as NaN is
MAX_MAGNITUDE = 1e30


def read_scene(
    path: str | Path,
    labels: str | Path | None = None,
    *,
    cube_key: str | None = None,
    labels_key: str | None = None,
    name: str | None = None,
    class_names: Sequence[str] | Mapping[int, str] | None = None,
    palette: np.ndarray | None = None,
    nonfinite: NonFinitePolicy = "error",
) -> Scene:
    """Read a cube ``(H, W, B)`` and, optionally, its ground truth ``(H, W)``.

    ``labels`` is a second file holding the ground truth; it may be the cube's own file. Without
    ``labels`` but with ``labels_key``, the ground truth is read from the cube's file.
    ``class_names`` is either one name per class id present (in increasing id order) or a mapping
    from id to name. ``nonfinite="mask"`` zero-fills pixels with NaN/Inf (and a GeoTIFF's nodata
    pixels) and marks them unlabeled; the default refuses such a cube.

    A GeoTIFF or ENVI cube fills the scene's ``crs``, ``transform`` and ``wavelengths`` where its
    file records them; a ground truth that is georeferenced too must lie on the same grid.
    """
    path = Path(path)
    if nonfinite not in ("error", "mask"):
        raise DataError(f"nonfinite must be 'error' or 'mask', got {nonfinite!r}")
    cube, geo, n_nodata = _read_cube_geo(path, cube_key)

    if labels is None and labels_key is not None:
        labels = path
    gt = None
    if labels is not None:
        gt, gt_geo = _read_labels_geo(Path(labels), labels_key)
    if gt is not None and gt.shape != cube.shape[:2]:
        raise DataError(
            f"{Path(labels).name}: ground truth is {gt.shape[0]}×{gt.shape[1]} but the cube "
            f"{path.name} is {cube.shape[0]}×{cube.shape[1]} (height × width must match)"
        )
    if gt is not None and not (
        same_grid(geo.transform, gt_geo.transform) and same_crs(geo.crs, gt_geo.crs)
    ):
        raise DataError(
            f"{Path(labels).name}: the ground truth is georeferenced differently from the cube "
            f"{path.name} (another CRS or pixel grid); resample it onto the cube's grid"
        )

    cube, gt, bad = _check_finite(cube, gt, path, nonfinite, nodata=n_nodata > 0)
    _check_not_constant(cube, path)
    class_ids = (
        np.zeros(0, dtype=np.int64) if gt is None else np.unique(gt[gt != 0]).astype(np.int64)
    )
    names = _class_names(class_ids, class_names, path)
    if palette is not None:
        palette = np.asarray(palette, dtype=np.uint8)
        if palette.shape != (len(class_ids), 3):
            palette = None  # a registry palette for another class set is better dropped
    meta = {"source": str(path), "labels_source": None if labels is None else str(labels)}
    if bad is not None:
        # which pixels were zero-filled: a map of the scene can leave them 0 (unlabeled/nodata)
        meta["nonfinite_pixels"] = int(bad.sum())
        meta["nonfinite_mask"] = bad
    return Scene(
        cube=cube,
        labels=gt,
        class_ids=class_ids,
        class_names=names,
        name=name or path.stem,
        palette=palette,
        meta=meta,
        crs=geo.crs,
        transform=geo.transform,
        wavelengths=geo.wavelengths,
    )


def read_cube(path: str | Path, key: str | None = None) -> np.ndarray:
    """The 3-D numeric array ``(H, W, B)`` of a file; ENVI cubes stay memory-mapped.

    A GeoTIFF's bands become a float32 cube with its nodata values as NaN.
    """
    return _read_cube_geo(Path(path), key)[0]


def _read_cube_geo(path: Path, key: str | None) -> tuple[np.ndarray, GeoInfo, int]:
    """``(cube, georeferencing, nodata pixel count)``."""
    suffix = _check_file(path)
    if suffix in ENVI_SUFFIXES | TIFF_SUFFIXES and key is not None:
        kind = "an ENVI" if suffix in ENVI_SUFFIXES else "a GeoTIFF"
        raise DataError(
            f"{path.name}: {kind} file holds one cube; cube_key does not apply",
            params=("cube_key",),
        )
    if suffix in TIFF_SUFFIXES:
        return read_geotiff_cube(path)
    if suffix in ENVI_SUFFIXES:
        cube, hdr, header = _read_envi(path)
        return cube, envi_geoinfo(hdr, header, cube.shape[2]), 0
    arrays = _read_arrays(path, suffix)
    cube = _pick(arrays, key, path, what="cube", wanted=_is_cube, expect="a 3-D numeric array")
    if not _is_cube(cube):  # a variable named with --cube-key is not checked by _pick
        where = f"{path.name}:{key}"
        if np.issubdtype(cube.dtype, np.complexfloating):
            raise DataError(
                f"{where}: the cube holds complex numbers ({cube.dtype}); save its real part "
                "or its magnitude as a real-valued array"
            )
        raise DataError(
            f"{where}: expected a 3-D numeric array (H×W×B) for the cube, "
            f"got shape {tuple(cube.shape)} {cube.dtype}"
        )
    return cube, GeoInfo(), 0


def read_labels(path: str | Path, key: str | None = None) -> np.ndarray:
    """The 2-D ground truth of a file as int64, validated: integer-valued and non-negative.

    A single-band GeoTIFF's nodata pixels become 0 (unlabeled).
    """
    return _read_labels_geo(Path(path), key)[0]


def _read_labels_geo(path: Path, key: str | None) -> tuple[np.ndarray, GeoInfo]:
    suffix = _check_file(path)
    geo = GeoInfo()
    if suffix in TIFF_SUFFIXES:
        gt, geo = read_geotiff_labels(path)
        arrays = {"band 1": gt}
    elif suffix in ENVI_SUFFIXES:
        gt, hdr, header = _read_envi(path)
        gt = np.asarray(gt)
        if gt.ndim == 3 and gt.shape[2] == 1:
            gt = gt[:, :, 0]
        arrays = {"envi": gt}
        geo = envi_geoinfo(hdr, header, 1)
        geo = GeoInfo(crs=geo.crs, transform=geo.transform)
    else:
        arrays = _read_arrays(path, suffix)
    gt = _pick(
        arrays,
        key,
        path,
        what="labels",
        wanted=_is_label_like,
        # a 1×N or N×1 array is a vector to MATLAB (wavelengths, ids), so never picked unnamed
        expect="a 2-D integer array of at least 2×2",
    )
    return _validate_labels(np.asarray(gt), path, key), geo


def _check_file(path: Path) -> str:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder; expected a scene file ({SUPPORTED})")
    suffix = path.suffix.lower()
    if suffix not in MAT_SUFFIXES | NPY_SUFFIXES | NPZ_SUFFIXES | ENVI_SUFFIXES | TIFF_SUFFIXES:
        raise DataError(f"{path.name}: unsupported file type {suffix!r}; expected {SUPPORTED}")
    return suffix


def _read_arrays(path: Path, suffix: str) -> dict[str, np.ndarray]:
    """Every array variable of a .mat / .npy / .npz file, by name."""
    try:
        if suffix in NPY_SUFFIXES:
            return {"array": _load_npy(path)}
        if suffix in NPZ_SUFFIXES:
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        return _read_mat(path)
    except DataError:
        raise
    except Exception as exc:  # every reader has its own exception zoo; the user needs one line
        raise DataError(f"{path.name}: cannot read the file ({_short(exc)})") from exc


def _load_npy(path: Path) -> np.ndarray:
    """The array of a .npy file, memory-mapped; never unpickled."""
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic != b"\x93NUMPY":
        # numpy's own message would call any such file "pickled" and suggest allow_pickle
        raise DataError(f"{path.name}: not a NumPy .npy file (it has no .npy header)")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        if "pickle" not in str(exc):
            raise
        raise DataError(
            f"{path.name}: holds Python objects, not a numeric array (hsi never unpickles a file)"
        ) from None


def _read_mat(path: Path) -> dict[str, np.ndarray]:
    import scipy.io

    try:
        raw = scipy.io.loadmat(path)
    except NotImplementedError:  # MATLAB v7.3 files are HDF5
        return _read_mat73(path)
    except ValueError as exc:
        if _is_hdf5(path):
            return _read_mat73(path)
        raise DataError(f"{path.name}: not a readable MATLAB file ({_short(exc)})") from exc
    return {k: v for k, v in raw.items() if not k.startswith("__") and isinstance(v, np.ndarray)}


def _read_mat73(path: Path) -> dict[str, np.ndarray]:
    import h5py

    arrays: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        for k, ds in f.items():
            if isinstance(ds, h5py.Dataset) and not k.startswith("#"):
                # MATLAB writes column-major: h5py sees the axes in reverse order.
                arrays[k] = np.asarray(ds[()]).T
    return arrays


def _is_hdf5(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(1024)
    return b"\x89HDF\r\n\x1a\n" in head


def _read_envi(path: Path) -> tuple[np.ndarray, Path, dict]:
    """``(memory map (H, W, B), header path, header fields as spectral parses them)``."""
    import spectral

    hdr = path if path.suffix.lower() == ".hdr" else path.with_suffix(".hdr")
    if not hdr.exists():
        raise DataError(f"{path.name}: ENVI data needs its header {hdr.name} beside it")
    try:
        img = spectral.open_image(str(hdr))
        # checked before mapping: spectral's own failure depends on the interleave (None for
        # bip, "axes don't match array" for bsq and bil)
        library = not hasattr(img, "shape")  # a spectral library: spectra, no pixel grid
        if not library:
            rows, cols, bands = img.shape
            dtype = np.dtype(img.dtype)
            size = Path(img.filename).stat().st_size
    except Exception as exc:
        raise DataError(f"{hdr.name}: cannot read the ENVI image ({_short(exc)})") from exc
    if library:
        raise DataError(
            f"{hdr.name}: an ENVI spectral library (a list of spectra), not an image; "
            "expected an ENVI image of rows × columns × bands"
        )
    if size < img.offset + rows * cols * bands * dtype.itemsize:
        raise DataError(
            f"{Path(img.filename).name}: shorter than its header {hdr.name} describes "
            f"({rows}×{cols}×{bands} {dtype.name} after {img.offset} header bytes); "
            "the image is truncated, or the header is not its own"
        )
    try:
        # bip is (rows, cols, bands) — the project's axis order — and stays memory-mapped.
        cube = img.open_memmap(interleave="bip")
    except Exception as exc:
        raise DataError(f"{hdr.name}: cannot read the ENVI image ({_short(exc)})") from exc
    return cube, hdr, dict(img.metadata)


def _is_cube(a: np.ndarray) -> bool:
    return a.ndim == 3 and _is_numeric(a) and min(a.shape) > 0


def _is_label_like(a: np.ndarray) -> bool:
    return (
        a.ndim == 2 and min(a.shape) > 1 and (np.issubdtype(a.dtype, np.integer) or a.dtype == bool)
    )


def _is_one_row_labels(a: np.ndarray) -> bool:
    """1×N or N×1 (not a MATLAB scalar's 1×1) and integer-valued: a ground truth, perhaps."""
    if a.ndim != 2 or min(a.shape) != 1 or max(a.shape) < 2 or not _is_numeric(a):
        return False
    return bool(np.issubdtype(a.dtype, np.integer) or np.all(np.mod(a, 1) == 0))


def _is_numeric(a: np.ndarray) -> bool:
    return np.issubdtype(a.dtype, np.number) and not np.issubdtype(a.dtype, np.complexfloating)


def _pick(arrays, key, path: Path, *, what: str, wanted, expect: str) -> np.ndarray:
    shapes = ", ".join(f"{k} {tuple(v.shape)} {v.dtype}" for k, v in arrays.items()) or "none"
    if key is not None:
        if key not in arrays:
            raise DataError(f"{path.name}: no variable {key!r}; found: {shapes}")
        return arrays[key]
    found = [k for k, v in arrays.items() if wanted(v)]
    if not found and what == "labels":
        # MATLAB often stores ground truth as double; integer-valued 2-D floats still qualify.
        found = [
            k for k, v in arrays.items() if v.ndim == 2 and _is_numeric(v) and min(v.shape) > 1
        ]
    option = "cube_key" if what == "cube" else "labels_key"
    if not found:
        rows = [k for k, v in arrays.items() if what == "labels" and _is_one_row_labels(v)]
        hint = f"; name a one-row or one-column ground truth with {option}" if rows else ""
        if len(rows) == 1:
            hint = f"; a one-row or one-column ground truth is read with {option} {rows[0]}"
        raise DataError(
            f"{path.name}: expected {expect} for the {what}, found: {shapes}{hint}",
            params=(option,),
        )
    if len(found) > 1:
        raise DataError(
            f"{path.name}: several candidates for the {what} ({', '.join(found)}); "
            f"name one with {option}",
            params=(option,),
        )
    return arrays[found[0]]


def _validate_labels(gt: np.ndarray, path: Path, key: str | None) -> np.ndarray:
    where = path.name if key is None else f"{path.name}:{key}"
    if gt.ndim != 2:
        raise DataError(f"{where}: labels must be a 2-D array (H×W), got shape {gt.shape}")
    if gt.dtype == bool:
        gt = gt.astype(np.int64)
    if not _is_numeric(gt):
        raise DataError(f"{where}: labels must be integers, got dtype {gt.dtype}")
    if not np.issubdtype(gt.dtype, np.integer) and (
        not np.all(np.isfinite(gt)) or not np.all(gt == np.round(gt))
    ):
        raise DataError(f"{where}: labels must be integers, found non-integer values")
    if gt.size and gt.min() < 0:
        raise DataError(f"{where}: labels must be non-negative (0 = unlabeled), found {gt.min()}")
    # int64 carries the ids everywhere after this; a larger id would wrap around silently
    top = gt.max() if gt.size else 0
    if top >= 2.0**63 if np.issubdtype(gt.dtype, np.floating) else int(top) > _MAX_ID:
        raise DataError(
            f"{where}: class id {top:.0f} is above 2**63 - 1, the largest id hsi keeps exactly"
        )
    return np.ascontiguousarray(gt, dtype=np.int64)


def _check_finite(
    cube: np.ndarray,
    gt: np.ndarray | None,
    path: Path,
    policy: NonFinitePolicy,
    *,
    nodata: bool = False,
):
    """``(cube, gt, bad)``: ``bad`` the (H, W) mask of pixels zero-filled, ``None`` if none.

    ``nodata``: the reader turned the file's nodata values into NaN (a GeoTIFF's fill).
    """
    if not np.issubdtype(cube.dtype, np.floating):
        return cube, gt, None
    # NaN fails both comparisons; beyond ±MAX_MAGNITUDE lie Inf and fill values such as
    # float32's lowest, which PCA cannot square. By blocks of rows: the comparisons' masks of a
    # whole memory-mapped scene would take a byte per value each.
    bad = np.empty(cube.shape[:2], dtype=bool)
    step = max(1, 2**24 // max(1, cube.shape[1] * cube.shape[2]))
    for top in range(0, cube.shape[0], step):
        rows = cube[top : top + step]
        bad[top : top + step] = ~((rows <= MAX_MAGNITUDE) & (rows >= -MAX_MAGNITUDE)).all(axis=2)
    n_bad = int(bad.sum())
    if n_bad == 0:
        return cube, gt, None
    if policy == "error":
        verb = ("is", "contains") if n_bad == 1 else ("are", "contain")
        what = f"{verb[0]} nodata or {verb[1]}" if nodata else verb[1]
        huge = bool(np.isfinite(cube[bad]).all(axis=-1).any())
        values = (
            f"NaN or Inf{f' or values beyond ±{MAX_MAGNITUDE:.0e} (a fill value?)' if huge else ''}"
        )
        raise DataError(
            f"{path.name}: {n_bad} {'pixel' if n_bad == 1 else 'pixels'} {what} {values}; "
            "clean the cube, or pass "
            f"nonfinite mask to zero-fill them and treat them as unlabeled",
            params=("nonfinite",),
        )
    if isinstance(cube, np.memmap) or not cube.flags.writeable:
        cube = np.array(cube)  # never write into the user's memory map
    # else the array is this reader's own (a GeoTIFF's cube): filled in place, no second copy
    cube[bad] = 0
    if gt is not None:
        gt = gt.copy()
        gt[bad] = 0
    return cube, gt, bad


def _check_not_constant(cube: np.ndarray, path: Path) -> None:
    """Refuse a cube whose pixels all share one spectrum: nothing to classify, zero variance."""
    if cube.size == 0:
        return
    flat = cube.reshape(-1, cube.shape[2])
    if np.array_equal(flat.min(axis=0), flat.max(axis=0)):
        raise DataError(
            f"{path.name}: the cube is constant (every pixel has the same spectrum, "
            f"{'all zeros' if not flat[0].any() else 'one value per band'}); nothing to classify"
        )


def _class_names(class_ids: np.ndarray, given, path: Path) -> list[str]:
    if given is None:
        return [f"class {i}" for i in class_ids]
    if isinstance(given, Mapping):
        return [str(given.get(int(i), f"class {i}")) for i in class_ids]
    given = list(given)
    if len(given) == len(class_ids):
        return [str(n) for n in given]
    if class_ids.size and len(given) >= class_ids.max():
        # names listed for ids 1..K of a registry scene
        return [str(given[i - 1]) for i in class_ids]
    raise DataError(
        f"{path.name}: {len(given)} class names given for {len(class_ids)} classes "
        f"{class_ids.tolist()}"
    )


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
