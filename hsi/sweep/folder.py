"""A sweep's folder: where each run goes, which runs are finished, the manifest that keeps
a resumed sweep from mixing runs made with other options, and writing a run folder whose files
came from elsewhere (a Ray worker)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from hsi.atomic import write_text
from hsi.config import TrainConfig
from hsi.errors import ConfigError, HSIError
from hsi.sweep.grid import size_label

# Options that may change between an interrupted sweep and its resumption: they either vary
# per run, or do not change any result (DataLoader workers; see docs/reproducibility.md).
_FREE_OPTIONS = ("seed", "train_size", "out", "workers", "data_dir")


def sweep_folder(config: TrainConfig) -> Path:
    """``<out>/sweep_<scene>_<model>``: where a sweep over ``config`` lives by default."""
    return Path(config.out) / f"sweep_{config.scene_name}_{config.model}"


def run_folder(folder: Path, train_size: float | int, seed: int) -> Path:
    return Path(folder) / f"ts{size_label(train_size)}" / f"seed_{seed}"


def is_finished(run_dir: Path) -> bool:
    """A complete, uninterrupted run: its metrics.json exists and says so."""
    metrics = _read_metrics(run_dir)
    return metrics is not None and not metrics.get("training", {}).get("interrupted", False)


def _read_metrics(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(run_dir) / "metrics.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None  # unreadable: train it again


def _shared_options(config: TrainConfig) -> dict[str, Any]:
    options = {k: v for k, v in config.to_dict().items() if k not in _FREE_OPTIONS}
    for key in ("scene", "labels"):
        if options.get(key) is not None:
            options[key] = str(Path(options[key]).resolve())
    return options


def _check_manifest(folder: Path, config: TrainConfig) -> None:
    """Refuse to resume a sweep made with other options: its runs would not be comparable."""
    path = folder / "sweep.json"
    options = _shared_options(config)
    if path.exists():
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))["options"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{path}: not a sweep manifest ({exc}); delete it or pick another out",
                params=("out",),
            ) from None
        changed = [
            f"{key}: {recorded.get(key)!r} → {options.get(key)!r}"
            for key in sorted(set(recorded) | set(options))
            if recorded.get(key) != options.get(key)
        ]
        # with no finished run there is nothing to mix up: the new options take the folder over
        if changed and any(is_finished(p) for p in folder.glob("ts*/seed_*")):
            raise ConfigError(
                f"{folder} holds a sweep made with other options ({'; '.join(changed)}); "
                "pass another out or delete that folder",
                params=("out",),
            )


def _write_manifest(folder: Path, config: TrainConfig) -> None:
    from hsi.stages import versions

    manifest = {"options": _shared_options(config), "versions": versions()}
    write_text(folder / "sweep.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def write_files(run_dir: Path, files: Mapping[str, bytes]) -> Path:
    """Write a run folder from ``{relative path: content}``, complete or not at all.

    As :func:`hsi.runfolder.write_run` does: the files go to a private temporary folder beside
    ``run_dir``, renamed to it at the end (replacing an unfinished run of the same name).
    """
    from hsi.runfolder import staged_folder

    run_dir = Path(run_dir)
    with staged_folder(run_dir.parent, run_dir.name, unique=False) as stage:
        for name, content in sorted(files.items()):
            rel = PurePosixPath(name)
            if rel.is_absolute() or not rel.parts or ".." in rel.parts:
                raise HSIError(f"{run_dir}: refusing the run file name {name!r}")
            target = stage.path.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    assert stage.final is not None
    return stage.final
