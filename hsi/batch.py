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
    cube_key: str | None = None,
    confidence: bool = False,
) -> BatchResult:
    """Map every scene into ``out_dir``; failures are reported per scene, never fatal."""
    from hsi.bundle import ModelBundle, find_bundle
    from hsi.config import Method, check_choice
    from hsi.experiment import check_map_options, files_read, overwritten_input
    from hsi.runfolder import check_out_dir

    if not scenes:
        raise ConfigError("no scene to map")
    check_choice("format", fmt, FORMATS)
    check_choice("backend", backend, ("local", "ray"))
    if confidence and fmt == "png":
        raise ConfigError(
            "confidence: a PNG map cannot hold it; map with format tif or hdr",
            params=("confidence", "format"),
        )
    check_choice("method", method, Method.__args__)
    paths = [Path(s) for s in scenes]
    stems = [p.stem for p in paths]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:
        raise ConfigError(
            f"two scenes would write the same map ({', '.join(twice)}); "
            "map them into different out_dir folders",
            params=("out_dir",),
        )
    folder = Path(out_dir)
    read = files_read(paths)
    for p in paths:  # before any map: predict_run's own check would fail this scene alone
        hit = overwritten_input(
            folder / f"{p.stem}.{fmt}", read, labels=False, confidence=confidence
        )
        if hit is not None:
            role, target = hit
            raise ConfigError(
                f"out_dir {folder}: the {role} file of {p.name}'s map would overwrite "
                f"{target}, a scene to map; map into another folder or --format",
                params=("out_dir",),
            )
    check_out_dir(folder, "--out-dir")
    bundle_file = find_bundle(bundle_path)
    # a damaged model, or an option it cannot take, fails once, before any scene
    bundle = ModelBundle.load(bundle_file)
    check_map_options(bundle, method=method, device=device, confidence=confidence)
    options = dict(method=method, device=device, nonfinite=nonfinite, tta=tta)
    options.update(cube_key=cube_key, confidence=confidence)
    jobs = [(p, folder / f"{p.stem}.{fmt}") for p in paths]
    rows: list[dict[str, Any]] = []
    try:
        if backend == "ray":
            _map_on_ray(jobs, bundle_file, options, address, rows)
        else:
            rows.extend(_map_here(scene, out, bundle_file, options) for scene, out in jobs)
    finally:  # what was mapped is summarised even when the batch is cut short
        summary = folder / "summary.csv" if rows else None
        if summary is not None:
            write_text(summary, summary_csv(rows))
    return BatchResult(folder, rows, [r["scene"] for r in rows if r["status"] != "ok"], summary)


def _map_here(scene: Path, out: Path, bundle_file: Path, options: dict) -> dict[str, Any]:
    from hsi.experiment import predict_run

    t0 = time.perf_counter()
    try:
        summary = predict_run(scene, out, bundle_path=bundle_file, **options)
    except Exception as exc:  # one scene's failure (even a bug, or no memory) spares the rest
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


def _failed(scene: Path, exc: BaseException, seconds: float) -> dict[str, Any]:
    if isinstance(exc, HSIError):
        message = exc.cli_message()
    else:
        message = f"unexpected {type(exc).__name__}: {exc}"
    message = " ".join(message.split())
    logger.info("%s: failed", scene.name)  # the CLI prints the error once, at the end
    return {"scene": str(scene), "status": "error", "seconds": round(seconds, 3), "error": message}


def summary_csv(rows: Sequence[dict[str, Any]]) -> str:
    from hsi.tables import csv_text

    classes = sorted(
        {k for r in rows for k in r if k.startswith("class_")}, key=lambda k: int(k[6:])
    )
    columns = ["scene", "status", "map", "pixels", "seconds", *classes, "error"]
    return csv_text(rows, columns)


# ------------------------------------------------------------------------------------- Ray
def _map_on_ray(jobs, bundle_file: Path, options: dict, address: str | None, rows: list) -> None:
    from hsi.sweep.ray_backend import RayBackend, import_ray

    ray = import_ray()
    started = RayBackend(1, address)._connect(ray, 1)
    refs: list[Any] = []
    try:
        model = ray.put(Path(bundle_file).read_bytes())  # the bundle travels once
        task = ray.remote(_map_task).options(num_cpus=1)
        refs = [task.remote(str(scene), out.name, model, options) for scene, out in jobs]
        for (scene, out), ref in zip(jobs, refs, strict=True):
            try:
                outcome = ray.get(ref)
            except Exception as exc:  # a worker that died, ran out of memory, …
                rows.append(_failed(scene, exc, 0.0))
                continue
            if outcome["status"] != "ok":
                rows.append(outcome["row"])
                continue
            names = sorted(outcome["files"])
            with atomic_paths([out.with_name(n) for n in names]) as tmps:
                for name, tmp in zip(names, tmps, strict=True):
                    tmp.write_bytes(outcome["files"][name])
            rows.append(_row(scene, outcome["summary"], out))
    except BaseException:
        for ref in refs:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()


def _map_task(scene: str, name: str, model: bytes, options: dict) -> dict[str, Any]:
    """On a Ray worker: map one scene into a temporary folder; its files and summary back."""
    import torch

    from hsi.experiment import predict_run

    torch.set_num_threads(1)  # the task holds one CPU
    with tempfile.TemporaryDirectory(prefix="hsi-map-") as tmp:
        bundle = Path(tmp) / "model.pt"
        bundle.write_bytes(model)
        out = Path(tmp) / "out" / name
        t0 = time.perf_counter()
        try:
            summary = predict_run(scene, out, bundle_path=bundle, **options)
        except Exception as exc:
            return {"status": "error", "row": _failed(Path(scene), exc, time.perf_counter() - t0)}
        files = {p.name: p.read_bytes() for p in out.parent.iterdir()}
    return {"status": "ok", "summary": summary, "files": files}
