"""Model registry: every classifier over (N, k, p, p) PCA patches, created by name.

Each family lives in its own module and registers its classes with :func:`register`. Every model
class takes the same constructor arguments ``(n_components, patch, n_classes, **options)``
(``n_components``: the PCA components, the model's input channels), where the options are
keyword-only arguments with defaults, so the training loop never special-cases one and
:func:`model_options` can list them for help text.

>>> import torch
>>> model = create_model("hybridsn", n_components=30, patch=25, n_classes=16)
>>> model(torch.zeros(2, 30, 25, 25)).shape
torch.Size([2, 16])
"""

from __future__ import annotations

import inspect
import math
import numbers
import operator
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from hsi.errors import ModelError

__all__ = [
    "PatchClassifier",
    "count_parameters",
    "create_model",
    "list_models",
    "model_class",
    "model_options",
    "register",
]

_REGISTRY: dict[str, type[PatchClassifier]] = {}

# Elements of windows' shared features copied at once by the generic dense path (256 MB in
# float32): 322 HybridSN-SE windows (576 × 19 × 19 each), 12,900 SSFTT windows (64 × 9 × 9).
# CBAM's many small ops want big batches: 80 windows at a time took 1.3× as long on 2 CPUs
# (docs/benchmarks.md); the patch path's batches of 512 windows peak higher.
_DENSE_CROP_ELEMENTS = 1 << 26
# ... and at most this many windows: the layers after the shared ones hold several times a
# window's features (SSFTT's tokenizer), so small crops are no reason for huge batches
_DENSE_MAX_WINDOWS = 1024

M = TypeVar("M", bound="type[PatchClassifier]")


