"""TrainConfig: every choice a training run makes, in one JSON-round-trippable dataclass.

Defaults, and why (docs/training.md has the long version):

- ``pca=None``, ``patch=None``: the model's own defaults: 30 components for every model so far
  (HybridSN's published setting for Indian Pines, the paper uses 15 for Pavia and Salinas;
  SSFTT's), and its window (25 for HybridSN and the 2-D backbones, 13 for SSFTT, 1 for the SVM).
- ``train_size=0.1`` stratified: the course notebook's 10 %; the paper's 30 % leaves so few test
  pixels of the small classes that its figures say little, and random splits already overstate
  accuracy (see ``--split spatial``).
- ``val_size=0.1`` of the training pixels: the kept weights are the best on validation, never
  on the test pixels and never the best *training* accuracy as in the paper's code.
- ``init="reference"``: each family starts as its reference implementation does (Keras
  glorot_uniform for HybridSN).
- ``batch_size=32``, ``lr=1e-3`` (Adam, as in the paper): 10 % of the pixels give few
  samples, and the number of updates decides how fast HybridSN leaves its first plateau; with
  these it reaches 0.95 OA on the semi-synthetic Indian Pines in 10 epochs.
- ``epochs=40``, ``patience=20``: the small classes keep improving after the overall accuracy
  has settled; on the semi-synthetic Indian Pines (seeds 0-2) these kept the same epochs as
  ``--epochs 50 --patience 20`` and lost nothing against 100 epochs, where 30 epochs with
  patience 10 lost 0.44-0.88 OA points; about 8 minutes on two cores (docs/benchmarks.md,
  "Time to accuracy").
"""

from __future__ import annotations

import difflib
import json
import math
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from hsi.errors import ConfigError

# The options that take one of a few words: the config checks them (one place), the CLI lists
# them in --help.
SplitName = Literal["stratified", "per_class", "spatial"]
Padding = Literal["zero", "reflect"]
PcaFit = Literal["scene", "train"]  # the whole scene (as in the paper) or the training pixels
Nonfinite = Literal["error", "mask"]  # NaN/Inf pixels: refuse, or zero-fill and leave unlabeled
Init = Literal["reference", "torch"]  # the family's reference initialisation, or layer defaults
Device = Literal["auto", "cpu", "cuda", "mps"]
Method = Literal["auto", "dense", "patches"]  # how a whole scene is mapped
Schedule = Literal["constant", "cosine"]  # the learning rate over the epochs

CHOICES: dict[str, tuple[str, ...]] = {
    "split": get_args(SplitName),
    "padding": get_args(Padding),
    "pca_fit": get_args(PcaFit),
    "nonfinite": get_args(Nonfinite),
    "init": get_args(Init),
    "device": get_args(Device),
    "schedule": get_args(Schedule),
}
# PyTorch takes these as C ints: a larger value crashes deep inside, after the PCA
_C_INTS = (
    "epochs",
    "batch_size",
    "pca",
    "patience",
    "threads",
    "workers",
    "block_size",
    "buffer",
    "warmup",
)


