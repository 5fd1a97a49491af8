"""Cached downloads: real HTTP against a local server on 127.0.0.1, never the internet."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pooch
import pytest
import scipy.io

from hsi.data import fetch
from hsi.data.fetch import (
    CHECKSUMS_FILE,
    dataset_status,
    download_dataset,
    fetch_scene,
    load_dataset,
    resolve_data_dir,
    scene_dir,
)
from hsi.data.registry import RemoteFile, SceneInfo, get_scene_info, list_scenes
from hsi.errors import ChecksumError, ConfigError, DataError, DownloadError
from hsi.progress import DownloadBar

# Port 9 (discard) has no listener here: any attempt to use the network fails at once.
UNREACHABLE = "http://127.0.0.1:9"


# -- a local HTTP server --


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        name = self.path.lstrip("/")
        self.server.requests.append(name)
        route = self.server.routes.get(name)
        if route is None:
            self.send_error(404)
            return
        status, body, mode = route
        if status != 200:
            self.send_error(status)
            return
        if "gate" in mode:  # hold the transfer until the test opens the gate
            self.server.gate.wait(10)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        # "truncate": promise more bytes than are sent, then hang up mid-transfer.
        extra = 4096 if "truncate" in mode else 0
        self.send_header("Content-Length", str(len(body) + extra))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args) -> None:  # keep test output clean
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, tuple[int, bytes, str]] = {}
        self.requests: list[str] = []
        self.gate = threading.Event()
        self.timeout = 5

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def serve(self, name: str, body: bytes, *, status: int = 200, mode: str = "ok") -> None:
        self.routes[name] = (status, body, mode)


@pytest.fixture
def server():
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(fetch.ENV_DATA_DIR, raising=False)
    monkeypatch.delenv(fetch.ENV_MIRROR_URL, raising=False)


# -- synthetic scenes --


def _mat_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    scipy.io.savemat(buf, arrays)
    return buf.getvalue()


def _tiny_arrays(shape=(6, 5, 4)):
    h, w, b = shape
    rng = np.random.default_rng(0)
    cube = rng.integers(0, 1000, size=shape).astype(np.uint16)
    labels = np.zeros((h, w), dtype=np.uint8)
    labels[0, :] = 1
    labels[1, :2] = 2
    labels[2, :3] = 3
    return cube, labels


def _tiny_info(**changes) -> SceneInfo:
    info = SceneInfo(
        name="tiny",
        title="Tiny",
        cube=RemoteFile("Tiny.mat", f"{UNREACHABLE}/up/Tiny.mat", "tiny"),
        labels=RemoteFile("Tiny_gt.mat", f"{UNREACHABLE}/up/Tiny_gt.mat", "tiny_gt"),
        shape=(6, 5, 4),
        n_labeled=10,
        class_ids=(1, 2, 3),
        class_names=("one", "two", "three"),
        class_counts=(5, 2, 3),
        sensor="synthetic",
        wavelength_nm=(400, 1000),
        gsd_m=1.0,
        bands_note="four bands",
    )
    return replace(info, **changes)


@pytest.fixture
def tiny(server):
    """A tiny scene served by the local server; returns (info, cube bytes, labels bytes)."""
    cube, labels = _tiny_arrays()
    cube_bytes = _mat_bytes(tiny=cube)
    labels_bytes = _mat_bytes(tiny_gt=labels)
    server.serve("Tiny.mat", cube_bytes)
    server.serve("Tiny_gt.mat", labels_bytes)
    return _tiny_info(), cube_bytes, labels_bytes


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- data dir --


def test_data_dir_argument_then_env_then_user_cache(tmp_path, monkeypatch):
    assert resolve_data_dir() == Path(pooch.os_cache("hsi"))
    monkeypatch.setenv("HSI_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert scene_dir("Indian-Pines") == tmp_path / "env" / "indian_pines"


def test_a_data_dir_that_is_a_file_is_refused(tmp_path, monkeypatch):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a folder\n")
    with pytest.raises(ConfigError, match=r"data_dir .*notes.txt is a file; expected the folder"):
        resolve_data_dir(notes)
    monkeypatch.setenv("HSI_DATA_DIR", str(notes))
    with pytest.raises(ConfigError, match=r"^HSI_DATA_DIR=.*notes.txt is a file"):
        scene_dir("indian_pines")


def test_env_data_dir_is_where_downloads_go(tmp_path, monkeypatch, server, tiny):
    info, cube_bytes, _ = tiny
    monkeypatch.setenv("HSI_DATA_DIR", str(tmp_path))
    paths = fetch_scene(info, base_url=server.url, progress=False)
    assert paths["cube"] == tmp_path / "tiny" / "Tiny.mat"
    assert paths["cube"].read_bytes() == cube_bytes


# -- downloading --


def test_download_stores_files_and_records_their_hashes(tmp_path, server, tiny):
    info, cube_bytes, labels_bytes = tiny
    paths = fetch_scene(info, tmp_path, base_url=server.url, progress=False)

    folder = tmp_path / "tiny"
    assert paths == {"cube": folder / "Tiny.mat", "labels": folder / "Tiny_gt.mat"}
    assert paths["cube"].read_bytes() == cube_bytes
    assert paths["labels"].read_bytes() == labels_bytes
    assert _files(folder) == sorted([CHECKSUMS_FILE, "Tiny.mat", "Tiny_gt.mat"])  # no leftovers
    records = json.loads((folder / CHECKSUMS_FILE).read_text())
    assert records["Tiny.mat"]["sha256"] == _sha256(cube_bytes)
    assert records["Tiny_gt.mat"]["sha256"] == _sha256(labels_bytes)
    assert records["Tiny.mat"]["source"] == f"{server.url}/Tiny.mat"
    assert sorted(server.requests) == ["Tiny.mat", "Tiny_gt.mat"]


def test_mirror_env_var_replaces_the_source(tmp_path, monkeypatch, server, tiny):
    info, cube_bytes, _ = tiny
    monkeypatch.setenv("HSI_MIRROR_URL", server.url + "/")
    paths = download_dataset(info, tmp_path, progress=False)
    assert paths["cube"].read_bytes() == cube_bytes
    assert sorted(server.requests) == ["Tiny.mat", "Tiny_gt.mat"]


def test_cached_files_are_used_without_the_network(tmp_path, server, tiny):
    info, _, _ = tiny
    fetch_scene(info, tmp_path, base_url=server.url, progress=False)
    server.requests.clear()

    again = fetch_scene(info, tmp_path, base_url=UNREACHABLE, progress=False)
    assert again["cube"].is_file()
    again = fetch_scene(info, tmp_path, base_url=server.url, download=False)
    assert server.requests == []


def test_files_placed_by_hand_are_used_and_recorded_on_first_use(tmp_path):
    info = get_scene_info("salinas_a")  # no published checksum
    folder = tmp_path / "salinas_a"
    folder.mkdir()
    (folder / "SalinasA_corrected.mat").write_bytes(b"cube by hand")
    (folder / "SalinasA_gt.mat").write_bytes(b"labels by hand")

    paths = fetch_scene("salinas_a", tmp_path, base_url=UNREACHABLE, download=True)
    assert paths["cube"] == folder / info.cube.filename
    records = json.loads((folder / CHECKSUMS_FILE).read_text())
    assert records["SalinasA_corrected.mat"]["sha256"] == _sha256(b"cube by hand")
    assert "by hand" in records["SalinasA_corrected.mat"]["source"]

    (folder / "SalinasA_gt.mat").write_bytes(b"swapped")
    with pytest.raises(ChecksumError, match="SalinasA_gt.mat"):
        fetch_scene("salinas_a", tmp_path, download=False)


def test_a_read_only_folder_does_not_block_files_placed_by_hand(tmp_path, monkeypatch):
    folder = tmp_path / "ksc"
    folder.mkdir()
    (folder / "KSC.mat").write_bytes(b"cube")
    (folder / "KSC_gt.mat").write_bytes(b"labels")

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fetch, "_record", read_only)
    paths = fetch_scene("ksc", tmp_path, download=False)
    assert paths["labels"] == folder / "KSC_gt.mat"
    assert not (folder / CHECKSUMS_FILE).exists()


def test_published_checksum_mismatch_on_download_keeps_nothing(tmp_path, server, tiny):
    info, cube_bytes, _ = tiny
    wrong = "0" * 64
    info = replace(info, cube=replace(info.cube, checksum=f"sha256:{wrong}"))
    with pytest.raises(ChecksumError) as err:
        fetch_scene(info, tmp_path, base_url=server.url, progress=False)
    message = str(err.value)
    assert "Tiny.mat" in message and wrong in message and _sha256(cube_bytes) in message
    assert "\n" not in message
    assert _files(tmp_path / "tiny") == []

    # The right checksum downloads and verifies; md5 is accepted as well.
    md5 = hashlib.md5(cube_bytes).hexdigest()
    info = replace(info, cube=replace(info.cube, checksum=f"md5:{md5}"))
    paths = fetch_scene(info, tmp_path, base_url=server.url, progress=False)
    assert paths["cube"].read_bytes() == cube_bytes
    records = json.loads((tmp_path / "tiny" / CHECKSUMS_FILE).read_text())
    assert "Tiny.mat" not in records  # the published checksum is the reference, not a record


def test_registry_checksum_refuses_a_substitute_from_a_mirror(tmp_path, server):
    info = get_scene_info("indian_pines")
    server.serve(info.cube.filename, b"not the Indian Pines cube")
    server.serve(info.labels.filename, b"not the ground truth")
    with pytest.raises(ChecksumError, match="Indian_pines_corrected.mat"):
        fetch_scene("indian_pines", tmp_path, base_url=server.url, progress=False)
    assert _files(tmp_path / "indian_pines") == []


def test_published_checksum_mismatch_of_a_cached_file(tmp_path):
    info = get_scene_info("indian_pines")
    folder = tmp_path / "indian_pines"
    folder.mkdir()
    (folder / info.cube.filename).write_bytes(b"corrupted")
    (folder / info.labels.filename).write_bytes(b"corrupted too")
    with pytest.raises(ChecksumError) as err:
        fetch_scene("indian_pines", tmp_path, download=False)
    message = str(err.value)
    assert str(folder / info.cube.filename) in message
    assert info.cube.digest in message and _sha256(b"corrupted") in message
    assert "delete it" in message
    assert (folder / info.cube.filename).exists()  # reported, not silently removed


def test_recorded_hash_catches_a_file_corrupted_after_download(tmp_path, server, tiny):
    info, cube_bytes, _ = tiny
    paths = fetch_scene(info, tmp_path, base_url=server.url, progress=False)
    paths["cube"].write_bytes(cube_bytes[:-10] + b"0123456789")

    with pytest.raises(ChecksumError) as err:
        fetch_scene(info, tmp_path, base_url=server.url, progress=False)
    message = str(err.value)
    assert str(paths["cube"]) in message and _sha256(cube_bytes) in message
    assert CHECKSUMS_FILE in message and "delete it" in message

    # Following the advice repairs it.
    paths["cube"].unlink()
    paths = fetch_scene(info, tmp_path, base_url=server.url, progress=False)
    assert paths["cube"].read_bytes() == cube_bytes


@pytest.mark.parametrize("status", [404, 500])
def test_server_error_is_a_download_error_and_leaves_nothing(tmp_path, server, tiny, status):
    info, _, _ = tiny
    server.serve("Tiny.mat", b"", status=status)
    with pytest.raises(DownloadError) as err:
        fetch_scene(info, tmp_path, base_url=server.url, progress=False)
    assert not isinstance(err.value, ChecksumError)
    message = str(err.value)
    assert f"HTTP {status}" in message
    assert f"{server.url}/Tiny.mat" in message  # where it failed
    assert info.cube.url in message and info.labels.url in message  # where to get them by hand
    assert str(tmp_path / "tiny") in message and "\n" not in message
    assert not (tmp_path / "tiny").exists()  # not even an empty folder


def test_download_lands_under_a_hidden_name_then_is_renamed(tmp_path, server, tiny, monkeypatch):
    info, _, _ = tiny
    real_replace = fetch.os.replace
    moves = []

    def spy(src, dst):
        moves.append((Path(src).name, Path(dst).name, Path(dst).exists()))
        real_replace(src, dst)

    monkeypatch.setattr(fetch.os, "replace", spy)
    fetch_scene(info, tmp_path, base_url=server.url, progress=False)
    downloads = [(src, dst, existed) for src, dst, existed in moves if dst.startswith("Tiny")]
    assert [dst for _, dst, _ in downloads] == ["Tiny.mat", "Tiny_gt.mat"]
    for src, dst, existed in downloads:
        assert src.startswith(f".{dst}.") and src.endswith(".part")
        assert not existed  # nothing sat under the final name while the bytes were arriving


def test_interrupted_transfer_leaves_no_partial_file(tmp_path, server, tiny):
    info, cube_bytes, _ = tiny
    server.serve("Tiny.mat", cube_bytes, mode="truncate")
    with pytest.raises(DownloadError, match="cut off"):
        fetch_scene(info, tmp_path, base_url=server.url, progress=False)
    assert _files(tmp_path / "tiny") == []


def test_interrupted_second_file_keeps_the_verified_first(tmp_path, server, tiny):
    info, cube_bytes, labels_bytes = tiny
    server.serve("Tiny_gt.mat", labels_bytes, mode="truncate")
    with pytest.raises(DownloadError) as err:
        fetch_scene(info, tmp_path, base_url=server.url, progress=False)
    assert "Tiny_gt.mat" in str(err.value)
    assert _files(tmp_path / "tiny") == sorted([CHECKSUMS_FILE, "Tiny.mat"])

    server.serve("Tiny_gt.mat", labels_bytes)
    server.requests.clear()
    fetch_scene(info, tmp_path, base_url=server.url, progress=False)
    assert server.requests == ["Tiny_gt.mat"]


def _in_thread(call, *args, **kwargs) -> tuple[threading.Thread, dict]:
    """Run ``call`` in a thread (another hsi process on the same cache); its result or error."""
    out: dict = {}

    def target() -> None:
        try:
            out["result"] = call(*args, **kwargs)
        except Exception as exc:
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def _join(*threads: threading.Thread) -> None:
    for thread in threads:
        thread.join(20)
        assert not thread.is_alive(), "a download never returned"


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _second_waits(info: SceneInfo, cache: Path, server: _Server, caplog) -> list:
    """Start a download in a thread, then a second once the first holds the server's gate; return
    both (thread, outcome) pairs once the second waits (or, without a lock, starts its own)."""
    caplog.set_level("INFO", logger="hsi.data.fetch")
    started = [_in_thread(fetch_scene, info, cache, base_url=server.url, progress=False)]
    _wait_for(lambda: "Tiny.mat" in server.requests, "the first download to start")
    started.append(_in_thread(fetch_scene, info, cache, base_url=server.url, progress=False))
    _wait_for(
        lambda: "waiting for another process" in caplog.text or len(server.requests) > 1,
        "the second to wait or to start its own download",
    )
    return started


@pytest.mark.skipif(sys.platform == "win32", reason="download locks use flock")
def test_two_processes_downloading_one_scene_download_it_once(tmp_path, server, tiny, caplog):
    # Before the lock, the second removed the first one's .part file as a stale leftover and the
    # first failed ("cannot write"), or both downloaded it.
    info, cube_bytes, labels_bytes = tiny
    server.serve("Tiny.mat", cube_bytes, mode="gate")
    cache = tmp_path / "cache"
    (first, first_out), (second, second_out) = _second_waits(info, cache, server, caplog)
    assert server.requests == ["Tiny.mat"]  # the second has not started its own
    server.gate.set()
    _join(first, second)

    assert "error" not in first_out and "error" not in second_out, (first_out, second_out)
    assert first_out["result"] == second_out["result"]
    assert first_out["result"]["cube"].read_bytes() == cube_bytes
    assert server.requests.count("Tiny.mat") == 1 and server.requests.count("Tiny_gt.mat") == 1
    # no lock or .part file left behind
    assert _files(cache / "tiny") == sorted([CHECKSUMS_FILE, "Tiny.mat", "Tiny_gt.mat"])


@pytest.mark.skipif(sys.platform == "win32", reason="download locks use flock")
def test_a_failed_download_does_not_pull_the_folder_from_under_a_waiting_one(
    tmp_path, server, tiny, caplog
):
    # The first download fails and removes the scene folder it made, lock file included; the
    # process waiting for that lock must make the folder again and download into it.
    info, cube_bytes, _ = tiny
    server.serve("Tiny.mat", cube_bytes, mode="gate+truncate")
    cache = tmp_path / "cache"
    (first, first_out), (second, second_out) = _second_waits(info, cache, server, caplog)
    server.serve("Tiny.mat", cube_bytes)  # the first request keeps its truncated route
    server.gate.set()
    _join(first, second)

    assert isinstance(first_out.get("error"), DownloadError), first_out
    assert "error" not in second_out, second_out
    assert second_out["result"]["cube"].read_bytes() == cube_bytes
    assert _files(cache / "tiny") == sorted([CHECKSUMS_FILE, "Tiny.mat", "Tiny_gt.mat"])


@pytest.mark.skipif(sys.platform == "win32", reason="download locks use flock")
def test_a_waiter_woken_by_a_failure_makes_the_folder_again_as_its_own(
    tmp_path, server, tiny, caplog, monkeypatch
):
    # Were the lock released before the failed download removed its folder, the waiter would
    # find the folder still there, use it as someone else's, and leave it behind when it failed
    # too. A slow removal opens that window wide; the second transfer lasts until it is done.
    info, cube_bytes, _ = tiny
    server.serve("Tiny.mat", cube_bytes, mode="gate+truncate")
    real_remove_empty = fetch.remove_empty
    second_gate = threading.Event()

    def slow_remove_empty(created):
        time.sleep(0.3)
        real_remove_empty(created)
        second_gate.set()

    monkeypatch.setattr(fetch, "remove_empty", slow_remove_empty)
    cache = tmp_path / "cache"
    (first, first_out), (second, second_out) = _second_waits(info, cache, server, caplog)
    first_gate, server.gate = server.gate, second_gate
    first_gate.set()
    _join(first, second)
    assert isinstance(first_out.get("error"), DownloadError), first_out
    assert isinstance(second_out.get("error"), DownloadError), second_out
    assert not cache.exists()


# Another hsi process: the lock must hold across processes, not only between threads.
_FETCH_PROCESS = """
import logging, pickle, sys
from hsi.data.fetch import fetch_scene
from hsi.errors import DownloadError
logging.basicConfig(level=logging.INFO, format="%(message)s")
info = pickle.loads(bytes.fromhex(sys.argv[1]))
try:
    fetch_scene(info, sys.argv[2], base_url=sys.argv[3], progress=False)
