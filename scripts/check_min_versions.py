#!/usr/bin/env python3
"""Prove the dependency floors in pyproject.toml: install exactly them and run hsi end to end.

    python scripts/check_min_versions.py              # smoke test under the floors
    python scripts/check_min_versions.py --pytest     # and the whole test suite, test floors too

Steps: a fresh virtual environment; CPU torch first (``pip install torch==2.13.0``: asking pip
for any other torch pulls a multi-GB CUDA build); then every other dependency at exactly its
declared minimum (``pkg==floor``, pinned together in one resolve, torch pinned with them); hsi
itself with ``--no-deps``; ``pip check``; then a smoke test in an empty folder: import hsi,
write a small synthetic scene as GeoTIFF, train HybridSN one epoch with the ``hsi`` command,
predict with it, write the map as GeoTIFF and ENVI, and make an RGB view. Every dependency needs
a ``>=`` floor; the script stops on one that has none. Exit status 0 means the floors are real.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TORCH = "2.13.0"  # the CPU build this project's machines install; see the docstring

SMOKE = r"""
import subprocess, sys
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine

import hsi
from hsi import read_scene
from hsi.data.synthetic import make_scene
from hsi.mapfiles import write_map
from hsi.rgb import rgb_view

assert Path(hsi.__file__).parent.parent != Path.cwd(), "hsi must come from the environment"
scene = make_scene(24, 24, bands=20, n_classes=3, seed=0, class_ids=[1, 10, 11])
gt = (500000.0, 30.0, 0.0, 4100000.0, 0.0, -30.0)
common = dict(driver="GTiff", height=24, width=24, crs="EPSG:32633",
              transform=Affine.from_gdal(*gt))
with rasterio.open("cube.tif", "w", count=20, dtype="float32", **common) as dst:
    dst.write(np.ascontiguousarray(scene.cube.transpose(2, 0, 1), dtype=np.float32))
    for i in range(20):
        dst.update_tags(i + 1, wavelength=str(0.4 + 0.03 * i), wavelength_units="Micrometers")
with rasterio.open("gt.tif", "w", count=1, dtype="uint8", nodata=0, **common) as dst:
    dst.write(scene.labels.astype("uint8"), 1)

s = read_scene("cube.tif", "gt.tif")
assert s.transform == gt and s.crs is not None and s.wavelengths[0] == 400.0, s
assert s.class_ids.tolist() == [1, 10, 11]

hsi_cmd = str(Path(sys.executable).with_name("hsi"))
def run(*args):
    print("$ hsi", *args, flush=True)
    subprocess.run([hsi_cmd, *args], check=True)

run("--help")
run("train", "--scene", "cube.tif", "--labels", "gt.tif", "--pca", "13", "--patch", "9",
    "--epochs", "1", "--train-size", "0.3", "--out", "runs", "--quiet")
run("predict", "cube.tif", "--labels", "gt.tif", "--out", "map.png", "--quiet")
pred = np.load("map.npy")
assert set(np.unique(pred)) <= {0, 1, 10, 11}, np.unique(pred)

for out in ("map.tif", "map.hdr"):
    write_map(out, pred, s.class_ids, s.class_names, crs=s.crs, transform=s.transform,
              confidence=np.full(pred.shape, 0.5, np.float32), title="smoke")
with rasterio.open("map.tif") as src:
    assert src.crs == rasterio.crs.CRS.from_epsg(32633) and src.transform.to_gdal() == gt
    assert (src.read(1) == pred).all() and src.colormap(1)[10][3] == 255
assert (read_scene("cube.tif", "map.img").labels == pred).all()
rgb = rgb_view(s.cube, s.wavelengths)
assert rgb.shape == (24, 24, 3) and rgb.dtype == np.uint8
print("smoke test passed")
"""


def floors(pyproject: Path, extra: str | None = None) -> dict[str, str]:
    """``{distribution: minimum version}`` of [project] dependencies (or one optional extra)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    specs = project["optional-dependencies"][extra] if extra else project["dependencies"]
    out = {}
    for spec in specs:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([^,;\s]+)\s*(?:,.*)?", spec)
        if not m:
            raise SystemExit(f"pyproject.toml: {spec!r} has no '>=' floor to check")
        out[m.group(1)] = m.group(2)
    return out


def sh(*cmd: str | Path, cwd: Path | None = None) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=cwd)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, help="where to make the environment (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the environment afterwards")
    parser.add_argument(
        "--torch", default=TORCH, help=f"torch version to install (default {TORCH})"
    )
    parser.add_argument("--python", default=sys.executable, help="interpreter for the venv")
    parser.add_argument("--pytest", action="store_true", help="also run the test suite")
    args = parser.parse_args()

    deps = floors(ROOT / "pyproject.toml")
    torch_floor = deps.pop("torch", None)
    tests = floors(ROOT / "pyproject.toml", "test") if args.pytest else {}
    tests.pop("ruff", None)  # a linter: no part of running the tests
    print(f"floors: {deps}  (torch>={torch_floor}: installing {args.torch}, see --torch)")

    base = args.venv or Path(tempfile.mkdtemp(prefix="hsi-minver-"))
    work = Path(tempfile.mkdtemp(prefix="hsi-minver-work-"))
    try:
        sh(args.python, "-m", "venv", "--clear", base)
        py = base / "bin" / "python"
        pip = [py, "-m", "pip", "install", "--no-input"]
        sh(*pip, f"torch=={args.torch}")
        pinned = [f"{name}=={version}" for name, version in {**deps, **tests}.items()]
        sh(*pip, f"torch=={args.torch}", *pinned)
        sh(*pip, "--no-deps", ROOT)
        sh(py, "-m", "pip", "check")
        subprocess.run([py, "-m", "pip", "list", "--format=freeze"], check=True)
        (work / "smoke.py").write_text(textwrap.dedent(SMOKE), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        subprocess.run([py, "smoke.py"], check=True, cwd=work, env=env)
        if args.pytest:
            sh(py, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", cwd=ROOT)
    except subprocess.CalledProcessError as exc:
        print(f"FAILED: {' '.join(map(str, exc.cmd))} (exit {exc.returncode})", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep and args.venv is None:
            shutil.rmtree(base, ignore_errors=True)
    print(f"the declared floors work: {', '.join(f'{k}=={v}' for k, v in deps.items())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
