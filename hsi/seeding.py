"""One place for randomness: seed everything, and make PyTorch deterministic.

Same seed, same machine, same library versions, same PyTorch thread count ⇒ bit-identical weights
and maps. What is covered: Python's ``random``, NumPy's global state (for third-party code; this
project's own code takes explicit generators), PyTorch on CPU and CUDA, DataLoader shuffling (an
explicit generator) and workers (each seeded from it), and deterministic kernels.

The thread count matters on the CPU: some kernels split a reduction over threads (HybridSN's
first 3-D convolution's weight gradient, for one), so 1 and 2 threads give weights that differ in
the last bits, and training amplifies that. docs/reproducibility.md says where the guarantee stops.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from hsi.errors import ConfigError

# Python's random takes any integer, NumPy's Generator any non-negative one, torch's manual_seed
# at most 2**64 - 1: 0 .. 2**63 - 1 fits all three and every signed 64-bit store (JSON readers).
MAX_SEED = 2**63 - 1


def check_seed(seed: object, option: str = "seed") -> int:
    """``seed`` as an int in 0 .. :data:`MAX_SEED`, or a ConfigError naming ``option``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"{option} must be an integer, got {seed!r}", params=(option,))
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(
            f"{option} must be between 0 and 2**63 - 1 ({MAX_SEED}), got {seed}", params=(option,)
        )
    return int(seed)


def seed_everything(seed: int, *, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and PyTorch; return a torch Generator for DataLoader shuffling.

    ``deterministic=True`` turns on ``torch.use_deterministic_algorithms`` (an op with no
    deterministic implementation then raises instead of silently varying), switches off cuDNN's
    benchmark autotuner, and sets the cuBLAS workspace that deterministic CUDA matmuls need.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds every CUDA device too
    set_deterministic(deterministic)
    return make_generator(seed)


def set_deterministic(enabled: bool) -> None:
    if enabled:
        # must be set before the first cuBLAS call; harmless on CPU
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.benchmark = not enabled
    torch.backends.cudnn.deterministic = enabled


def make_generator(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: NumPy and ``random`` seeds from the worker's torch seed.

    PyTorch seeds each worker's torch RNG from the loader's generator; NumPy and ``random`` would
    otherwise start from the same state in every worker.
    """
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


@contextmanager
def run_settings(threads: int | None = None, deterministic: bool | None = None) -> Iterator[None]:
    """Run the block with ``threads`` PyTorch threads and deterministic mode on or off (None:
    as they are), and give the caller back its own settings when the block ends, also on errors.

    Both are part of a run's recipe but process-wide: a script or notebook that trains with
    ``threads=1`` should not stay single-threaded afterwards, nor find its own later CUDA code
    refused for an operation without a deterministic implementation, or cuDNN's autotuner off.
    """
    before = _process_settings()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        if deterministic is not None:
            set_deterministic(deterministic)
        yield
    finally:
        _restore_settings(before)


def _process_settings() -> dict[str, object]:
    return {
        "threads": torch.get_num_threads(),
        "algorithms": torch.are_deterministic_algorithms_enabled(),
        "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cublas": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


def _restore_settings(settings: dict[str, object]) -> None:
    torch.set_num_threads(settings["threads"])
    torch.use_deterministic_algorithms(settings["algorithms"], warn_only=settings["warn_only"])
    torch.backends.cudnn.benchmark = settings["cudnn_benchmark"]
    torch.backends.cudnn.deterministic = settings["cudnn_deterministic"]
    if settings["cublas"] is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    else:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = settings["cublas"]


def reproducibility_state() -> dict[str, object]:
    """What, beyond the seed, a bit-identical rerun needs: record it next to the results."""
    return {
        "torch_threads": torch.get_num_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


def usable_cores() -> int:
    """The CPUs this process may run on (a container's or taskset's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1
