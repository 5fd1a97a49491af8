"""Train / validation / test splits of the labeled pixels, all seeded.

Three strategies return pixel coordinates (N × 2, row/col):

- ``stratified``: a fraction of each class's pixels (e.g. 0.1) for training;
- ``per_class``: a fixed count of each class's pixels (e.g. 50) for training. A class with
  ``n <= count`` pixels gives ``max(1, n // 2)`` to training so that it is still tested; the
  classes so capped are listed in ``Split.notes``;
- ``spatial``: whole blocks of the scene go to training, and a buffer of ``patch // 2`` pixels
  (or ``buffer``, when larger) keeps every test pixel outside every training window. Models of
  different windows split alike, and so are tested on the same pixels, when given the same
  ``buffer`` (e.g. SSFTT's 13×13 windows with HybridSN's buffer of 12). Random pixel splits let
  a training window cover test pixels, which inflates accuracy; :func:`leakage` measures that
  for any split.

Validation pixels are carved out of the training share (``val_size``: a fraction of the training
pixels, or a count per class), so the test pixels are never touched before the final metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import ndimage

from hsi.errors import ConfigError

Strategy = Literal["stratified", "per_class", "spatial"]
STRATEGIES: tuple[str, ...] = ("stratified", "per_class", "spatial")


@dataclass
class Split:
    """Disjoint pixel coordinates for training, validation and test."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    notes: list[str] = field(default_factory=list)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def make_split(
    labels: np.ndarray,
    strategy: Strategy = "stratified",
    *,
    train_size: float | int = 0.1,
    val_size: float | int = 0.0,
    seed: int = 0,
    patch: int = 25,
    block_size: int | None = None,
    buffer: int | None = None,
) -> Split:
    """Split the labeled (non-zero) pixels of ``labels`` with one of :data:`STRATEGIES`.

    ``train_size`` is a fraction in (0, 1) or, for ``per_class``, an integer count per class.
    For ``stratified`` an integer is accepted too and means ``per_class``. ``block_size`` and
    ``buffer`` (pixels kept free around the training blocks, at least ``patch // 2``; default
    ``patch // 2``) shape ``spatial`` splits only, and other strategies ignore them; blocks
    default to ``2 * buffer + 1`` pixels (the window with the default buffer).
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ConfigError(f"labels must be 2-D, got shape {labels.shape}")
    rng = np.random.default_rng(seed)
    train_size = check_size("train_size", train_size)
    val_size = check_size("val_size", val_size, allow_zero=True)
    if strategy == "spatial":
        if not isinstance(train_size, float):
            raise ConfigError(
                "split spatial takes train_size as a fraction in (0, 1)",
                params=("split", "train_size"),
            )
        radius = check_buffer(buffer, patch)
        return _spatial_split(labels, train_size, val_size, rng, patch, block_size, radius)
    if strategy == "per_class" and isinstance(train_size, float):
        raise ConfigError(
            "split per_class takes train_size as an integer count per class",
            params=("split", "train_size"),
        )
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown split {strategy!r}; choose one of: {', '.join(STRATEGIES)}")
    return _random_split(labels, train_size, val_size, rng)


def _random_split(labels, train_size, val_size, rng) -> Split:
    train, val, test, notes = [], [], [], []
    for cls in _classes(labels):
        coords = np.argwhere(labels == cls)
        coords = coords[rng.permutation(len(coords))]
        n = len(coords)
        n_train = _n_train(n, train_size)
        if isinstance(train_size, int) and n <= train_size:
            notes.append(
                f"class {cls}: {n} pixels, not more than {train_size}; {n_train} used for training"
            )
        part_train, part_test = coords[:n_train], coords[n_train:]
        part_train, part_val = _carve_validation(part_train, val_size)
        train.append(part_train)
        val.append(part_val)
        test.append(part_test)
    starved = [
        (cls, len(t), len(v))
        for cls, t, v in zip(_classes(labels), train, val, strict=True)
        if len(v) > len(t)
    ]
    if starved:  # a count meant for large scenes, or a fraction near 1: say what it did
        cls, n_t, n_v = starved[0]
        notes.append(
            f"val_size {val_size} leaves fewer pixels to train on than to validate on in "
            f"{len(starved)} of {len(train)} classes (class {cls}: {n_t} to train on, {n_v} "
            "to validate on)"
        )
    return Split(_stack(train), _stack(val), _stack(test), notes)


def _n_train(n: int, size: float | int) -> int:
    if isinstance(size, float):
        # at least one pixel to train on and, where there are two, one to test on
        return int(min(max(round(size * n), 1), max(n - 1, 1)))
    return size if n > size else max(1, n // 2)


def _carve_validation(train: np.ndarray, val_size: float | int) -> tuple[np.ndarray, np.ndarray]:
    """Move part of one class's (already shuffled) training pixels to validation."""
    n = len(train)
    if val_size == 0 or n < 2:
        return train, train[:0]
    n_val = round(val_size * n) if isinstance(val_size, float) else val_size
    n_val = int(min(max(n_val, 1), n - 1))  # every class keeps a training pixel
    return train[n_val:], train[:n_val]


