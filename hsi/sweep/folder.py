"""A sweep's folder: where each run goes, which runs are finished, the manifest that keeps
a resumed sweep from mixing runs made with other options, and writing a run folder whose files
came from elsewhere (a Ray worker)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from hsi.atomic import make_parents, remove_empty, write_text
from hsi.config import FILE_OPTIONS, TrainConfig
from hsi.errors import ConfigError, HSIError
from hsi.sweep.grid import size_label

# Options that may change between an interrupted sweep and its resumption: they either vary
# per run, or do not change any result (DataLoader workers; see docs/reproducibility.md).
_FREE_OPTIONS = ("seed", "train_size", "out", "workers", "data_dir")
# Options each model of a sweep over several models may set for itself (its own window and
# PCA, its width); every other option is shared by all of them.
MODEL_OPTIONS = ("model", "patch", "pca", "model_options")


def sweep_folder(config: TrainConfig | Sequence[TrainConfig]) -> Path:
    """``<out>/sweep_<scene>_<model>`` (several models: ``_<m1>+<m2>…``): the default folder."""
    configs = _as_list(config)
    models = "+".join(c.model for c in configs)
    return Path(configs[0].out) / f"sweep_{configs[0].scene_name}_{models}"


def run_folder(folder: Path, train_size: float | int, seed: int, model: str | None = None) -> Path:
    """``ts<size>/seed_<seed>``; in a sweep over several models ``<model>/ts<size>/seed_<seed>``."""
    run = Path(f"ts{size_label(train_size)}") / f"seed_{seed}"
    return Path(folder) / (run if model is None else Path(model) / run)


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


def _as_list(config: TrainConfig | Sequence[TrainConfig]) -> list[TrainConfig]:
    return [config] if isinstance(config, TrainConfig) else list(config)


def _options(config: TrainConfig) -> dict[str, Any]:
    options = {k: v for k, v in config.to_dict().items() if k not in _FREE_OPTIONS}
    for key in ("scene", "labels"):
        if options.get(key) is not None:
            options[key] = str(Path(options[key]).resolve())
    return options


def _shared_options(config: TrainConfig | Sequence[TrainConfig]) -> dict[str, Any]:
    """The options every run of the sweep shares. Several models: those all models share, and
    under ``models`` each model's own window, PCA and options."""
    configs = _as_list(config)
    if len(configs) == 1:
        return _options(configs[0])
    shared = {k: v for k, v in _options(configs[0]).items() if k not in MODEL_OPTIONS}
    for other in configs[1:]:
        theirs = {k: v for k, v in _options(other).items() if k not in MODEL_OPTIONS}
        differ = sorted(k for k in shared.keys() | theirs.keys() if shared.get(k) != theirs.get(k))
        if differ:
            raise ConfigError(
                f"the models of one sweep must share every option but {', '.join(MODEL_OPTIONS)}; "
                f"{configs[0].model} and {other.model} differ in {', '.join(differ)}"
            )
    shared["models"] = {
        c.model: {k: v for k, v in _options(c).items() if k in MODEL_OPTIONS[1:]} for c in configs
    }
    return shared


def _check_manifest(folder: Path, config: TrainConfig | Sequence[TrainConfig]) -> None:
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
        if recorded.get("dataset") is not None:  # recorded while ignored (now refused)
            recorded = {k: v for k, v in recorded.items() if k not in FILE_OPTIONS}
        changed = [
            f"{key}: {recorded.get(key)!r} → {options.get(key)!r}"
            for key in sorted(set(recorded) | set(options))
            if recorded.get(key) != options.get(key)
        ]
        # with no finished run there is nothing to mix up: the new options take the folder over
        runs = [*folder.glob("ts*/seed_*"), *folder.glob("*/ts*/seed_*")]
        if changed and any(is_finished(p) for p in runs):
            raise ConfigError(
                f"{folder} holds a sweep made with other options ({'; '.join(changed)}); "
                "pass another out or delete that folder",
                params=("out",),
            )


@contextlib.contextmanager
def _manifest_written(folder: Path, config: TrainConfig | Sequence[TrainConfig]) -> Iterator[None]:
    """Write ``sweep.json`` for the runs inside the block; should they fail before any run was
    kept, remove it again, with the folders made for it: a failed sweep leaves no folder that
    holds nothing but its options."""
    from hsi.stages import versions

    path = folder / "sweep.json"
    had_manifest = path.exists()
    created = make_parents(folder)
    manifest = {"options": _shared_options(config), "versions": versions()}
    write_text(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):  # never hide the failure behind a cleanup's own
            if not had_manifest and [p.name for p in folder.iterdir()] == [path.name]:
                path.unlink()
                remove_empty(created)
        raise


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
