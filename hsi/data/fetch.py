"""Cached, verified downloads of the registry's scenes.

Files live in ``<data dir>/<scene name>/`` under their original names (``Indian_pines_gt.mat``…).
The data dir is the ``data_dir`` argument, else the ``HSI_DATA_DIR`` environment variable, else
the user cache (``pooch.os_cache("hsi")``, e.g. ``~/.cache/hsi`` on Linux).

Integrity:

* a file with a published checksum in the registry is checked against it on every load;
* a file without one gets its SHA-256 recorded in ``<scene folder>/checksums.json`` when it is
  downloaded — or, for a file placed there by hand, the first time it is used — and is checked
  against that record on every later load.

A mismatch is a :class:`~hsi.errors.ChecksumError` naming the file and both hashes; the file is
never used silently. Downloads stream into a hidden ``.<name>.*.part`` file in the same folder and
are renamed into place only once complete and verified, so an interrupted transfer, a server error
or a bad checksum leaves nothing under the expected name. One process at a time downloads a file
(a ``.<name>.lock`` beside it); another that needs it waits, then uses it.

Mirrors: ``base_url=`` (or the ``HSI_MIRROR_URL`` environment variable) replaces the source of every
file by ``<base_url>/<file name>``; published checksums still apply. Tests use it to serve
synthetic files from a local HTTP server.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pooch

from hsi.atomic import atomic_path, make_parents, reason, remove_empty, write_text
from hsi.data.registry import SPY_COLORS, RemoteFile, SceneInfo, get_scene_info, list_scenes
from hsi.data.scene import Scene
from hsi.errors import ChecksumError, ConfigError, DataError, DownloadError, OutputError

__all__ = [
    "CHECKSUMS_FILE",
    "ENV_DATA_DIR",
    "ENV_MIRROR_URL",
    "dataset_status",
    "download_dataset",
    "fetch_scene",
    "load_dataset",
    "resolve_data_dir",
    "scene_dir",
]

ENV_DATA_DIR = "HSI_DATA_DIR"
ENV_MIRROR_URL = "HSI_MIRROR_URL"
CHECKSUMS_FILE = "checksums.json"

_PART_SUFFIX = ".part"
_ALG_NAMES = {"sha256": "SHA-256", "md5": "MD5"}
_CHUNK_SIZE = 1 << 18
# (connect, read) seconds: a stalled server fails the download instead of hanging it.
_TIMEOUT = (15, 60)

logger = logging.getLogger(__name__)


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder that holds one sub-folder per scene (it need not exist yet, but may not be a
    file)."""
    if data_dir is not None and str(data_dir) != "":
        folder, named = Path(data_dir).expanduser(), f"data_dir {data_dir}"
    elif os.environ.get(ENV_DATA_DIR, "").strip():
        env = os.environ[ENV_DATA_DIR].strip()
        folder, named = Path(env).expanduser(), f"{ENV_DATA_DIR}={env}"
    else:
        folder, named = Path(pooch.os_cache("hsi")), "the dataset cache"
    if folder.exists() and not folder.is_dir():
        raise ConfigError(
            f"{named}: {folder} is a file; expected the folder that holds the scenes",
            params=("data_dir",),
        )
    return folder


