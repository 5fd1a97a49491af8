"""Run folders that neither a crash nor a second process writing into the same ``--out`` can damage.

- :func:`check_out_dir` checks, before any data is loaded, that an output folder can be made and
  written to, so a typo costs a second, not a training run.
- :func:`staged_folder` gives a private temporary folder (``tempfile.mkdtemp``: a fresh name no
  other process can have) and renames it into place only when the block ends without an error.
  A new run's name ends in a random suffix, so two runs started together with the same options
  never share a name; the rename never replaces another process's folder.
- :func:`point_latest` replaces ``<out>/latest`` atomically with a link to a complete folder.
  Run folders are never removed by another run, so ``latest`` never points at a folder that can
  vanish.
- :func:`write_run` writes a training run's folder with all of the above: ``model.pt``,
  ``metrics.json``, ``history.csv``, ``rgb.png`` and the figures, then ``latest``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsi.atomic import current_umask, make_parents, reason, remove_empty, write_text
from hsi.errors import OutputError

if TYPE_CHECKING:
    import numpy as np

    from hsi.bundle import ModelBundle
    from hsi.config import TrainConfig
    from hsi.data.scene import Scene

HISTORY_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_classes", "lr")

# renames that lose against a folder of the same name (Linux: ENOTEMPTY, others: EEXIST)
_TAKEN = (errno.EEXIST, errno.ENOTEMPTY)


def check_out_dir(
    path: str | Path, option: str = "--out", *, given: str | Path | None = None
) -> Path:
    """Refuse an output folder that cannot be made or written to; create nothing.

    ``path`` may exist (then it must be a folder) or not (then its nearest existing parent must be
    a folder). Writability is probed with a temporary file, removed at once: permission bits say
    nothing about read-only file systems, ``/proc`` or a root user. Messages name ``option`` and
    ``given``, what the user typed (default: ``path``).
    """
    path = Path(path)
    where = f"{option} {given if given is not None else path}"
    if path.is_symlink() and not path.exists():
        raise OutputError(f"{where}: {path} links to {os.readlink(path)}, which does not exist")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{where}: {existing} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".hsi-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{where}: cannot write in {existing} ({reason(exc)})") from None
    return path


def check_latest(out: str | Path) -> None:
    """``<out>/latest`` must be absent or a link: never overwrite a user's own file or folder."""
    latest = Path(out) / "latest"
    if latest.exists() and not latest.is_symlink():
        kind = "folder" if latest.is_dir() else "file"
        raise OutputError(
            f"{latest} is a {kind}, not the link hsi keeps to the newest run; "
            "move it away or pass another --out"
        )


@dataclass
class StagedFolder:
    """``path``: the temporary folder to fill; ``final``: where it went, once renamed."""

    path: Path
    final: Path | None = None


@contextlib.contextmanager
def staged_folder(parent: str | Path, name: str, *, unique: bool = True) -> Iterator[StagedFolder]:
    """A private temporary folder in ``parent``, renamed to a final name when the block succeeds.

    ``unique=True``: the final name is ``<name>-<6 random hex digits>``, one no other folder has.
    ``unique=False``: the final name is ``name`` itself, replacing a folder of that name (a sweep
    training an unfinished run again). On any failure nothing is left: neither the temporary
    folder nor the parent folders this call created; a file-system error becomes an OutputError.
    """
    parent = Path(parent)
    created: list[Path] = []
    stage: StagedFolder | None = None
    try:
        for attempt in range(3):
            created += make_parents(parent)
            try:
                tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=parent))
                break
            except FileNotFoundError:
                # another run that failed removed the (then empty) parent it had made
                if attempt == 2:
                    raise
        stage = StagedFolder(tmp)
        yield stage
        # mkdtemp makes the folder private (0700) while it is filled; give it the usual mode
        os.chmod(tmp, 0o777 & ~current_umask())
        stage.final = _publish(tmp, parent, name) if unique else _replace(tmp, parent / name)
    except OSError as exc:
        raise OutputError(
            f"{parent / name}: cannot write the run folder ({reason(exc)}); nothing was kept"
        ) from exc
    finally:
        if stage is None or stage.final is None:
            if stage is not None:
                shutil.rmtree(stage.path, ignore_errors=True)
            remove_empty(created)


def point_latest(run_dir: str | Path) -> Path:
    """Point ``<parent>/latest`` at ``run_dir`` (a relative link), replacing the old atomically."""
    run_dir = Path(run_dir)
    latest = run_dir.parent / "latest"
    tmp = run_dir.parent / f".latest-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        os.symlink(run_dir.name, tmp, target_is_directory=True)
        os.replace(tmp, latest)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError(
            f"{latest}: cannot point it at the run ({reason(exc)}); the run itself is complete "
            f"in {run_dir}"
        ) from exc
    return latest


