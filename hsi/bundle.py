"""The model bundle: one file with everything needed to map a new scene.

Weights, the PCA reducer's state, the training config, the class ids, names and palette, the
patch size and the sensor's band count (``n_bands``; the model's input channels are the PCA's
``n_components``). Stored as tensors and plain Python values only, so it loads with
``torch.load(path, weights_only=True)`` — a user's file is never unpickled into objects.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hsi.atomic import atomic_path
from hsi.errors import BundleError, DataError, ModelError
from hsi.preprocess import PCAReducer

FORMAT = "hsi-bundle"
# 2: the sensor's band count is stored as "n_bands" (1 called it "bands"); both load
VERSION = 2
READABLE_VERSIONS = (1, 2)


@dataclass
class ModelBundle:
    model_name: str
    model_options: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    reducer_state: dict[str, Any]
    patch: int
    padding: str
    n_bands: int
    class_ids: list[int]
    class_names: list[str]
    palette: list[list[int]]
    config: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def bands(self) -> int:
        """Old name of :attr:`n_bands` (the sensor's bands), kept for existing scripts."""
        return self.n_bands

    @property
    def n_components(self) -> int:
        return int(self.reducer_state["n_components"])

    def reducer(self) -> PCAReducer:
        return PCAReducer.from_state(self.reducer_state)

    def build_model(self) -> nn.Module:
        """The network with the bundle's weights, in eval mode."""
        from hsi.models import create_model

        model = create_model(
            self.model_name,
            n_components=self.n_components,
            patch=self.patch,
            n_classes=len(self.class_ids),
            init="torch",  # the saved weights replace whatever the layers start with
            **self.model_options,
        )
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as exc:
            raise BundleError(f"the bundle's weights do not fit model {self.model_name!r}") from exc
        return model.eval()

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        payload = {
            "format": FORMAT,
            "version": VERSION,
            "model_name": self.model_name,
            "model_options": dict(self.model_options),
            "state_dict": {k: v.detach().cpu() for k, v in self.state_dict.items()},
            "reducer_state": {k: _plain(v) for k, v in self.reducer_state.items()},
            "patch": int(self.patch),
            "padding": self.padding,
            "n_bands": int(self.n_bands),
            "class_ids": [int(i) for i in self.class_ids],
            "class_names": [str(n) for n in self.class_names],
            "palette": [[int(c) for c in rgb] for rgb in self.palette],
            "config": self.config,
            "info": self.info,
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ModelBundle:
        """A bundle from its file, or from a run folder (its ``model.pt``)."""
        path = find_bundle(path)
        try:
            with warnings.catch_warnings():
                # a foreign pickle makes torch's safe unpickler warn about its protocol first:
                # the one line the user needs is the error below
                warnings.simplefilter("ignore", UserWarning)
                payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise BundleError(f"{path}: not a model bundle ({type(exc).__name__})") from exc
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise BundleError(f"{path}: not an hsi model bundle")
        if payload.get("version") not in READABLE_VERSIONS:
            raise BundleError(f"{path}: bundle version {payload.get('version')} is not supported")
        try:
            bundle = cls(
                model_name=payload["model_name"],
                model_options=payload["model_options"],
                state_dict=payload["state_dict"],
                reducer_state=payload["reducer_state"],
                patch=payload["patch"],
                padding=payload["padding"],
                n_bands=payload["n_bands"] if "n_bands" in payload else payload["bands"],
                class_ids=payload["class_ids"],
                class_names=payload["class_names"],
                palette=payload["palette"],
                config=payload.get("config", {}),
                info=payload.get("info", {}),
            )
        except KeyError as exc:
            raise BundleError(f"{path}: model bundle lacks {exc.args[0]!r}") from exc
        bundle._check(path)
        return bundle

    def _check(self, path: Path) -> None:
        """Refuse a bundle that would map a scene to garbage: non-finite numbers, odd class ids."""
        try:
            self.reducer()
        except DataError as exc:
            raise BundleError(f"{path}: {exc}; the bundle is damaged") from None
        if not isinstance(self.state_dict, dict):
            raise BundleError(f"{path}: the bundle's weights are not a state dict")
        for name, tensor in self.state_dict.items():
            if not isinstance(tensor, torch.Tensor):
                raise BundleError(f"{path}: weight {name!r} is not a tensor")
            if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                raise BundleError(
                    f"{path}: weight {name!r} holds NaN or Inf; the bundle is damaged "
                    "(or its training diverged): train again"
                )
        ids = self.class_ids
        if (
            not isinstance(ids, list)
            or not ids
            or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids)
            or ids != sorted(set(ids))
        ):
            raise BundleError(
                f"{path}: class ids must be increasing positive integers, got {ids!r}"
            )
        names = self.class_names
        if not isinstance(names, list) or len(names) != len(ids):
            raise BundleError(f"{path}: the bundle needs one class name per class id ({len(ids)})")
        palette = np.asarray(self.palette)
        if (
            palette.shape != (len(ids), 3)
            or not np.issubdtype(palette.dtype, np.integer)
            or palette.min() < 0
            or palette.max() > 255
        ):
            raise BundleError(
                f"{path}: the palette must be {len(ids)} RGB triples in 0..255 (one per class), "
                f"got shape {palette.shape}"
            )
        try:  # a model this hsi lacks, a window it cannot take, weights of another shape
            self.build_model()
        except (ModelError, BundleError, TypeError) as exc:  # TypeError: options not a dict
            raise BundleError(f"{path}: cannot rebuild its model ({exc})") from None


def find_bundle(path: str | Path | None, runs: str | Path = "runs") -> Path:
    """A bundle file from a path, a run folder, or (``path=None``) ``<runs>/latest``."""
    if path is None:
        latest = Path(runs) / "latest"
        if not latest.exists():
            raise BundleError(
                f"no model given and {latest} does not exist; train a model first",
                params=("model",),
            )
        path = latest
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"  # a run folder, or runs/latest
    if not path.exists():
        raise BundleError(f"{path}: no such model bundle")
    return path.resolve()


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, np.generic):
        return value.item()
    return value
