"""Size and cost of a registered model: parameters, multiply-adds, inference and training speed."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from hsi.errors import ModelError
from hsi.models import count_parameters, create_model

__all__ = ["median_seconds", "model_summary"]


def model_summary(
    name: str,
    n_components: int = 30,
    patch: int = 25,
    n_classes: int = 16,
    repeats: int = 3,
    batch: int = 64,
    train_batch: int = 32,
    **options: Any,
) -> dict[str, Any]:
    """Measure model ``name`` for (n_components, patch, patch) patches and ``n_classes`` classes.

    Returns a dict with ``name``, ``params`` (trainable parameters), ``macs`` (multiply-adds for
    one patch, counted by ``torch.utils.flop_counter.FlopCounterMode`` as flops / 2, so only the
    matmul and convolution work it knows about), ``ms_per_patch`` (CPU milliseconds per patch
    in eval mode under ``torch.inference_mode``, for a batch of ``batch`` patches) and
    ``train_samples_per_s`` (patches per second through a training step — forward, backward
    and an Adam update — on batches of ``train_batch``). Timings are medians over ``repeats``
    timed runs after one warm-up run, ``None`` when ``repeats`` is 0. A model fitted in closed
    form (the svm) has no fixed size or speed before it is fitted: every figure is ``None``.
    """
    if repeats < 0 or batch < 1 or train_batch < 1:
        raise ModelError(
            f"repeats must be >= 0 and batch sizes >= 1, got {repeats}, {batch}, {train_batch}"
        )
    model = create_model(
        name, n_components=n_components, patch=patch, n_classes=n_classes, **options
    )
    summary: dict[str, Any] = {
        "name": name,
        "params": None,
        "macs": None,
        "ms_per_patch": None,
        "train_samples_per_s": None,
    }
    if not model.trained_by_gradient:
        return summary
    # a fixed input: timings and counts must not depend on the global random state
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(max(batch, train_batch), n_components, patch, patch, generator=generator)
    targets = torch.randint(0, n_classes, (train_batch,), generator=generator)

    model.eval()
    with torch.inference_mode():
        counter = FlopCounterMode(display=False)
        with counter:
            model(inputs[:1])
        summary["params"] = count_parameters(model)
        summary["macs"] = int(counter.get_total_flops() // 2)
        if repeats:
            seconds = median_seconds(lambda: model(inputs[:batch]), repeats)
            summary["ms_per_patch"] = 1000 * seconds / batch

    if repeats:
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(inputs[:train_batch]), targets).backward()
            optimizer.step()

        summary["train_samples_per_s"] = train_batch / median_seconds(step, repeats)
    return summary


def median_seconds(work: Callable[[], Any], repeats: int) -> float:
    """Median wall seconds of ``repeats`` calls of ``work``, after one warm-up call."""
    work()  # warm-up: first-call allocations and kernel selection
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