def scene_dir(scene: str | SceneInfo, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the files of ``scene`` are expected."""
    return resolve_data_dir(data_dir) / _info(scene).name


def download_dataset(
    scene: str | SceneInfo,
    data_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    *,
    download: bool = True,
    base_url: str | None = None,
) -> dict[str, Path]:
    """Paths of a standard scene's files (``'cube'``, ``'labels'``), downloading missing ones.

    Files already in the scene folder are used without touching the network, after their
    checksum is verified. ``progress=None`` shows a progress bar only when stderr is a terminal.
    ``scene`` is a registry name or a :class:`SceneInfo` (e.g. a scene you describe yourself).
    """
    info = _info(scene)
    folder = scene_dir(info, data_dir)
    files = info.files
    missing = [role for role, f in files.items() if not (folder / f.filename).is_file()]
    if missing and not download:
        raise DownloadError(
            f"dataset {info.name!r} is not in {folder} and downloading is off; "
            f"download it (`hsi datasets download {info.name}` or download=True), or "
            + _manual_hint(info, folder, missing)
        )

    fresh: set[str] = set()
    for i, role in enumerate(missing):
        remote = files[role]
        url = _url(remote, base_url)
        try:
            downloaded = _download(remote, url, folder, progress)
        except DownloadError as exc:
            if isinstance(exc, ChecksumError):
                raise
            raise DownloadError(
                f"{exc}; to install {info.name!r} by hand, "
                + _manual_hint(info, folder, missing[i:])
            ) from exc
        if downloaded:
            fresh.add(role)

    paths = {}
    for role, remote in files.items():
        path = folder / remote.filename
        if role not in fresh:
            _verify_present(path, remote)
        paths[role] = path
    return paths


def load_dataset(
    name: str | SceneInfo,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    progress: bool | None = None,
    base_url: str | None = None,
) -> Scene:
    """Fetch a registry scene and read it into a :class:`Scene` with its class names and palette."""
    from hsi.data.io import read_scene  # io pulls in scipy/h5py; only needed once files exist

    info = _info(name)
    paths = download_dataset(
        info, data_dir, download=download, progress=progress, base_url=base_url
    )
    scene = read_scene(
        paths["cube"],
        paths["labels"],
        cube_key=info.cube.key,
        labels_key=info.labels.key,
        name=info.name,
        class_names=dict(zip(info.class_ids, info.class_names, strict=True)),
        palette=info.palette,
    )
    if scene.shape != tuple(info.shape):
        shape = "×".join(str(n) for n in scene.shape)
        raise DataError(
            f"{paths['cube']}: the cube is {shape} but {info.title} is {info.shape_text}; "
            f"this is not the {info.name!r} scene — delete the files in {paths['cube'].parent} "
            "and download them again"
        )
    if scene.palette is None:
        # read_scene drops a palette whose rows do not match the classes present; rebuild it
        # per id so colours still agree with the registry's.
        colours = dict(zip(info.class_ids, info.palette_rgb, strict=True))
        scene.palette = np.asarray(
            [colours.get(int(i), SPY_COLORS[int(i) % len(SPY_COLORS)]) for i in scene.class_ids],
            dtype=np.uint8,
        ).reshape(-1, 3)
    scene.meta.update(
        {
            "dataset": info.name,
            "title": info.title,
            "sensor": info.sensor,
            "wavelength_nm": info.wavelength_nm,
            "gsd_m": info.gsd_m,
            "bands_note": info.bands_note,
            "citation": info.citation,
        }
    )
    return scene


def dataset_status(data_dir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """One row per registry scene, for listings: what it is and whether it is cached here.

    Keys: ``name``, ``title``, ``shape`` (H, W, B), ``size`` ("H×W×B"), ``classes``, ``labeled``,
    ``sensor``, ``cached`` (all files present), ``missing`` (file names), ``where`` (folder).
    Nothing is hashed or downloaded.
    """
    rows = []
    for name in list_scenes():
        info = get_scene_info(name)
        folder = scene_dir(info, data_dir)
        missing = [f.filename for f in info.files.values() if not (folder / f.filename).is_file()]
        rows.append(
            {
                "name": info.name,
                "title": info.title,
                "shape": info.shape,
                "size": info.shape_text,
                "classes": info.n_classes,
                "labeled": info.n_labeled,
                "sensor": info.sensor,
                "cached": not missing,
                "missing": missing,
                "where": str(folder),
            }
        )
    return rows


# -- internals -----------------------------------------------------------------------------------


def _info(scene: str | SceneInfo) -> SceneInfo:
    return scene if isinstance(scene, SceneInfo) else get_scene_info(scene)


def _url(remote: RemoteFile, base_url: str | None) -> str:
    base = base_url if base_url is not None else os.environ.get(ENV_MIRROR_URL, "").strip()
    return f"{base.rstrip('/')}/{remote.filename}" if base else remote.url


def _manual_hint(info: SceneInfo, folder: Path, roles: Iterable[str]) -> str:
    # The original source, not the mirror: a hand install is the way round a failing mirror too.
    wanted = ", ".join(f"{info.files[r].filename} (from {info.files[r].url})" for r in roles)
    return f"put {wanted} in {folder}"


def _download(remote: RemoteFile, url: str, folder: Path, progress: bool | None) -> bool:
    """Stream ``url`` into ``folder/<filename>``; only a complete, verified file lands there.

    False when another process downloaded the file while this one waited for it.
    """
    from hsi.progress import DownloadBar, wanted

    with _download_lock(folder, remote.filename):
        if (folder / remote.filename).is_file():
            return False
        _remove_stale_parts(folder, remote.filename)
        bar = DownloadBar(remote.filename) if wanted(progress) else None
        try:
            _download_into(remote, url, folder, bar)
        finally:
            if bar is not None:
                bar.close()
    return True


@contextlib.contextmanager
def _download_lock(folder: Path, filename: str) -> Iterator[None]:
    """Hold ``folder/.<filename>.lock`` so that one process at a time downloads a file.

    Without it a second ``hsi`` process on the same cache removed the first one's ``.part``
    file as a stale leftover, or had the scene folder removed under it by a failed download.
    The lock file is removed on release, so that a failed download leaves the cache as it found
    it (no empty scene folder); a process that then holds a lock on the removed file notices
    and locks a fresh one, making the folder again as its own.
    """
    fcntl = _flock_module()
    if fcntl is None:  # Windows: no flock; one download at a time is up to the user
        created = _make_folder(folder)
        try:
            yield
        except BaseException:
            remove_empty(created)
            raise
        return
    lock = folder / f".{filename}.lock"
    created: list[Path] = []
    try:
        fd = _lock_fresh(lock, created, fcntl)
    except BaseException:  # Ctrl-C while waiting: leave no folder this call made
        remove_empty(created)
        raise
    try:
        yield
    except BaseException:
        # Removed before the lock is released: a waiter wakes to find the folder gone and
        # makes it as its own, so that its failure in turn removes it.
        with contextlib.suppress(OSError):
            lock.unlink()
        remove_empty(created)
        os.close(fd)
        raise
    with contextlib.suppress(OSError):
        lock.unlink()  # while still held: whoever locks it after this sees it is gone
    os.close(fd)


def _flock_module() -> Any:
    try:
        import fcntl
    except ImportError:
        return None
    return fcntl


def _lock_fresh(lock: Path, created: list[Path], fcntl: Any) -> int:
    """Open and lock ``lock``, making its folder (added to ``created``) as often as needed."""
    folder, waited, vanished = lock.parent, False, 0
    while True:
        created += _make_folder(folder)
        try:
            fd = _open_lock(lock)
        except FileNotFoundError:
            vanished += 1  # a failed download just removed the folder: make it again
            if vanished > 100:
                raise DownloadError(
                    f"cannot write to {folder}: it vanishes each time it is made"
                ) from None
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not waited:
                    name = lock.name[1 : -len(".lock")]
                    logger.info("waiting for another process downloading %s to %s", name, folder)
                    waited = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                return fd  # a file system without locks (some NFS mounts): unlocked, as before
            with contextlib.suppress(FileNotFoundError):
                if os.path.samestat(os.stat(lock), os.fstat(fd)):
                    return fd  # still the file everyone opens, not one its last holder removed
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _make_folder(folder: Path) -> list[Path]:
    """``make_parents(folder)``, its failures as one line naming the path that is in the way."""
    try:
        for path in (folder, *folder.parents):
            if path.is_symlink() and not path.exists():
                raise DownloadError(
                    f"{path} is a link to {os.readlink(path)}, which does not exist; "
                    "expected a folder to download into"
                )
            if path.exists():
                if not path.is_dir():
                    raise DownloadError(f"{path} is a file; expected a folder to download into")
                break
        return make_parents(folder)
    except FileNotFoundError:
        return []  # a parent removed at this moment by a failed download: the caller retries
    except OSError as exc:
        raise DownloadError(f"cannot write to {folder}: {exc.strerror or exc}") from exc


def _open_lock(lock: Path) -> int:
    # 0o666 less the umask, as for any file: a cache shared by a group stays usable by all
    try:
        return os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError as exc:
        refused = exc
    try:  # another user's lock file in a folder we may write to: flock works on it read-only
        return os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        raise DownloadError(f"cannot write to {lock.parent}: {refused.strerror}") from refused
    except OSError as exc:
        raise DownloadError(
            f"cannot open the download lock {lock} ({exc.strerror or exc}); if no hsi process "
            "is downloading into that folder, delete it"
        ) from exc


def _download_into(remote: RemoteFile, url: str, folder: Path, bar: Any) -> None:
    import requests  # pooch's own HTTP dependency

    try:
        # the bytes arrive under a hidden .part name; a wrong checksum discards them
        with atomic_path(folder / remote.filename, temp_suffix=_PART_SUFFIX) as tmp:
            downloader = pooch.HTTPDownloader(
                progressbar=bar if bar is not None else False,
                chunk_size=_CHUNK_SIZE,
                timeout=_TIMEOUT,
            )
            try:
                downloader(url, str(tmp), None)
            except requests.exceptions.RequestException as exc:
                raise DownloadError(
                    f"could not download {remote.filename} from {url}: {_reason(exc)}"
                ) from exc
            except OSError as exc:
                raise DownloadError(
                    f"could not write {remote.filename} to {folder}: {exc.strerror or exc}"
                ) from exc
            digests = _hash_file(tmp, {"sha256", remote.algorithm or "sha256"})
            if remote.checksum is not None and digests[remote.algorithm] != remote.digest:
                raise ChecksumError(
                    f"{remote.filename} downloaded from {url} has "
                    f"{_ALG_NAMES[remote.algorithm]} {digests[remote.algorithm]} but "
                    f"{remote.digest} is expected; the download was discarded — try again, and "
                    "if it persists the server's copy differs from the published one"
                )
    except OutputError as exc:
        raise DownloadError(f"cannot write to {folder}: {reason(exc)}") from exc
    if remote.checksum is None:
        # Should the record fail to be written (disk full), the next load records it instead.
        with contextlib.suppress(OSError):
            _record(folder, remote.filename, digests["sha256"], source=url)


def _verify_present(path: Path, remote: RemoteFile) -> None:
    """Check a cached file against its published checksum, else against the recorded one."""
    if remote.checksum is not None:
        actual = _hash_file(path, {remote.algorithm})[remote.algorithm]
        if actual != remote.digest:
            raise ChecksumError(
                f"{path}: {_ALG_NAMES[remote.algorithm]} is {actual} but the published checksum is "
                f"{remote.digest}; the file is corrupt or not the original — delete it and run "
                "again to download a fresh copy"
            )
        return
    records = _read_records(path.parent)
    actual = _hash_file(path, {"sha256"})["sha256"]
    recorded = records.get(path.name, {}).get("sha256")
    if recorded is None:
        # Trust on first use: a file placed by hand is recorded now and checked from then on.
        # A read-only shared cache cannot hold the record; its files stay usable, unrecorded.
        with contextlib.suppress(OSError):
            _record(path.parent, path.name, actual, source="found in folder (placed by hand)")
    elif actual != recorded:
        raise ChecksumError(
            f"{path}: SHA-256 is {actual} but {recorded} was recorded in {CHECKSUMS_FILE} when it "
            "was first stored; the file has changed since (corrupt or replaced) — delete it and "
            "run again to download a fresh copy"
        )


def _hash_file(path: Path, algorithms: set[str]) -> dict[str, str]:
    hashers = {alg: hashlib.new(alg) for alg in algorithms}
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            for h in hashers.values():
                h.update(chunk)
    return {alg: h.hexdigest() for alg, h in hashers.items()}


def _read_records(folder: Path) -> dict[str, dict[str, str]]:
    path = folder / CHECKSUMS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ChecksumError(
            f"{path}: cannot read the recorded checksums ({exc}); delete it and the scene's "
            "files, then download them again"
        ) from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ChecksumError(
            f"{path}: not a checksum record written by hsi; delete it and the scene's files, "
            "then download them again"
        )
    return data


def _record(folder: Path, filename: str, sha256: str, *, source: str) -> None:
    records = _read_records(folder)
    records[filename] = {
        "sha256": sha256,
        "source": source,
        "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_text(folder / CHECKSUMS_FILE, json.dumps(records, indent=2, sort_keys=True) + "\n")


def _remove_stale_parts(folder: Path, filename: str) -> None:
    # Left by a killed process (SIGKILL, power loss); ours by their name, never a user's file.
    for part in folder.glob(f".{glob.escape(filename)}.*{_PART_SUFFIX}"):
        with contextlib.suppress(OSError):
            part.unlink()


def _reason(exc: BaseException) -> str:
    import requests

    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason or ''}".strip()
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "the connection timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "the server stopped sending data (timed out)"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the transfer was cut off before the end"
    if isinstance(exc, requests.exceptions.ConnectionError):
        errno_text = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(exc))
        detail = errno_text.group(1).strip() if errno_text else "no connection"
        return f"cannot connect ({detail})"
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__


#: the name of earlier versions for :func:`download_dataset`
fetch_scene = download_dataset
