"""The local backend: a sweep's runs in this process, or in a pool of fresh processes."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from hsi.config import TrainConfig
from hsi.sweep.folder import _read_metrics

# a run's notes (the split's, the fit's): in its metrics.json, and here at DEBUG only, so that a
# sweep's output stays one line per run
run_logger = logging.getLogger("hsi.sweep.run")


def default_threads(jobs: int) -> int:
    """PyTorch threads per parallel run: the usable cores shared out evenly."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, jobs))


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def run_serial(
    config: TrainConfig,
    prepared: Any,
    todo: list[tuple],
    jobs: int,
    finished: Callable[[float | int, int, dict[str, Any]], None],
) -> None:
    """Train each ``(train_size, seed, folder)`` of ``todo`` here, one after the other."""
    from hsi.experiment import train_run

    for ts, seed, path in todo:
        run_config = dataclasses.replace(config, seed=seed, train_size=ts)
        result = train_run(run_config, prepared, run_dir=path, progress=False, log=run_logger.debug)
        if result.interrupted:
            raise KeyboardInterrupt
        finished(ts, seed, result.metrics)


def run_parallel(
    config: TrainConfig,
    prepared: Any,
    todo: list[tuple],
    jobs: int,
    finished: Callable[[float | int, int, dict[str, Any]], None],
) -> None:
    """Train ``todo`` in ``jobs`` fresh processes, each given ``cores // jobs`` threads."""
    import multiprocessing

    # "spawn": forking a process whose OpenMP/BLAS threads already ran (the PCA above) can
    # deadlock the child; a fresh interpreter cannot.
    context = multiprocessing.get_context("spawn")
    threads = default_threads(jobs)
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(todo)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(prepared, threads),
    )
    pending: dict[Future, tuple] = {}
    try:
        for ts, seed, path in todo:
            run_config = dataclasses.replace(config, seed=seed, train_size=ts)
            future = pool.submit(_worker_run, run_config, str(path))
            pending[future] = (ts, seed, path)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                ts, seed, path = pending.pop(future)
                interrupted = future.result()  # re-raises a worker's error here
                if interrupted:
                    raise KeyboardInterrupt
                finished(ts, seed, _read_metrics(path) or {})
    except KeyboardInterrupt:
        # Stop now: a run cut short is trained again on resume anyway (train_run only renames
        # a complete folder into place), and finished runs stay on disk.
        for future in pending:
            future.cancel()
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    except BaseException:
        # One run failed: start no other, but let the running ones finish and be kept.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


_WORKER: dict[str, Any] = {}


def _init_worker(prepared: Any, threads: int) -> None:
    import signal

    import torch

    # Ctrl-C reaches the whole process group; the parent alone handles it (see _run_parallel),
    # so an idle worker does not die with a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    _WORKER["prepared"] = prepared


def _worker_run(config: TrainConfig, run_dir: str) -> bool:
    from hsi.experiment import train_run

    result = train_run(
        config, _WORKER["prepared"], run_dir=run_dir, progress=False, log=run_logger.debug
    )
    return result.interrupted
