"""Scenes shared by the benchmarks: the semi-synthetic Indian Pines and two real cubes.

- ``semi_synthetic_indian_pines()``: the real 145×145 Indian Pines ground-truth layout (16
  classes, 10,249 labeled pixels) from ../shared/data, painted with synthetic 200-band spectra.
  Without ../shared/data, a synthetic layout of the same size stands in (said on stdout).
- ``real_scene(name)``: Jasper Ridge (100×100×198) or Samson (95×95×156) from ../shared/data,
  with hard labels = the largest abundance (they are unmixing benchmarks); pixels are stored
  column-major in those files.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import numpy as np
import scipy.io

from hsi.data.scene import Scene
from hsi.data.synthetic import make_scene, paint_layout

SHARED_DATA = Path(
    os.environ.get("HSI_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)

REAL = {
    "jasper_ridge": ("jasper_ridge/jasperRidge2_R198.mat", "Y", "jasper_ridge/end4.mat", 100),
    "samson": ("samson/samson_1.mat", "V", "samson/end3.mat", 95),
}
REAL_NAMES = {
    "jasper_ridge": ["tree", "water", "dirt", "road"],
    "samson": ["rock", "tree", "water"],
}


def semi_synthetic_indian_pines(bands: int = 200, seed: int = 0) -> Scene:
    gt_file = SHARED_DATA / "indian_pines" / "Indian_pines_gt.mat"
    if gt_file.exists():
        from hsi.data.synthetic import indian_pines_like

        return indian_pines_like(SHARED_DATA, bands=bands, seed=seed)
    print(f"note: {gt_file} not found; using a synthetic 145×145 layout with 16 classes")
    layout = make_scene(145, 145, bands=3, n_classes=16, seed=seed).labels
    return paint_layout(layout, bands, seed=seed, name="indian_pines_layout_synthetic")


def real_scene(name: str) -> Scene:
    cube_file, key, abundance_file, side = REAL[name]
    y = scipy.io.loadmat(SHARED_DATA / cube_file)[key].astype(np.float32)  # bands × pixels
    a = scipy.io.loadmat(SHARED_DATA / abundance_file)["A"]  # endmembers × pixels
    cube = y.T.reshape(side, side, -1, order="F")
    labels = (a.argmax(0) + 1).reshape(side, side, order="F").astype(np.int64)
    return Scene(
        cube=cube,
        labels=labels,
        class_ids=np.unique(labels),
        class_names=REAL_NAMES[name],
        name=name,
    )


def benchmark_scene(name: str) -> Scene:
    """A benchmark scene by name: indian_pines_semisynthetic, jasper_ridge or samson."""
    if name == "indian_pines_semisynthetic":
        return semi_synthetic_indian_pines()
    if name in REAL:
        return real_scene(name)
    raise SystemExit(f"unknown scene {name!r}: indian_pines_semisynthetic, {', '.join(REAL)}")


def save_npz(scene: Scene, folder: Path) -> Path:
    """The scene as an .npz that `hsi train --scene F --labels F` reads."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{scene.name}.npz"
    np.savez(path, cube=np.asarray(scene.cube), labels=scene.labels)
    return path


BUSY_LOAD = 0.5


def machine_state(label: str = "") -> dict[str, object]:
    """CPU count and 1-minute load average now, printed; a warning when the machine is busy.

    On two cores a benchmark run beside another job is off by 2× or more: every script calls
    this before it starts and records the result with its figures.
    """
    load1, load5, _ = os.getloadavg()
    state = {"cpus": os.cpu_count(), "load1": round(load1, 2), "load5": round(load5, 2)}
    prefix = f"{label}: " if label else ""
    print(f"{prefix}{state['cpus']} CPUs, load average {load1:.2f} (1 min), {load5:.2f} (5 min)")
    if load1 > BUSY_LOAD:
        print(
            f"WARNING: the machine is busy (1-minute load {load1:.2f} > {BUSY_LOAD}): "
            "timings measured now are not comparable; run again alone"
        )
    state["busy"] = load1 > BUSY_LOAD
    return state


def peak_rss_mb(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0


def run_tasks(fn, tasks, on_result, *, workers: int = 1, deadline: float | None = None) -> int:
    """``on_result(task, fn(task))`` for each task, in ``workers`` processes when more than one.

    No task starts after ``deadline`` (a ``time.time()`` value): a long grid on a lent machine
    keeps what it finished. A task that raises gives ``{"error": ...}`` instead of stopping the
    others. Returns how many tasks were left unstarted.
    """
    tasks = list(tasks)
    started = 0

    def expired() -> bool:
        return deadline is not None and time.time() > deadline

    if workers <= 1:
        for task in tasks:
            if expired():
                break
            started += 1
            on_result(task, _guarded(fn, task))
        return len(tasks) - started
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    context = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending = {}
        queue = iter(tasks)
        while True:
            while len(pending) < workers and not expired():
                task = next(queue, None)
                if task is None:
                    break
                started += 1
                pending[pool.submit(_guarded, fn, task)] = task
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                on_result(pending.pop(future), future.result())
    return len(tasks) - started


def _guarded(fn, task):
    try:
        return fn(task)
    except Exception as exc:  # one broken run must not cost the grid
        import traceback

        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"}