def check_buffer(buffer: int | None, patch: int) -> int:
    """The spatial split's buffer in pixels: ``buffer``, or ``patch // 2`` when None."""
    if buffer is None:
        return patch // 2
    if isinstance(buffer, bool) or not isinstance(buffer, (int, np.integer)):
        raise ConfigError(
            f"buffer must be a whole number of pixels, got {buffer!r}", params=("buffer",)
        )
    if buffer < patch // 2:
        raise ConfigError(
            f"buffer must be at least the window's half-width, {patch // 2} for patch {patch}, "
            f"got {buffer}: a narrower one lets training windows cover test pixels",
            params=("buffer",),
        )
    return int(buffer)


def _spatial_split(labels, train_frac, val_size, rng, patch, block_size, r) -> Split:
    h, w = labels.shape
    block = int(block_size or max(patch, 2 * r + 1))
    if block < 1:
        raise ConfigError(f"block_size must be positive, got {block}", params=("block_size",))
    classes = _classes(labels)
    block_id = (np.arange(h)[:, None] // block) * ((w + block - 1) // block) + (
        np.arange(w)[None, :] // block
    )
    n_blocks = int(block_id.max()) + 1
    # counts[b, c]: labeled pixels of class c in block b
    class_pos = np.searchsorted(classes, labels)
    labeled = labels != 0
    counts = np.zeros((n_blocks, len(classes)), dtype=np.int64)
    np.add.at(counts, (block_id[labeled], class_pos[labeled]), 1)

    in_train = _choose_training_blocks(counts, train_frac, rng)
    train_mask = in_train[block_id] & labeled

    buffer = _within(train_mask, r)
    rest = labeled & ~buffer
    val_mask = np.zeros_like(labeled)
    if val_size:
        # drawn from outside the buffer too, so validation windows never see training pixels
        val_mask = _spatial_validation(labels, train_mask, rest, val_size, rng, block_id, classes)
    test_mask = rest & ~val_mask
    notes = [
        f"spatial split: {block}×{block} blocks, {int(in_train.sum())} of {n_blocks} for training, "
        f"{int((labeled & buffer & ~train_mask).sum())} labeled pixels dropped in the "
        f"{r}-pixel buffer"
    ]
    for cls in classes:
        if not (test_mask & (labels == cls)).any():
            notes.append(f"class {cls}: no test pixel left outside the training blocks' buffer")
        if not (train_mask & (labels == cls)).any():
            notes.append(f"class {cls}: no training pixel")
    order = rng.permutation  # shuffle within each part so batches are not spatially ordered
    train = np.argwhere(train_mask)
    val = np.argwhere(val_mask)
    test = np.argwhere(test_mask)
    return Split(train[order(len(train))], val[order(len(val))], test, notes)


def _within(mask: np.ndarray, r: int) -> np.ndarray:
    """Pixels within Chebyshev distance ``r`` of a True pixel of ``mask``.

    A square dilation, computed as a separable maximum filter: linear in the scene whatever
    ``r`` is (a wide ``--buffer`` must not cost a (2r+1)² structuring element). Beyond the
    scene's size every r gives the same answer, so r is capped there.
    """
    size = 2 * min(int(r), max(mask.shape)) + 1
    return ndimage.maximum_filter(mask, size=size, mode="constant", cval=False)