except DownloadError as exc:
    sys.exit(f"error: {exc}")
"""


class _FetchProcess:
    def __init__(self, info: SceneInfo, cache: Path, url: str) -> None:
        args = [sys.executable, "-c", _FETCH_PROCESS, pickle.dumps(info).hex(), str(cache), url]
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait(self) -> int:
        code = self.proc.wait(60)
        self.reader.join(10)
        return code


@pytest.mark.skipif(sys.platform == "win32", reason="download locks use flock")
def test_two_processes_failing_in_turn_leave_the_cache_as_they_found_it(tmp_path, server, tiny):
    info, cube_bytes, _ = tiny
    server.serve("Tiny.mat", cube_bytes, mode="gate+truncate")
    cache = tmp_path / "cache"
    first = _FetchProcess(info, cache, server.url)
    _wait_for(lambda: "Tiny.mat" in server.requests, "the first download to start")
    second = _FetchProcess(info, cache, server.url)
    _wait_for(
        lambda: "waiting for another process" in second.text or len(server.requests) > 1,
        "the second to wait or to start its own download",
    )
    server.gate.set()
    assert (first.wait(), second.wait()) == (1, 1), (first.text, second.text)
    assert server.requests == ["Tiny.mat", "Tiny.mat"]  # one after the other
    for process in (first, second):
        assert "error: could not download Tiny.mat" in process.text
        assert "Traceback" not in process.text
    assert not cache.exists()  # neither the scene's folder nor the cache folder


def test_a_lock_file_of_another_user_is_locked_read_only(tmp_path, server, tiny, monkeypatch):
    # A shared cache: the lock file left by another user's run may be opened, not written.
    info, cube_bytes, _ = tiny
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / ".Tiny.mat.lock").touch()
    real_open = fetch.os.open

    def open_as_another_user(path, flags, *args):
        if Path(path).name == ".Tiny.mat.lock" and Path(path).exists() and flags & os.O_RDWR:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(fetch.os, "open", open_as_another_user)
    paths = fetch_scene(info, tmp_path, base_url=server.url, progress=False)
    assert paths["cube"].read_bytes() == cube_bytes


def test_without_flock_downloads_make_no_lock_file(tmp_path, server, tiny, monkeypatch):
    # Windows has no flock, and a lock file could not be removed there while open
    info, cube_bytes, _ = tiny
    monkeypatch.setattr(fetch, "_flock_module", lambda: None)
    server.serve("Tiny.mat", cube_bytes, mode="truncate")
    with pytest.raises(DownloadError):
        fetch_scene(info, tmp_path / "cache", base_url=server.url, progress=False)
    assert not (tmp_path / "cache").exists()

    server.serve("Tiny.mat", cube_bytes)
    paths = fetch_scene(info, tmp_path / "cache", base_url=server.url, progress=False)
    assert _files(paths["cube"].parent) == sorted([CHECKSUMS_FILE, "Tiny.mat", "Tiny_gt.mat"])


def test_a_file_system_without_locks_downloads_unlocked(tmp_path, server, tiny, monkeypatch):
    # some NFS mounts refuse flock (ENOLCK): download as before the lock, not a traceback
    import errno
    import fcntl

    class NoLocks:
        LOCK_EX, LOCK_NB = fcntl.LOCK_EX, fcntl.LOCK_NB

        @staticmethod
        def flock(fd, op):
            raise OSError(errno.ENOLCK, "No locks available")

    info, cube_bytes, _ = tiny
    monkeypatch.setattr(fetch, "_flock_module", lambda: NoLocks)
    paths = fetch_scene(info, tmp_path, base_url=server.url, progress=False)
    assert paths["cube"].read_bytes() == cube_bytes
    assert _files(paths["cube"].parent) == sorted([CHECKSUMS_FILE, "Tiny.mat", "Tiny_gt.mat"])


def test_a_scene_folder_in_the_way_is_named(tmp_path, server, tiny):
    info, _, _ = tiny
    (tmp_path / "tiny").write_text("not a folder")
    with pytest.raises(DownloadError) as err:
        fetch_scene(info, tmp_path, base_url=server.url, progress=False)
    assert f"{tmp_path / 'tiny'} is a file; expected a folder" in str(err.value)

    (tmp_path / "tiny").unlink()
    (tmp_path / "tiny").symlink_to(tmp_path / "nowhere")
    with pytest.raises(DownloadError) as err:
        fetch_scene(info, tmp_path, base_url=server.url, progress=False)
    message = str(err.value)
    link, target = tmp_path / "tiny", tmp_path / "nowhere"
    assert f"{link} is a link to {target}, which does not exist" in message
    assert "\n" not in message and server.requests == []


def test_unreachable_server_says_where_to_put_files(tmp_path, tiny):
    info, _, _ = tiny
    with pytest.raises(DownloadError, match="cannot connect") as err:
        fetch_scene(info, tmp_path / "cache", base_url=UNREACHABLE, progress=False)
    assert "Tiny.mat" in str(err.value) and str(tmp_path / "cache" / "tiny") in str(err.value)
    # the cache is as it was: neither the scene's folder nor the cache folder made for it
    assert list(tmp_path.iterdir()) == []


def test_stale_partial_files_are_cleared(tmp_path, server, tiny):
    info, _, _ = tiny
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / ".Tiny.mat.x1y2.part").write_bytes(b"from a killed run")
    fetch_scene(info, tmp_path, base_url=server.url, progress=False)
    assert _files(folder) == sorted([CHECKSUMS_FILE, "Tiny.mat", "Tiny_gt.mat"])


def test_missing_scene_without_download_names_files_folder_and_urls(tmp_path):
    info = get_scene_info("indian_pines")
    with pytest.raises(DownloadError) as err:
        fetch_scene("indian_pines", tmp_path, download=False)
    message = str(err.value)
    assert str(tmp_path / "indian_pines") in message
    for remote in info.files.values():
        assert remote.filename in message and remote.url in message
    assert "hsi datasets download indian_pines" in message
    assert "\n" not in message


def test_unreadable_checksum_record_is_reported(tmp_path, server, tiny):
    info, _, _ = tiny
    fetch_scene(info, tmp_path, base_url=server.url, progress=False)
    (tmp_path / "tiny" / CHECKSUMS_FILE).write_text("{not json")
    with pytest.raises(ChecksumError, match=CHECKSUMS_FILE):
        fetch_scene(info, tmp_path, download=False)


# -- progress --


def test_progress_bar_while_downloading(tmp_path, server, tiny, capsys):
    info, cube_bytes, _ = tiny
    paths = fetch_scene(info, tmp_path, base_url=server.url, progress=True)
    assert paths["cube"].read_bytes() == cube_bytes
    assert "Tiny.mat" in capsys.readouterr().err


def test_progress_is_off_when_not_on_a_terminal(tmp_path, server, tiny, capsys):
    info, _, _ = tiny
    fetch_scene(info, tmp_path, base_url=server.url)  # progress=None; pytest's stderr is no tty
    assert capsys.readouterr().err == ""


def test_progress_object_speaks_poochs_protocol():
    bar = DownloadBar("file.mat")
    bar.total = 100
    bar.update(60)
    bar.update(60)
    bar.reset()
    bar.update(100)
    assert bar.total == 100
    bar.close()
    bar.close()


# -- loading and listing --


def test_load_dataset_returns_a_scene_with_registry_names(tmp_path, server, tiny):
    info, _, _ = tiny
    scene = load_dataset(info, tmp_path, base_url=server.url, progress=False)
    cube, labels = _tiny_arrays()
    assert scene.name == "tiny"
    assert scene.shape == (6, 5, 4)
    assert np.array_equal(scene.labels, labels)
    assert np.array_equal(np.asarray(scene.cube), cube)
    assert list(scene.class_ids) == [1, 2, 3]
    assert list(scene.class_names) == ["one", "two", "three"]
    assert np.array_equal(scene.palette, info.palette)
    assert scene.meta["dataset"] == "tiny" and scene.meta["sensor"] == "synthetic"


def test_load_dataset_keeps_registry_colours_for_a_subset_of_classes(tmp_path, server):
    info = _tiny_info()
    cube, labels = _tiny_arrays()
    labels[labels == 2] = 0
    server.serve("Tiny.mat", _mat_bytes(tiny=cube))
    server.serve("Tiny_gt.mat", _mat_bytes(tiny_gt=labels))
    scene = load_dataset(info, tmp_path, base_url=server.url, progress=False)
    assert list(scene.class_ids) == [1, 3]
    assert list(scene.class_names) == ["one", "three"]
    assert np.array_equal(scene.palette, info.palette[[0, 2]])


def test_load_dataset_refuses_a_cube_of_the_wrong_shape(tmp_path, server):
    info = _tiny_info(shape=(6, 5, 9))
    cube, labels = _tiny_arrays()
    server.serve("Tiny.mat", _mat_bytes(tiny=cube))
    server.serve("Tiny_gt.mat", _mat_bytes(tiny_gt=labels))
    with pytest.raises(DataError, match="6×5×4 but Tiny is 6×5×9"):
        load_dataset(info, tmp_path, base_url=server.url, progress=False)


def test_load_dataset_of_a_registry_scene_from_a_mirror(tmp_path, server):
    info = get_scene_info("salinas_a")  # no published checksum, so synthetic bytes may stand in
    h, w, b = info.shape
    rng = np.random.default_rng(1)
    cube = rng.integers(0, 4000, size=(h, w, b), dtype=np.int16)
    labels = np.zeros((h, w), dtype=np.uint8)
    for row, class_id in enumerate(info.class_ids):
        labels[row * 10 : row * 10 + 5, :] = class_id
    server.serve(info.cube.filename, _mat_bytes(salinasA_corrected=cube))
    server.serve(info.labels.filename, _mat_bytes(salinasA_gt=labels))

    scene = load_dataset("salinas_a", tmp_path, base_url=server.url, progress=False)
    assert scene.shape == info.shape
    assert tuple(scene.class_ids.tolist()) == info.class_ids
    assert list(scene.class_names) == list(info.class_names)
    assert np.array_equal(scene.palette, info.palette)


def test_dataset_status_lists_every_scene(tmp_path, server, tiny):
    rows = dataset_status(tmp_path)
    assert [r["name"] for r in rows] == list_scenes()
    for row in rows:
        info = get_scene_info(row["name"])
        assert row["title"] == info.title
        assert row["shape"] == info.shape and row["size"] == info.shape_text
        assert row["classes"] == info.n_classes and row["labeled"] == info.n_labeled
        assert row["cached"] is False
        assert row["where"] == str(tmp_path / row["name"])
        assert row["missing"] == [info.cube.filename, info.labels.filename]

    folder = tmp_path / "ksc"
    folder.mkdir()
    (folder / "KSC.mat").write_bytes(b"x")
    (folder / "KSC_gt.mat").write_bytes(b"y")
    ksc = {r["name"]: r for r in dataset_status(tmp_path)}["ksc"]
    assert ksc["cached"] is True and ksc["missing"] == []
