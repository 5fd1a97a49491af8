"""Patches around pixels, sliced on demand from a cube padded once.

The course notebook materialised every 25×25×30 window of the scene as float64 — over 3 GB for
Indian Pines. Here the reduced cube is padded once and stored channels-first; a window is a view
into it, copied only when a batch is asked for. Memory is O(H·W·k), never O(N·p²·k).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from hsi.errors import ConfigError

Padding = Literal["zero", "reflect"]


def pad_cube(cube: np.ndarray, patch: int, padding: Padding = "zero") -> np.ndarray:
    """A reduced cube ``(H, W, k)`` padded by ``patch // 2`` and laid out ``(k, H+p-1, W+p-1)``."""
    check_patch_size(patch, cube.shape[:2])
    r = patch // 2
    chw = np.ascontiguousarray(np.moveaxis(np.asarray(cube, dtype=np.float32), 2, 0))
    if padding == "zero":
        return np.pad(chw, ((0, 0), (r, r), (r, r)), mode="constant")
    if padding == "reflect":
        return np.pad(chw, ((0, 0), (r, r), (r, r)), mode="reflect")
    raise ConfigError(f"padding must be 'zero' or 'reflect', got {padding!r}", params=("padding",))


def window_fits(patch: int, shape: tuple[int, int]) -> bool:
    """Whether ``patch``-wide windows can be cut from a scene of ``shape`` (H, W): its half-width
    must be under each side (reflect padding needs it, and a larger window is mostly padding)."""
    return patch // 2 < min(shape)


def check_patch_size(patch: int, shape: tuple[int, int] | None = None) -> None:
    if int(patch) != patch or patch < 1 or patch % 2 == 0:
        raise ConfigError(
            f"patch must be an odd positive size (a window centred on a pixel), got {patch}",
            params=("patch",),
        )
    if shape is not None and not window_fits(patch, shape):
        raise ConfigError(
            f"patch {patch} is too large for a {shape[0]}×{shape[1]} scene", params=("patch",)
        )


class PatchDataset(Dataset):
    """Windows of size ``patch × patch`` centred on ``coords`` of a reduced cube.

    Items are ``(window, target)``: a float32 tensor ``(k, p, p)`` and the class index (int64;
    -1 when no targets were given). ``get_batch`` gathers many windows in one numpy operation,
    and is what the training loop and batched inference use.
    """

    def __init__(
        self,
        cube: np.ndarray,
        coords: np.ndarray,
        targets: np.ndarray | None = None,
        *,
        patch: int = 25,
        padding: Padding = "zero",
        padded: np.ndarray | None = None,
    ) -> None:
        self.patch = int(patch)
        self.shape = tuple(int(s) for s in cube.shape[:2])
        # A caller building several datasets over one scene passes the padded cube to share it.
        self.padded = pad_cube(cube, patch, padding) if padded is None else padded
        self.coords = np.asarray(coords, dtype=np.int64).reshape(-1, 2)
        if self.coords.size and (
            self.coords.min() < 0
            or self.coords[:, 0].max() >= self.shape[0]
            or self.coords[:, 1].max() >= self.shape[1]
        ):
            raise ConfigError("pixel coordinates fall outside the scene")
        if targets is None:
            self.targets = np.full(len(self.coords), -1, dtype=np.int64)
        else:
            self.targets = np.asarray(targets, dtype=np.int64).reshape(-1)
            if len(self.targets) != len(self.coords):
                raise ConfigError("targets and coords differ in length")
        # (k, H, W, p, p) view: window (i, j) is windows[:, i, j] — no copy is made here.
        self._windows = np.lib.stride_tricks.sliding_window_view(
            self.padded, (self.patch, self.patch), axis=(1, 2)
        )

    @property
    def bands(self) -> int:
        return int(self.padded.shape[0])

    def __len__(self) -> int:
        return len(self.coords)

    def centre_pixels(self) -> np.ndarray:
        """The (n, k) spectra of the windows' centre pixels, for per-pixel classifiers."""
        r = self.patch // 2
        return np.ascontiguousarray(self.padded[:, self.coords[:, 0] + r, self.coords[:, 1] + r].T)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        row, col = self.coords[index]
        x = torch.from_numpy(np.ascontiguousarray(self._windows[:, row, col]))
        return x, torch.tensor(self.targets[index])

    def get_batch(self, indices: np.ndarray | slice) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows ``(n, k, p, p)`` and targets ``(n,)`` for many items at once."""
        coords = self.coords[indices]
        # fancy indexing copies just these windows: (k, n, p, p) → (n, k, p, p)
        x = self._windows[:, coords[:, 0], coords[:, 1]]
        x = np.ascontiguousarray(np.moveaxis(x, 0, 1))
        return torch.from_numpy(x), torch.from_numpy(self.targets[indices].copy())

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        # DataLoader calls this for a whole batch; collate then stacks it.
        x, y = self.get_batch(np.asarray(indices, dtype=np.int64))
        return list(zip(x, y, strict=True))


def labeled_coords(labels: np.ndarray) -> np.ndarray:
    """Row/column coordinates (N × 2, row-major order) of the labeled (non-zero) pixels."""
    return np.argwhere(np.asarray(labels) != 0).astype(np.int64)
