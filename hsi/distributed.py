"""Data-parallel training under ``torchrun``: one process per CPU group or GPU, one run folder.

``torchrun --nproc-per-node N -m hsi train …`` starts N copies of ``hsi train`` with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address in their environment. Each copy joins
one process group (gloo on CPU, NCCL on CUDA), trains the same seeded model on its own share of
every epoch's windows (:class:`torch.utils.data.DistributedSampler`, seeded by ``--seed``) with
gradients averaged by :class:`~torch.nn.parallel.DistributedDataParallel`, and rank 0 alone maps
the scene, scores it, writes the run folder and prints. Without ``torchrun`` nothing here does
anything: a world of one.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world_size() -> int:
    """Processes training together: the joined process group's size, else 1.

    Only :func:`setup` (``train_run``) joins torchrun's group: a model trained any other way
    in a torchrun process (the estimator, a direct ``fit``) trains alone.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def rank() -> int:
    """This process's place in the run (0 writes the outputs)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def launched() -> int:
    """The processes torchrun started (its ``WORLD_SIZE``), 1 without torchrun."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return rank() == 0


def setup(device: torch.device) -> bool:
    """Join torchrun's process group when there is one to join; True when this call made it.

    On CUDA each process takes the GPU of its ``LOCAL_RANK``.
    """
    if launched() <= 1 or not dist.is_available() or dist.is_initialized():
        return False
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return True


def local_device(device: torch.device) -> torch.device:
    """The device this process trains on: its own GPU under torchrun, else ``device``."""
    if device.type == "cuda" and launched() > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def sum_over_ranks(*values: float) -> list[float]:
    """Each value summed over every process (float64, so counts stay exact)."""
    if world_size() <= 1 or not dist.is_initialized():
        return list(values)
    backend_device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor(values, dtype=torch.float64, device=backend_device)
    dist.all_reduce(t)
    return t.tolist()


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
