"""Mapping many scenes with one model: ``hsi predict SCENE… --out-dir DIR [--backend ray]``.

A flight campaign is hundreds of scenes. Each is mapped by :func:`hsi.experiment.predict_run`
(the same reading, PCA and passes as one ``hsi predict``) into ``DIR/<scene stem>.<format>``;
a scene that fails (a corrupt file, another band count) is reported on its own line and the
others go on. At the end ``DIR/summary.csv`` has a row per scene: its status, pixels, seconds,
the pixels of each class, and the error if any. Every file is written under a temporary name
and renamed, so a failure never leaves half a map.

``backend="ray"``: one Ray task per scene (on a Ray started here, or the cluster at
``address``). The task reads the scene where it runs — the path must be readable there (a
shared file system, or one machine) — maps it into a temporary folder and hands the files back;
the driver writes them into ``DIR`` as the local backend does. Large scenes are tiled inside the
task (the dense path's tiles, the patch path's batches), so a task needs memory for one scene
and its PCA, not for every window.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hsi.atomic import atomic_paths, write_text
from hsi.errors import ConfigError, HSIError

logger = logging.getLogger(__name__)

#: map formats by ``--format``: the suffix of each scene's map
FORMATS = ("png", "tif", "hdr")


@dataclass
class BatchResult:
    folder: Path
    rows: list[dict[str, Any]]
    failed: list[str] = field(default_factory=list)
    summary: Path | None = None


def map_scenes(
    scenes: Sequence[str | Path],
    out_dir: str | Path,
    *,
    bundle_path: str | Path,
    fmt: str = "png",
    backend: str = "local",
    address: str | None = None,
    method: str = "auto",
    device: str = "auto",
    nonfinite: str = "error",
    tta: bool | None = None,
) -> BatchResult:
    """Map every scene into ``out_dir``; failures are reported per scene, never fatal."""
    from hsi.bundle import ModelBundle, find_bundle
    from hsi.config import check_choice
    from hsi.runfolder import check_out_dir

    if not scenes:
        raise ConfigError("scenes: no scene to map", params=("scenes",))
    check_choice("format", fmt, FORMATS)
    check_choice("backend", backend, ("local", "ray"))
    paths = [Path(s) for s in scenes]
    stems = [p.stem for p in paths]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:
        raise ConfigError(
            f"scenes: two scenes would write the same map ({', '.join(twice)}); "
            "map them into different out_dir folders",
            params=("scenes", "out_dir"),
        )
    folder = Path(out_dir)
    check_out_dir(folder, "--out-dir")
    bundle_file = find_bundle(bundle_path)
    ModelBundle.load(bundle_file)  # a damaged model fails once, before any scene
    options = dict(method=method, device=device, nonfinite=nonfinite, tta=tta)
    jobs = [(p, folder / f"{p.stem}.{fmt}") for p in paths]
    if backend == "ray":
        rows = _map_on_ray(jobs, bundle_file, options, address)
    else:
        rows = [_map_here(scene, out, bundle_file, options) for scene, out in jobs]
    result = BatchResult(folder, rows, [r["scene"] for r in rows if r["status"] != "ok"])
    result.summary = folder / "summary.csv"
    write_text(result.summary, summary_csv(rows))
    return result


def _map_here(scene: Path, out: Path, bundle_file: Path, options: dict) -> dict[str, Any]:
    from hsi.experiment import predict_run

    t0 = time.perf_counter()
    try:
        summary = predict_run(scene, out, bundle_path=bundle_file, **options)
    except HSIError as exc:
        return _failed(scene, exc, time.perf_counter() - t0)
    return _row(scene, summary, out)


def _row(scene: Path, summary: dict[str, Any], out: Path) -> dict[str, Any]:
    row = {"scene": str(scene), "status": "ok", "map": str(out)}
    row.update(pixels=summary["pixels"], seconds=round(summary["seconds"], 3))
    row.update({f"class_{k}": v for k, v in summary["histogram"].items()})
    logger.info(
        "%s: %s pixels in %.2f s → %s", scene.name, summary["pixels"], summary["seconds"], out
    )
    return row


def _failed(scene: Path, exc: HSIError, seconds: float) -> dict[str, Any]:
    message = " ".join(exc.cli_message().split())
    logger.warning("%s: error: %s", scene.name, message)
    return {"scene": str(scene), "status": "error", "seconds": round(seconds, 3), "error": message}


def summary_csv(rows: Sequence[dict[str, Any]]) -> str:
    from hsi.tables import csv_text

    classes = sorted(
        {k for r in rows for k in r if k.startswith("class_")}, key=lambda k: int(k[6:])
    )
    columns = ["scene", "status", "map", "pixels", "seconds", *classes, "error"]
    return csv_text(rows, columns)


# ------------------------------------------------------------------------------------- Ray
def _map_on_ray(jobs, bundle_file: Path, options: dict, address: str | None) -> list[dict]:
    from hsi.sweep.ray_backend import import_ray

    ray = import_ray()
    started = False
    if not ray.is_initialized():
        quiet = {"logging_level": logging.WARNING, "include_dashboard": False}
        ray.init(address=address, **quiet) if address else ray.init(**quiet)
        started = True
    try:
        model = ray.put(Path(bundle_file).read_bytes())  # the bundle travels once
        task = ray.remote(_map_task).options(num_cpus=1)
        refs = [task.remote(str(scene), out.name, model, options) for scene, out in jobs]
        rows = []
        for (scene, out), ref in zip(jobs, refs, strict=True):
            outcome = ray.get(ref)
            if outcome["status"] != "ok":
                rows.append(outcome["row"])
                logger.warning("%s: error: %s", scene.name, outcome["row"]["error"])
                continue
            names = sorted(outcome["files"])
            with atomic_paths([out.with_name(n) for n in names]) as tmps:
                for name, tmp in zip(names, tmps, strict=True):
                    tmp.write_bytes(outcome["files"][name])
            rows.append(_row(scene, outcome["summary"], out))
        return rows
    finally:
        if started:
            ray.shutdown()


def _map_task(scene: str, name: str, model: bytes, options: dict) -> dict[str, Any]:
    """On a Ray worker: map one scene into a temporary folder; its files and summary back."""
    from hsi.experiment import predict_run

    with tempfile.TemporaryDirectory(prefix="hsi-map-") as tmp:
        bundle = Path(tmp) / "model.pt"
        bundle.write_bytes(model)
        out = Path(tmp) / "out" / name
        t0 = time.perf_counter()
        try:
            summary = predict_run(scene, out, bundle_path=bundle, **options)
        except HSIError as exc:
            return {"status": "error", "row": _failed(Path(scene), exc, time.perf_counter() - t0)}
        files = {p.name: p.read_bytes() for p in out.parent.iterdir()}
    return {"status": "ok", "summary": summary, "files": files}
