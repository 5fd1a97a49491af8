"""Size and cost of a registered model: parameters, multiply-adds per patch, CPU latency."""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from hsi.errors import ModelError
from hsi.models import count_parameters, create_model

__all__ = ["model_summary"]


def model_summary(
    name: str,
    bands: int = 30,
    patch: int = 25,
    n_classes: int = 16,
    repeats: int = 3,
    batch: int = 64,
    **options: Any,
) -> dict[str, Any]:
    """Measure model ``name`` built for (bands, patch, patch) patches and ``n_classes`` classes.

    Returns a dict with ``name``, ``params`` (trainable parameters), ``macs`` (multiply-adds for
    one patch, counted by ``torch.utils.flop_counter.FlopCounterMode`` as flops / 2, so only the
    matmul and convolution work it knows about) and ``ms_per_patch`` (CPU milliseconds per patch
    in eval mode under ``torch.inference_mode``, for a batch of ``batch`` patches, median over
    ``repeats`` timed runs after one warm-up run; ``None`` when ``repeats`` is 0, which skips the
    timing).
    """
    if repeats < 0 or batch < 1:
        raise ModelError(f"repeats must be >= 0 and batch >= 1, got {repeats} and {batch}")
    model = create_model(name, bands=bands, patch=patch, n_classes=n_classes, **options)
    model.eval()
    # a fixed input: timings and counts must not depend on the global random state
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch if repeats else 1, bands, patch, patch, generator=generator)

    with torch.inference_mode():
        counter = FlopCounterMode(display=False)
        with counter:
            model(inputs[:1])
        macs = counter.get_total_flops() // 2

        times = []
        if repeats:
            model(inputs)  # warm-up: first-call allocations and kernel selection
        for _ in range(repeats):
            start = time.perf_counter()
            model(inputs)
            times.append(time.perf_counter() - start)

    return {
        "name": name,
        "params": count_parameters(model),
        "macs": int(macs),
        "ms_per_patch": 1000 * statistics.median(times) / batch if times else None,
    }