def check_choice(param: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else a ConfigError naming ``param``."""
    if value not in choices:
        raise ConfigError(
            f"{param} must be one of {', '.join(choices)}, got {value!r}", params=(param,)
        )
    return value


#: the options that read a scene FILE; a named dataset brings its own cube and ground truth
FILE_OPTIONS = ("labels", "cube_key", "labels_key")


def check_file_options_absent(
    dataset: str | None, labels: Any, cube_key: str | None, labels_key: str | None
) -> None:
    """A named dataset brings its own cube and ground truth: the options that read a scene
    FILE are refused next to it rather than ignored (and recorded in metrics.json as if used)."""
    values = (labels, cube_key, labels_key)
    given = [name for name, value in zip(FILE_OPTIONS, values, strict=True) if value is not None]
    if dataset is not None and given:
        raise ConfigError(
            f"{', '.join(given)}: for a scene FILE; "
            f"dataset {dataset} brings its own cube and ground truth",
            params=(*given, "dataset"),
        )


@dataclass
class TrainConfig:
    # the scene
    dataset: str | None = None
    scene: str | None = None
    labels: str | None = None
    cube_key: str | None = None
    labels_key: str | None = None
    data_dir: str | None = None
    nonfinite: Nonfinite = "error"
    # preprocessing
    pca: int | None = None  # None: the model's default (30 for every model so far)
    whiten: bool = True
    pca_fit: PcaFit = "scene"
    patch: int | None = None  # None: the model's default (25; ssftt 13; svm 1)
    padding: Padding = "zero"
    # split
    split: SplitName = "stratified"
    train_size: float | int = 0.1
    val_size: float | int = 0.1
    block_size: int | None = None  # spatial split: block side in pixels (None: from the patch)
    # spatial split: pixels kept free around the training blocks (None: patch // 2); the same
    # buffer gives models of different windows the same test pixels
    buffer: int | None = None
    # model and optimisation
    model: str = "hybridsn"
    model_options: dict[str, Any] = field(default_factory=dict)
    init: Init = "reference"
    epochs: int = 40
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int | None = 20
    # training improvements (docs/models.md measures each; off until one beats the seed spread)
    augment: bool = False  # the eight flips/rotations of each training window
    tta: bool = False  # maps: mean logits over the eight flips/rotations
    label_smoothing: float = 0.0
    schedule: Schedule = "constant"
    warmup: int = 0  # epochs of linear learning-rate warm-up
    seed: int = 0
    deterministic: bool = True
    workers: int = 0
    threads: int | None = None  # PyTorch CPU threads; None keeps torch's default
    device: Device = "auto"
    # outputs
    out: str = "runs"

    def validate(self, *, scene_given: bool = False) -> TrainConfig:
        """Check every option (and fill in the model's default window); the config, or an error.

        ``scene_given``: the scene comes in memory (a :class:`~hsi.stages.PreparedScene`, as the
        estimator builds one), so the config may name neither a dataset nor a scene file.
        """
        named = (self.dataset is not None) + (self.scene is not None)
        if named > 1 or (named == 0 and not scene_given):
            raise ConfigError(
                "give exactly one of dataset NAME or scene FILE", params=("dataset", "scene")
            )
        check_file_options_absent(self.dataset, self.labels, self.cube_key, self.labels_key)
        if self.scene is not None and self.labels is None and self.labels_key is None:
            raise ConfigError(
                "scene needs its ground truth to train: labels FILE (or labels_key)",
                params=("scene", "labels", "labels_key"),
            )
        for param, choices in CHOICES.items():
            check_choice(param, getattr(self, param), choices)
        from hsi.models import list_models, model_class

        # named as a parameter, so that a config file's unknown model is reported after its name
        check_choice("model", self.model, tuple(list_models()))
        if self.patch is None:
            self.patch = model_class(self.model).default_patch
        if self.pca is None:
            self.pca = model_class(self.model).default_pca
        from hsi.patches import check_patch_size
        from hsi.splits import check_buffer, check_size

        check_patch_size(self.patch)
        check_size("train_size", self.train_size)
        check_size("val_size", self.val_size, allow_zero=True)
        if self.dataset is not None:
            from hsi.data.registry import get_scene_info, list_scenes

            try:
                get_scene_info(self.dataset)
            except ConfigError:
                check_choice("dataset", self.dataset, tuple(list_scenes()))
        from hsi.preprocess import check_components

        check_components(self.pca)
        self._check_model_limits()
        for param in ("epochs", "batch_size"):
            if getattr(self, param) < 1:
                raise ConfigError(
                    f"{param} must be at least 1, got {getattr(self, param)}", params=(param,)
                )
        if not math.isfinite(self.lr):
            raise ConfigError(f"lr must be a finite number, got {self.lr}", params=("lr",))
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}", params=("lr",))
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError(
                f"weight_decay must be a finite number >= 0, got {self.weight_decay}",
                params=("weight_decay",),
            )
        if not (math.isfinite(self.label_smoothing) and 0 <= self.label_smoothing < 1):
            raise ConfigError(
                f"label_smoothing must be in [0, 1), got {self.label_smoothing}",
                params=("label_smoothing",),
            )
        if not 0 <= self.warmup <= self.epochs:
            raise ConfigError(
                f"warmup must be between 0 and epochs ({self.epochs}), got {self.warmup}",
                params=("warmup", "epochs"),
            )
        from hsi.seeding import check_seed

        check_seed(self.seed)
        if self.patience == 0:  # "patience 0": no early stopping
            self.patience = None
        if self.patience is not None and self.patience < 1:
            raise ConfigError(
                f"patience must be 0 (off) or more, got {self.patience}", params=("patience",)
            )
        if self.threads is not None and self.threads < 1:
            raise ConfigError(
                f"threads must be at least 1, got {self.threads}", params=("threads",)
            )
        if self.workers < 0:
            raise ConfigError(f"workers must be 0 or more, got {self.workers}", params=("workers",))
        if self.block_size is not None and self.block_size < 1:
            raise ConfigError(
                f"block_size must be positive, got {self.block_size}", params=("block_size",)
            )
        if self.buffer is not None and self.split == "spatial":  # other splits ignore it
            check_buffer(self.buffer, self.patch)
        for param in _C_INTS:
            value = getattr(self, param)
            if value is not None and value > 2**31 - 1:
                raise ConfigError(
                    f"{param} must be at most 2**31 - 1, got {value}", params=(param,)
                )
        return self

    def _check_model_limits(self) -> None:
        """What the model can take, before any data is loaded: its fewest PCA components, its
        smallest window, and the names of its options (their values it checks itself)."""
        from hsi.models import model_class, model_options

        cls = model_class(self.model)
        if self.pca < cls.min_components:
            raise ConfigError(
                f"pca {self.pca}: {self.model} needs at least {cls.min_components} components",
                params=("pca",),
            )
        if self.patch < cls.min_patch:
            raise ConfigError(
                f"patch {self.patch}: {self.model} needs windows of at least {cls.min_patch}",
                params=("patch",),
            )
        known = model_options(self.model)
        unknown = sorted(set(self.model_options) - set(known))
        if unknown:
            takes = ", ".join(f"{k}={v!r}" for k, v in known.items()) or "no options"
            raise ConfigError(
                f"{self.model} has no option {unknown[0]!r}; it takes: {takes}",
                params=("model_options",),
            )

    @property
    def scene_name(self) -> str:
        return self.dataset or Path(self.scene or "scene").stem

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str | Path | None = None) -> TrainConfig:
        """A config from :meth:`to_dict`'s keys; an unknown key or a value of the wrong type is a
        ConfigError naming ``source`` (the file the keys came from) and the key.

        Keys left out take their defaults; nothing is validated yet (:meth:`validate` does that).
        """
        where = f"{source}: " if source is not None else ""
        if not isinstance(data, dict):
            raise ConfigError(f"{where}expected a table of options, got {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        names = [f.name for f in fields(cls)]
        for key, value in data.items():
            if key not in hints:
                close = difflib.get_close_matches(str(key), names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(f"{where}unknown key {key!r}{hint}")
            if not _fits(value, hints[key]):
                raise ConfigError(f"{where}{key} must be {_type_text(hints[key])}, got {value!r}")
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        """A config from a JSON or TOML file, a run's ``metrics.json``, or a run folder.

        This reruns a recorded run: ``train_run(TrainConfig.from_file("runs/latest"))``.
        """
        return cls.from_dict(read_config_file(path), source=path)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The TrainConfig keys a file holds: a JSON or TOML file of them, or a run's record.

    A run folder stands for its ``metrics.json``; a ``metrics.json`` holds the keys under
    ``"config"``. A recorded run that left ``threads`` to PyTorch gets the thread count it ran
    with (``reproducibility.torch_threads``): the weights depend on it, and a rerun on another
    machine, or of a sweep's run, would otherwise use another.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.json"
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from None
    if path.suffix.lower() == ".toml":
        data = _parse_toml(text, path)
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table of options, got {type(data).__name__}")
    if isinstance(data.get("config"), dict):  # a run's metrics.json (or a file shaped like it)
        record, data = data, dict(data["config"])
        threads = record.get("reproducibility", {}).get("torch_threads")
        if data.get("threads") is None and isinstance(threads, int):
            data["threads"] = threads
        if data.get("dataset") is not None:
            # earlier versions recorded them although a dataset's own ground truth was used
            for key in FILE_OPTIONS:
                data.pop(key, None)
    return data


def _parse_toml(text: str, path: Path) -> dict[str, Any]:
    try:
        import tomllib  # Python 3.11 and later
    except ImportError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise ConfigError(
                f"{path}: reading TOML needs Python 3.11 or the tomli package "
                "(pip install tomli); or write the options as JSON"
            ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def _fits(value: Any, hint: Any) -> bool:
    """Whether a value read from a file has the field's type (ints count as floats)."""
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in get_args(hint))
    if origin is Literal:
        return isinstance(value, str)  # which word is validate()'s job, with its message
    if origin is dict:
        return isinstance(value, dict)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True


def _type_text(hint: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = get_args(hint)
        parts = [_type_text(arg) for arg in args if not (arg is int and float in args)]
        return " or ".join(dict.fromkeys(parts))
    if origin is Literal:
        return "one of " + ", ".join(get_args(hint))
    if origin is dict:
        return "a table"
    if hint is type(None):
        return "null"
    return names.get(hint, str(hint))