def _choose_training_blocks(
    counts: np.ndarray, frac: float, rng: np.random.Generator, top: int = 3
) -> np.ndarray:
    """Blocks whose pixels go to training, so that each class gets about ``frac`` of its pixels.

    Greedy on the cost Σ_c ((taken_c − frac·total_c) / total_c)²: add, one at a time, a block
    among the ``top`` that lower the cost most (chosen at random, so the seed matters), until no
    block lowers it.
    """
    totals = counts.sum(axis=0).astype(np.float64)
    target = frac * totals
    taken = np.zeros_like(totals)
    chosen = np.zeros(len(counts), dtype=bool)
    cost = np.sum(((taken - target) / totals) ** 2)
    for _ in range(len(counts)):
        new_costs = np.sum(((taken[None, :] + counts - target) / totals) ** 2, axis=1)
        new_costs[chosen] = np.inf
        gains = cost - new_costs
        best = np.argsort(-gains, kind="stable")[:top]
        best = best[gains[best] > 0]
        if best.size == 0:
            break
        b = best[rng.integers(len(best))]
        chosen[b] = True
        taken += counts[b]
        cost = new_costs[b]
    # every class needs a training pixel even when its only blocks overshoot
    for c in np.flatnonzero(counts[chosen].sum(axis=0) == 0):
        candidates = np.flatnonzero(counts[:, c] > 0)
        chosen[candidates[np.argmin(counts[candidates].sum(axis=1))]] = True
    return chosen


def _spatial_validation(labels, train_mask, rest, val_size, rng, block_id, classes):
    """Validation from whole blocks outside the training buffer, roughly val_size per class."""
    val_mask = np.zeros_like(train_mask)
    for cls in classes:
        n_train = int((train_mask & (labels == cls)).sum())
        want = round(val_size * n_train) if isinstance(val_size, float) else val_size
        if want < 1:
            continue
        blocks = np.unique(block_id[rest & (labels == cls)])
        have = int((val_mask & (labels == cls)).sum())
        for b in blocks[rng.permutation(len(blocks))]:
            if have >= want:
                break
            new = rest & (block_id == b) & ~val_mask
            val_mask |= new
            have += int((new & (labels == cls)).sum())
    return val_mask


def leakage(train: np.ndarray, test: np.ndarray, patch: int, shape: tuple[int, int]) -> float:
    """Share of test pixels that fall inside some training window of size ``patch``.

    A test pixel at Chebyshev distance ≤ ``patch // 2`` from a training pixel is seen (as
    input context) while training: random pixel splits of a coherent scene leak most test pixels.
    """
    if len(test) == 0:
        return 0.0
    mask = np.zeros(shape, dtype=bool)
    if len(train):
        mask[train[:, 0], train[:, 1]] = True
        mask = _within(mask, patch // 2)
    return float(mask[test[:, 0], test[:, 1]].mean())


def _classes(labels: np.ndarray) -> np.ndarray:
    classes = np.unique(labels[labels != 0])
    if classes.size == 0:
        raise ConfigError("the ground truth has no labeled pixels (all zeros)")
    return classes


def check_size(option: str, size, *, allow_zero: bool = False) -> float | int:
    if isinstance(size, bool):
        raise ConfigError(
            f"{option} must be a fraction in (0, 1) or a positive count, got {size}",
            params=(option,),
        )
    if isinstance(size, float) and size == 1:
        raise ConfigError(
            f"{option} 1.0 could mean every pixel (which leaves none to test) or one per class; "
            "write a fraction below 1, or 1 for one pixel per class",
            params=(option,),
        )
    if isinstance(size, float) and size.is_integer() and size >= 1:  # 50.0 from a JSON file
        size = int(size)
    if isinstance(size, (int, np.integer)):
        size = int(size)
        if size >= 1 or (allow_zero and size == 0):
            return size
    elif isinstance(size, float) and (0 < size < 1 or (allow_zero and size == 0)):
        return float(size)
    raise ConfigError(
        f"{option} must be a fraction in (0, 1) or a positive integer count per class, got {size}",
        params=(option,),
    )


def _stack(parts: list[np.ndarray]) -> np.ndarray:
    parts = [p for p in parts if len(p)]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros((0, 2), dtype=np.int64)


def parse_size(text: str, option: str = "train_size") -> float | int:
    """``"0.1"`` → 0.1, ``"50"`` → 50: the CLI's ``--train-size`` / ``--val-size``.

    A whole number written as a decimal (``"1.0"``) is refused: it reads as a count of one
    pixel per class but was most likely meant as a fraction, and a fraction of 1 leaves no
    pixel to test.
    """
    wrong = ConfigError(
        f"{option}: expected a fraction below 1 like 0.1 or a whole count per class like 50, "
        f"got {text!r}",
        params=(option,),
    )
    try:
        value = float(text)
    except ValueError:
        raise wrong from None
    if value.is_integer() and value >= 1:
        if not text.strip().isdigit():
            raise wrong
        return int(value)
    return value
