"""The local backend: a sweep's runs in this process, or in a pool of fresh processes."""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from hsi.config import TrainConfig
from hsi.seeding import usable_cores
from hsi.sweep.backend import Finished, RunSpec
from hsi.sweep.folder import _read_metrics

# a run's notes (the split's, the fit's): in its metrics.json, and here at DEBUG only, so that a
# sweep's output stays one line per run
run_logger = logging.getLogger("hsi.sweep.run")


def default_threads(jobs: int) -> int:
    """PyTorch threads per parallel run: the usable cores shared out evenly."""
    return max(1, usable_cores() // max(1, jobs))


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


class LocalBackend:
    """``jobs=1``: each run in this process, one after the other, so each is bit-identical to
    ``train_run`` here. ``jobs>1``: that many fresh processes with ``cores // jobs`` threads each
    (``--threads`` when given)."""

    name = "local"

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = jobs

    def threads(self, config: TrainConfig) -> int | None:
        if config.threads is not None:
            return config.threads
        return default_threads(self.jobs) if self.jobs > 1 else None

    def run(
        self,
        specs: Sequence[RunSpec],
        scenes: Mapping[Hashable, Any],
        finished: Finished,
    ) -> None:
        if self.jobs == 1:
            run_serial(specs, scenes, finished)
        else:
            run_parallel(specs, scenes, finished, jobs=self.jobs)


def run_serial(
    specs: Sequence[RunSpec], scenes: Mapping[Hashable, Any], finished: Finished
) -> None:
    """Train each spec here, one after the other."""
    from hsi.experiment import train_run

    for spec in specs:
        result = train_run(
            spec.config, scenes[spec.scene_key], run_dir=spec.run_dir, log=run_logger.debug
        )
        if result.interrupted:
            raise KeyboardInterrupt
        finished(spec, result.metrics)


def run_parallel(
    specs: Sequence[RunSpec],
    scenes: Mapping[Hashable, Any],
    finished: Finished,
    *,
    jobs: int,
) -> None:
    """Train ``specs`` in ``jobs`` fresh processes, each given ``cores // jobs`` threads."""
    import multiprocessing

    # "spawn": forking a process whose OpenMP/BLAS threads already ran (the PCA above) can
    # deadlock the child; a fresh interpreter cannot.
    context = multiprocessing.get_context("spawn")
    threads = default_threads(jobs)
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(specs)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(dict(scenes), threads),
    )
    pending: dict[Future, RunSpec] = {}
    try:
        for spec in specs:
            future = pool.submit(_worker_run, spec.config, spec.scene_key, str(spec.run_dir))
            pending[future] = spec
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                spec = pending.pop(future)
                interrupted = future.result()  # re-raises a worker's error here
                if interrupted:
                    raise KeyboardInterrupt
                finished(spec, _read_metrics(spec.run_dir) or {})
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


def _init_worker(scenes: dict[Hashable, Any], threads: int) -> None:
    import signal

    import torch

    # Ctrl-C reaches the whole process group; the parent alone handles it (see run_parallel),
    # so an idle worker does not die with a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    _WORKER["scenes"] = scenes


def _worker_run(config: TrainConfig, key: Hashable, run_dir: str) -> bool:
    from hsi.experiment import train_run

    result = train_run(
        config, _WORKER["scenes"][key], run_dir=run_dir, progress=False, log=run_logger.debug
    )
    return result.interrupted