class PatchClassifier(nn.Module):
    """Base of every registered model: checks the data's shape once, at the boundary.

    Subclasses call ``super().__init__(n_components, patch, n_classes)`` first; it validates
    the three numbers and stores them as ``self.n_components``, ``self.patch`` and
    ``self.n_classes``.
    """

    #: whether the model offers ``dense_logits`` (whole-scene evaluation sharing the work of
    #: overlapping windows)
    supports_dense: bool = False
    #: spatial samples lost by the model's first layers when they are stride-1 valid
    #: convolutions and per-pixel operations (:meth:`shared_features`), so that a window's
    #: features are a crop of the whole tile's; ``None`` where there are no such layers
    shared_margin: int | None = None
    #: the name the model is registered under (set by :func:`register`)
    model_name: str = ""
    #: smallest number of PCA components and patch side the architecture can take
    min_components: int = 1
    min_patch: int = 1
    #: the window side used when the user gives none (HybridSN's published 25)
    default_patch: int = 25
    #: the PCA components used when the user gives none (HybridSN's 30 for Indian Pines)
    default_pca: int = 30
    #: False for models fitted in closed form from pixel spectra (the SVM), not by epochs of
    #: gradient steps: :func:`hsi.training.fit` then calls their ``fit_pixels``
    trained_by_gradient: bool = True
    #: the reference implementation whose initialisation ``init="reference"`` applies
    #: (a rule of :mod:`hsi.models.init`)
    reference_init: str = "torch"
    #: whether weights and inputs use the channels-last memory layout (faster for the 2-D
    #: backbones' depthwise and 1×1 convolutions on CPU; docs/benchmarks.md)
    channels_last: bool = False

    @property
    def bands(self) -> int:
        """Old name of :attr:`n_components`, kept for existing scripts."""
        return self.n_components

    def __init__(self, n_components: int, patch: int, n_classes: int) -> None:
        super().__init__()
        name = self._name()
        self.n_components = _positive_int("n_components", n_components, name)
        self.patch = _positive_int("patch", patch, name)
        self.n_classes = _positive_int("n_classes", n_classes, name)
        if self.n_components < self.min_components:
            raise ModelError(
                f"{name} needs at least {self.min_components} PCA components (n_components), "
                f"got {self.n_components}"
            )
        if self.patch < self.min_patch:
            raise ModelError(
                f"{name} needs a patch size of at least {self.min_patch}, got {self.patch}"
            )
        if self.patch % 2 == 0:
            # Windows are centred on the pixel they classify, so their side must be odd.
            raise ModelError(
                f"{name}: patch size must be odd (a window centred on a pixel), got {self.patch}"
            )

    def _name(self) -> str:
        return self.model_name or type(self).__name__

    def initialise(self, init: str = "reference") -> PatchClassifier:
        """Re-draw the weights by the family's reference rule, or keep PyTorch's (``"torch"``).

        Layers are built with PyTorch's defaults; ``"reference"`` then applies
        :meth:`init_reference`. Both draw from torch's global generator, so a seeded run is
        reproducible either way.
        """
        from hsi.models.init import check_init

        if check_init(init) == "reference":
            self.init_reference()
        return self

    def init_reference(self) -> None:
        """The reference implementation's initialisation; families override it."""

    def check_input(self, x: Tensor) -> None:
        """Raise ModelError unless ``x`` is a float batch (N, n_components, patch, patch)."""
        expected = (self.n_components, self.patch, self.patch)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ModelError(
                f"{self._name()} expects input of shape (N, {self.n_components}, {self.patch}, "
                f"{self.patch}), got {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise ModelError(f"{self._name()} expects a float tensor, got {x.dtype}")

    def shared_features(self, x: Tensor) -> Tensor:
        """The first layers, (N, k, H, W) → (N, C, H − m, W − m), m = :attr:`shared_margin`.

        Only for models with a ``shared_margin``: their window's features equal the same crop of
        a whole tile's, so :meth:`dense_logits` computes them once for all windows.
        """
        raise ModelError(f"{self._name()} has no shared first layers")

    def features_to_logits(self, h: Tensor) -> Tensor:
        """The rest of the network, from windows' :meth:`shared_features` to logits (N, K)."""
        raise ModelError(f"{self._name()} has no shared first layers")

    def dense_logits(self, x: Tensor, *, mask: Tensor | None = None) -> Tensor:
        """Logits for every p×p window of a padded scene tile, as ``forward`` would give them.

        ``x`` is a reduced tile (k, Hp, Wp) or (1, k, Hp, Wp); the result is (K, Hp−p+1,
        Wp−p+1), its [:, i, j] the logits of the window whose top-left corner is (i, j), up to
        float rounding. Only valid in eval mode. This generic path runs
        :meth:`shared_features` once over the tile and :meth:`features_to_logits` on each
        window's crop of it, in batches; families without shared layers raise ``ModelError``.
        ``mask`` (Hp−p+1, Wp−p+1) bool: only those windows are run, the others' logits are NaN
        (the per-window layers are most of the work, so a sparse mask saves most of it).
        """
        if self.shared_margin is None or not self.supports_dense:
            raise ModelError(f"{self._name()} does not support dense (whole-scene) evaluation")
        x = self.check_dense_tile(x)
        side = self.patch - self.shared_margin
        out_h, out_w = x.shape[1] - self.patch + 1, x.shape[2] - self.patch + 1
        if mask is not None and tuple(mask.shape) != (out_h, out_w):
            raise ModelError(
                f"dense_logits: the mask must have the output's shape {(out_h, out_w)}, "
                f"got {tuple(mask.shape)}"
            )
        with torch.no_grad():
            h = self.shared_features(x[None])[0]  # (C, Hp − m, Wp − m)
            # (out_h, out_w, C, side, side): window (i, j)'s crop of the shared features
            windows = h.unfold(1, side, 1).unfold(2, side, 1).permute(1, 2, 0, 3, 4)
            positions = (
                torch.arange(out_h * out_w, device=h.device)
                if mask is None
                else mask.to(h.device).flatten().nonzero()[:, 0]
            )
            logits = h.new_full((out_h * out_w, self.n_classes), math.nan)
            # crops are copied batch by batch: all of them at once would be side² times the tile
            per_batch = _DENSE_CROP_ELEMENTS // (h.shape[0] * side * side)
            per_batch = max(1, min(per_batch, _DENSE_MAX_WINDOWS))
            for start in range(0, len(positions), per_batch):
                at = positions[start : start + per_batch]
                logits[at] = self.features_to_logits(windows[at // out_w, at % out_w])
        return logits.T.reshape(self.n_classes, out_h, out_w)

    def check_dense_tile(self, x: Tensor) -> Tensor:
        """``x`` as a (k, Hp, Wp) tile at least one window wide; ModelError in training mode."""
        if self.training:
            raise ModelError(
                "dense_logits is only valid in eval mode (dropout must be off): call model.eval()"
            )
        if x.dim() == 4 and x.shape[0] == 1:
            x = x[0]
        if x.dim() != 3 or x.shape[0] != self.n_components or min(x.shape[1:]) < self.patch:
            raise ModelError(
                f"dense_logits expects a padded tile of shape ({self.n_components}, H, W) with "
                f"H, W >= {self.patch}, got {tuple(x.shape)}"
            )
        return x


def register(name: str) -> Callable[[M], M]:
    """Class decorator adding a model to the registry under ``name``."""

    def decorate(cls: M) -> M:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered")
        _REGISTRY[name] = cls
        cls.model_name = name
        return cls

    return decorate


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def _model_class(name: str) -> type[PatchClassifier]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ModelError(
            f"unknown model {name!r}; choose one of: {', '.join(list_models())}"
        ) from None


def model_options(name: str) -> dict[str, Any]:
    """The options model ``name`` takes, with their defaults (its keyword-only arguments)."""
    cls = _model_class(name)
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def model_class(name: str) -> type[PatchClassifier]:
    """The class registered as ``name`` (its class attributes: defaults, limits, init rule)."""
    return _model_class(name)


def create_model(
    name: str,
    *,
    n_components: int | None = None,
    patch: int,
    n_classes: int,
    init: str = "reference",
    bands: int | None = None,
    **options: Any,
) -> PatchClassifier:
    """Build model ``name`` for patches of ``n_components`` PCA components and side ``patch``.

    ``bands`` is the old name of ``n_components`` (the model's input channels), still accepted.

    ``init="reference"`` (default) initialises the weights as the family's reference
    implementation does (:mod:`hsi.models.init`); ``"torch"`` keeps PyTorch's layer defaults.
    Raises ModelError for an unknown name, an option the model does not take, or a value it
    cannot use (too few components, an even patch, a width <= 0, ...).
    """
    cls = _model_class(name)
    if n_components is None:
        n_components = bands
    if n_components is None:
        raise ModelError(f"model {name!r}: give n_components, the number of PCA components")
    known = model_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        takes = ", ".join(f"{k}={v!r}" for k, v in known.items()) or "no options"
        raise ModelError(f"model {name!r} has no option {unknown[0]!r}; it takes: {takes}")
    model = cls(n_components, patch, n_classes, **options).initialise(init)
    if model.channels_last:
        model.to(memory_format=torch.channels_last)
    return model


# ---- option validation shared by the families -------------------------------------------------


def _positive_int(what: str, value: Any, model: str) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise ModelError(f"{model}: {what} must be an integer, got {value!r}") from None
    if number < 1:
        raise ModelError(f"{model}: {what} must be at least 1, got {number}")
    return number


def check_width(width: Any, model: str) -> float:
    """A width multiplier: a finite float > 0."""
    if isinstance(width, bool) or not isinstance(width, numbers.Real):
        raise ModelError(f"{model}: width must be a number > 0, got {width!r}")
    if not math.isfinite(width) or width <= 0:
        raise ModelError(f"{model}: width must be a number > 0, got {width!r}")
    return float(width)


def check_dropout(p: Any, model: str) -> float:
    """A dropout probability in [0, 1)."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
        raise ModelError(f"{model}: dropout must be a number in [0, 1), got {p!r}")
    return float(p)


def check_int_option(what: str, value: Any, model: str, *, minimum: int = 1) -> int:
    """An integer option at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ModelError(f"{model}: {what} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# The families import the names above, so they are imported last; importing them registers them.
from hsi.models import hybridsn, mobilenet, shufflenet, ssftt, svm  # noqa: E402,F401