def _publish(tmp: Path, parent: Path, name: str) -> Path:
    for _ in range(100):
        final = parent / f"{name}-{secrets.token_hex(3)}"
        if final.exists() or final.is_symlink():
            continue
        try:
            # os.rename, not os.replace: it refuses a non-empty folder of the same name
            os.rename(tmp, final)
        except OSError as exc:
            if exc.errno in _TAKEN:
                continue
            raise
        return final
    raise OutputError(f"{parent}: no free name for run folder {name}")


def _replace(tmp: Path, final: Path) -> Path:
    old = None
    if final.exists() or final.is_symlink():
        old = final.parent / f".old-{final.name}-{os.getpid()}-{secrets.token_hex(3)}"
        os.rename(final, old)
    try:
        os.rename(tmp, final)
    except OSError:
        if old is not None:
            os.rename(old, final)
        raise
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink()
    return final


# ----------------------------------------------------------------------------- a training run
def check_run_target(config: TrainConfig, run_dir: str | Path | None) -> None:
    """Before any work: the folder a run will be written to can be made and written to."""
    if run_dir is None:
        check_out_dir(config.out)
        check_latest(config.out)
    else:
        check_out_dir(Path(run_dir).parent, "run folder")


def run_name(config: TrainConfig) -> str:
    """``<scene>_<model>_s<seed>_<time>``; :func:`staged_folder` appends a random suffix."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{config.scene_name}_{config.model}_s{config.seed}_{stamp}"


def write_run(
    config: TrainConfig,
    run_dir: str | Path | None,
    *,
    bundle: ModelBundle,
    metrics: dict[str, Any],
    history: list[dict[str, Any]],
    scene: Scene,
    pred_ids: np.ndarray,
    used: np.ndarray | None = None,
    buffer: np.ndarray | None = None,
    reduced: np.ndarray | None = None,
) -> Path:
    """Write the run folder complete or not at all; ``run_dir=None``: a new one under
    ``config.out``, which ``latest`` then points at. Returns the folder.

    ``used`` (H × W bool) marks the training and validation pixels: the figures draw them apart
    and score only the others, as the metrics do; ``buffer`` (H × W bool) marks the labeled
    pixels a spatial split tests on neither, drawn apart too. ``reduced``: the scene through the
    run's PCA, for the RGB view (else it is computed again).
    """
    import json

    from hsi.tables import csv_text

    if run_dir is None:
        parent, name, unique = Path(config.out), run_name(config), True
    else:
        parent, name, unique = Path(run_dir).parent, Path(run_dir).name, False
    with staged_folder(parent, name, unique=unique) as stage:
        bundle.save(stage.path / "model.pt")
        write_text(stage.path / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        write_text(stage.path / "history.csv", csv_text(history, HISTORY_COLUMNS))
        _draw_run(stage.path, scene, pred_ids, bundle, metrics, history, used, buffer, reduced)
    if run_dir is None:
        point_latest(stage.final)
    return stage.final


def _draw_run(
    folder: Path, scene: Scene, pred_ids, bundle, metrics, history, used, buffer, reduced
) -> None:
    import numpy as np

    from hsi import render

    ids, names = scene.class_ids, scene.class_names
    palette = np.asarray(bundle.palette, dtype=np.uint8)
    m = metrics
    title = f"{scene.name}, test pixels: OA {m['oa']:.3f}  AA {m['aa']:.3f}  κ {m['kappa']:.3f}"
    render.save_map(folder / "map.png", pred_ids, ids, names, palette, title=title)
    labeled = np.where(scene.labels != 0, pred_ids, 0)
    unscored = {"used": used, "buffer": buffer}  # drawn apart, never scored, in both figures
    render.save_map(
        folder / "map_labeled.png", labeled, ids, names, palette, title=title, **unscored
    )
    from hsi.rgb import rgb_title, rgb_view

    # the run's reduced cube when at hand: the PCA is not applied to the whole scene again
    rgb = rgb_view(scene.cube, scene.wavelengths, bundle.reducer(), components=reduced)
    view = rgb_title(scene.wavelengths)
    render.save_rgb(folder / "rgb.png", rgb, title=f"{scene.name}: {view}")
    render.save_panels(
        folder / "panels.png",
        scene.labels,
        pred_ids,
        ids,
        names,
        palette,
        title=title,
        rgb=rgb,
        **unscored,
        rgb_title=view,
    )
    render.save_confusion(folder / "confusion.png", np.asarray(m["confusion"]), ids, names)
    render.save_curves(folder / "curves.png", history)
