"""The fit loop: Adam + cross-entropy, validation every epoch, best-on-validation weights.

The paper's reference code kept the weights with the best *training* accuracy and evaluated with
dropout still active (``model.eval()`` was never called). Here every evaluation runs under
``model.eval()`` and ``torch.inference_mode()``, and the kept weights are the best on the
validation pixels (the last epoch's when there is no validation part). Ctrl-C ends training
cleanly: the best weights so far are returned, marked ``interrupted``.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from hsi import distributed
from hsi.augment import random_views
from hsi.errors import TrainingError
from hsi.inference import predict_patches
from hsi.patches import PatchDataset
from hsi.progress import EpochBar
from hsi.seeding import make_generator, seed_worker


class _Loader(DataLoader):
    """torch's DataLoader without its warning about more processes than CPUs: the number is
    the user's choice, capped and noted once by :func:`hsi.stages.loader_processes` (which
    :func:`fit`'s own callers use; calling :func:`fit` directly gets no note), and the warning
    (printed twice, with a source line) ignored ``--quiet``."""

    def check_worker_number_rationality(self) -> None:
        pass


@dataclass
class FitResult:
    history: list[dict[str, Any]]
    best_epoch: int
    best_state: dict[str, torch.Tensor]
    best_val_acc: float | None
    stopped_early: bool = False
    interrupted: bool = False
    train_time_s: float = 0.0
    # the weights after the last epoch run: what keeping the last epoch instead would give
    last_state: dict[str, torch.Tensor] | None = None
    samples_per_s: float = 0.0
    notes: list[str] = field(default_factory=list)


def fit(
    model: nn.Module,
    train: PatchDataset,
    val: PatchDataset | None = None,
    *,
    epochs: int = 50,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    patience: int | None = None,
    seed: int = 0,
    workers: int = 0,
    device: torch.device | str = "cpu",
    progress: bool = False,
    augment: bool = False,
    label_smoothing: float = 0.0,
    schedule: str = "constant",
    warmup: int = 0,
) -> FitResult:
    """Train ``model`` in place; its final weights are the kept (best) ones.

    ``augment``: each training window is seen in one of its eight flips and 90° rotations,
    drawn per window and per epoch from a generator seeded by ``seed``. ``label_smoothing``:
    PyTorch's cross-entropy smoothing. ``schedule="cosine"``: the learning rate decays from
    ``lr`` to 0 over ``epochs`` along a half cosine; ``warmup`` epochs ramp it up linearly
    first (per step). Validation and the kept weights are unchanged by all four.

    A model that is not trained by gradient (``trained_by_gradient = False``, the SVM) is fitted
    once on the spectra of the training and validation pixels, its own cross-validation taking
    the validation's role; the epoch options do not apply to it.
    """
    device = torch.device(device)
    if not getattr(model, "trained_by_gradient", True):
        result = _fit_pixels(model, train, val, seed=seed)
        model.to(device)  # its fitted arrays, where the maps will send the windows
        return result
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    # under torchrun: each process its own seeded share of every epoch, gradients averaged
    ranks, rank = distributed.world_size(), distributed.rank()
    sampler = DistributedSampler(train, ranks, rank, shuffle=True, seed=seed) if ranks > 1 else None
    net = nn.parallel.DistributedDataParallel(model) if ranks > 1 else model
    loader = _Loader(
        train,
        batch_size=batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        generator=make_generator(seed) if sampler is None else None,
        num_workers=workers,
        worker_init_fn=seed_worker if workers else None,
        persistent_workers=workers > 0,
    )
    steps = epochs * len(loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, steps, warmup * len(loader), schedule)
    )
    views = make_generator(seed + 1 + rank) if augment else None  # its own stream
    history: list[dict[str, Any]] = []
    best_state, best_epoch, best_val, since_best = None, 0, -math.inf, 0
    stopped_early = interrupted = False
    seen, t0 = 0, time.perf_counter()
    bar = EpochBar(epochs, len(loader), enabled=progress and rank == 0)
    try:
        with bar:
            for epoch in range(1, epochs + 1):
                if sampler is not None:
                    sampler.set_epoch(epoch)
                total_loss, correct, count = _train_epoch(
                    net, loader, optimizer, scheduler, loss_fn, views, device, bar,
                    check_loss=ranks == 1, epoch=epoch, lr=lr,
                )  # fmt: skip
                total_loss, correct, count = distributed.sum_over_ranks(total_loss, correct, count)
                seen += count
                if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
                    raise TrainingError(
                        _diverged(epoch, "a weight is NaN or Inf", lr), params=("lr",)
                    )
                row = {
                    "epoch": epoch,
                    "train_loss": total_loss / count,
                    "train_acc": correct / count,
                    "lr": optimizer.param_groups[0]["lr"],  # after the epoch's last step
                }
                row.update(_validation(model, val, batch_size, device))
                history.append(row)
                score = row["val_acc"] if row["val_acc"] is not None else epoch  # last epoch wins
                if score > best_val:
                    best_val, best_epoch, since_best = score, epoch, 0
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    since_best += 1
                bar.epoch_done(epoch, row)
                if patience is not None and since_best >= patience:
                    stopped_early = True
                    break
    except KeyboardInterrupt:
        interrupted = True
    elapsed = time.perf_counter() - t0
    if best_state is None:
        # still a Ctrl-C (exit code 130 on the command line), saying what it cost
        raise KeyboardInterrupt("training stopped before the first epoch ended; nothing was saved")
    last_epoch = history[-1]["epoch"] if history else 0
    last_state = best_state if best_epoch == last_epoch else copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()
    return FitResult(
        history=history,
        best_epoch=best_epoch,
        best_state=best_state,
        best_val_acc=None if history[-1]["val_acc"] is None else float(best_val),
        stopped_early=stopped_early,
        interrupted=interrupted,
        train_time_s=elapsed,
        last_state=last_state,
        samples_per_s=seen / elapsed if elapsed > 0 else 0.0,
    )


def _train_epoch(
    net, loader, optimizer, scheduler, loss_fn, views, device, bar, *, check_loss, epoch, lr
) -> tuple[float, int, int]:
    """One pass over the training windows; the summed loss, the correct and the seen count."""
    net.train()
    total_loss, correct, count = 0.0, 0, 0
    for x, y in loader:
        if views is not None:
            x = random_views(x, views)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        logits = net(x)
        loss = loss_fn(logits, y)
        # before the step spreads it into the weights; under torchrun every rank must stop
        # alike, which the weights check after the epoch does instead
        if check_loss and not torch.isfinite(loss):
            raise TrainingError(_diverged(epoch, f"the loss is {loss.item()}", lr), params=("lr",))
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += float(loss.detach()) * len(y)
        correct += int((logits.argmax(1) == y).sum())
        count += len(y)
        bar.step(total_loss / count, correct / count)
    return total_loss, correct, count


def _validation(model, val, batch_size, device) -> dict[str, Any]:
    """The validation loss and accuracy, and how many classes it predicts."""
    if val is None or not len(val):
        return {"val_loss": None, "val_acc": None, "val_classes": None}
    loss, acc, predicted = evaluate(model, val, batch_size, device)
    # 1 = the one-class plateau a badly initialised HybridSN sits on
    return {"val_loss": loss, "val_acc": acc, "val_classes": len(np.unique(predicted))}


def _fit_pixels(
    model: nn.Module, train: PatchDataset, val: PatchDataset | None, *, seed: int
) -> FitResult:
    parts = [train] if val is None or not len(val) else [train, val]
    x = np.concatenate([part.centre_pixels() for part in parts])
    y = np.concatenate([part.targets for part in parts])
    t0 = time.perf_counter()
    info = model.fit_pixels(x, y, seed=seed)
    elapsed = time.perf_counter() - t0
    model.eval()
    row = {
        "epoch": 1,
        "train_loss": None,
        "train_acc": info["train_accuracy"],
        "val_loss": None,
        "val_acc": info["cv_accuracy"],
    }
    note = (
        f"svm: C={info['C']:g}, gamma={info['gamma']:.4g} chosen by {info['folds']}-fold "
        f"cross-validation on {len(y)} training pixels (accuracy {info['cv_accuracy']:.4f}); "
        f"{info['support_vectors']} support vectors"
    )
    return FitResult(
        history=[row],
        best_epoch=1,
        best_state=copy.deepcopy(model.state_dict()),
        best_val_acc=info["cv_accuracy"],
        train_time_s=elapsed,
        samples_per_s=len(y) / elapsed if elapsed > 0 else 0.0,
        notes=[note],
    )


def evaluate(
    model: nn.Module, data: PatchDataset, batch_size: int = 256, device: torch.device | str = "cpu"
) -> tuple[float, float, np.ndarray]:
    """Mean loss, accuracy and predicted class indices, with dropout off and no autograd."""
    predicted, loss = predict_patches(model, data, batch_size, device, return_loss=True)
    acc = float((predicted == data.targets).mean()) if len(data) else float("nan")
    return loss, acc, predicted


def lr_factor(step: int, steps: int, warmup_steps: int, schedule: str) -> float:
    """The learning rate of ``step`` (0-based, of ``steps``) as a share of the base rate."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "cosine":
        done = (step - warmup_steps) / max(1, steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(done, 1.0)))
    return 1.0


def _diverged(epoch: int, what: str, lr: float) -> str:
    return (
        f"training diverged in epoch {epoch}: {what}; nothing was saved. Lower lr "
        f"(now {lr:g}) or check the scene for extreme values"
    )
