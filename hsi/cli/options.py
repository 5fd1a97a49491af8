"""The options ``hsi train`` and ``hsi sweep`` share, written once, and the TrainConfig they
make."""

from __future__ import annotations

import enum
import functools
import inspect
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer

from hsi import config as config_types

if TYPE_CHECKING:
    from hsi.config import TrainConfig


DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Cache folder for downloaded scenes. Default: $HSI_DATA_DIR, else the per-user cache.",
    ),
]


Dataset = Annotated[
    str | None,
    typer.Option(help="A standard scene by name (see `hsi datasets`); downloaded and cached."),
]
SceneFile = Annotated[
    Path | None,
    typer.Option(
        "--scene", help="Your own cube: .mat (v5 or v7.3), .npy, .npz, ENVI .hdr or GeoTIFF .tif."
    ),
]
LabelsFile = Annotated[
    Path | None,
    typer.Option(
        "--labels", help="Ground truth for --scene (may be the same file); 0 = unlabeled."
    ),
]
CubeKey = Annotated[
    str | None, typer.Option(help="Variable holding the cube, when the file has several.")
]
LabelsKey = Annotated[
    str | None,
    typer.Option(help="Variable holding the ground truth, when the file has several."),
]


def _choices(name: str, literal: Any) -> type[enum.Enum]:
    """A str Enum of a config Literal's words, so that --help lists them and click checks them."""
    return enum.Enum(name, {value: value for value in get_args(literal)}, type=str)


SplitChoice = _choices("SplitChoice", config_types.SplitName)
PaddingChoice = _choices("PaddingChoice", config_types.Padding)
PcaFitChoice = _choices("PcaFitChoice", config_types.PcaFit)
NonfiniteChoice = _choices("NonfiniteChoice", config_types.Nonfinite)
InitChoice = _choices("InitChoice", config_types.Init)
DeviceChoice = _choices("DeviceChoice", config_types.Device)
MethodChoice = _choices("MethodChoice", config_types.Method)
ScheduleChoice = _choices("ScheduleChoice", config_types.Schedule)
BatchFormat = enum.Enum("BatchFormat", {f: f for f in ("png", "tif", "hdr")}, type=str)
BatchBackend = enum.Enum("BatchBackend", {b: b for b in ("local", "ray")}, type=str)

Model = Annotated[str, typer.Option(help="Model name; `hsi models` lists them.")]
Pca = Annotated[
    int | None,
    typer.Option(
        help="PCA components kept. Default: the model's own, 30 for every model so far (HybridSN's "
        "setting for Indian Pines, SSFTT's; the HybridSN paper uses 15 for Pavia and Salinas)."
    ),
]
Patch = Annotated[
    int | None,
    typer.Option(
        help="Odd window size around each pixel. Default: the model's (25, the paper's, for "
        "HybridSN and the 2-D backbones; 13 for ssftt; 1 for svm)."
    ),
]
Padding = Annotated[
    PaddingChoice,
    typer.Option(help="How windows at the scene's edge are filled: zeros or a mirror image."),
]
Init = Annotated[
    InitChoice,
    typer.Option(
        help="Weight initialisation: reference (as the model's reference implementation, e.g. "
        "Keras glorot_uniform for HybridSN) or torch (PyTorch's layer defaults, as earlier "
        "versions of hsi did)."
    ),
]
Split = Annotated[
    SplitChoice,
    typer.Option(
        help="stratified (a fraction of each class), per_class (a count per class), or spatial "
        "(whole blocks, no training window overlapping a test pixel)."
    ),
]
BlockSize = Annotated[
    int | None,
    typer.Option(
        help="--split spatial: side of the blocks in pixels. Default: the window, or 2 × "
        "--buffer + 1."
    ),
]
Buffer = Annotated[
    int | None,
    typer.Option(
        help="--split spatial: pixels kept free around the training blocks, at least half the "
        "window. Default: half the window. Give models of different windows the same buffer "
        "to test them on the same pixels."
    ),
]
ValSize = Annotated[
    str,
    typer.Option(
        help="Validation carved from the training pixels: a fraction or a count per class."
    ),
]
Epochs = Annotated[
    int,
    typer.Option(
        help="Most training epochs (the paper: 100). With the other defaults HybridSN reaches "
        "0.95 OA on the semi-synthetic Indian Pines in 10 (docs/benchmarks.md)."
    ),
]
BatchSize = Annotated[
    int,
    typer.Option(
        help="Mini-batch size (the paper: 256 on 30 % of the pixels; 32 gives 10 % of them "
        "enough updates per epoch)."
    ),
]
Lr = Annotated[float, typer.Option(help="Adam learning rate.")]
WeightDecay = Annotated[float, typer.Option(help="Adam weight decay (L2); 0 as in the paper.")]
Patience = Annotated[
    int,
    typer.Option(
        help="Stop after this many epochs without a better validation score (the best weights "
        "are kept); 0 trains every epoch."
    ),
]
Seed = Annotated[int, typer.Option(help="Seed for the split, initialisation and shuffling.")]
Device = Annotated[
    DeviceChoice,
    typer.Option(help="auto: cuda, then mps, then cpu. Pick a GPU with CUDA_VISIBLE_DEVICES."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar, only the result.")]
Width = Annotated[
    float | None, typer.Option(help="Width multiplier (MobileNet, ShuffleNet), e.g. 0.5.")
]
Groups = Annotated[int | None, typer.Option(help="ShuffleNet V1 groups: 1, 2, 3, 4 or 8.")]
Workers = Annotated[
    int,
    typer.Option(
        help="DataLoader worker processes, at most 4 per usable CPU (results do not change)."
    ),
]
Threads = Annotated[
    int | None,
    typer.Option(
        help="PyTorch CPU threads. Default: torch's. The weights depend on it: rerun with the "
        "same count for bit-identical results."
    ),
]
Deterministic = Annotated[
    bool,
    typer.Option(help="Deterministic kernels for bit-identical reruns (no measurable CPU cost)."),
]
Whiten = Annotated[
    bool, typer.Option(help="Scale the PCA components to unit variance (as in the paper).")
]
PcaFit = Annotated[
    PcaFitChoice,
    typer.Option(help="Fit the PCA on the whole scene (the paper) or on the training pixels."),
]
Augment = Annotated[
    bool,
    typer.Option(help="Train on each window in one of its 8 flips/90° rotations (seeded)."),
]
Tta = Annotated[
    bool,
    typer.Option(
        help="Map with the mean logits of the 8 flips/rotations of each window (8× the work); "
        "train with --augment too, or it lowers accuracy."
    ),
]
LabelSmoothing = Annotated[
    float, typer.Option(help="Cross-entropy label smoothing, in [0, 1); 0 as in the paper.")
]
Schedule = Annotated[
    ScheduleChoice,
    typer.Option(help="Learning rate: constant (the paper) or cosine decay to 0 over --epochs."),
]
Warmup = Annotated[
    int, typer.Option(help="Epochs of linear learning-rate warm-up before the schedule.")
]
NonFinite = Annotated[
    NonfiniteChoice,
    typer.Option(help="NaN/Inf pixels: error, or mask (zero-fill and treat as unlabeled)."),
]


def _keyword(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="Rerun a recorded run: its metrics.json (or run folder), or a JSON or TOML file with "
        "TrainConfig's keys. Options typed on the command line replace the file's.",
    ),
]

# The options `hsi train` and `hsi sweep` share, written once: the scene first, then (after the
# command's own options) the recipe.
_SCENE_OPTIONS = [
    _keyword("config", ConfigFile, None),
    _keyword("dataset", Dataset, None),
    _keyword("scene", SceneFile, None),
    _keyword("labels", LabelsFile, None),
    _keyword("cube_key", CubeKey, None),
    _keyword("labels_key", LabelsKey, None),
    _keyword("model", Model, "hybridsn"),
]
_RECIPE_OPTIONS = [
    _keyword("pca", Pca, None),
    _keyword("patch", Patch, None),
    _keyword("split", Split, "stratified"),
    _keyword("val_size", ValSize, "0.1"),
    _keyword("epochs", Epochs, 40),
    _keyword("batch_size", BatchSize, 32),
    _keyword("lr", Lr, 1e-3),
    _keyword("weight_decay", WeightDecay, 0.0),
    _keyword("patience", Patience, 20),
    _keyword("augment", Augment, False),
    _keyword("tta", Tta, False),
    _keyword("label_smoothing", LabelSmoothing, 0.0),
    _keyword("schedule", Schedule, "constant"),
    _keyword("warmup", Warmup, 0),
    _keyword("device", Device, "auto"),
    _keyword("data_dir", DataDir, None),
    _keyword("width", Width, None),
    _keyword("groups", Groups, None),
    _keyword("init", Init, "reference"),
    _keyword("padding", Padding, "zero"),
    _keyword("block_size", BlockSize, None),
    _keyword("buffer", Buffer, None),
    _keyword("workers", Workers, 0),
    _keyword("threads", Threads, None),
    _keyword("deterministic", Deterministic, True),
    _keyword("whiten", Whiten, True),
    _keyword("pca_fit", PcaFit, "scene"),
    _keyword("nonfinite", NonFinite, "error"),
    _keyword("quiet", Quiet, False),
]


def with_training_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``command(**options)`` the options train and sweep share, around its own ones.

    typer reads a command's options from its signature; this one is the command's own
    parameters between the scene options and the recipe options.

    The command also gets ``typed``: the names of the options given on the command line (or
    by their environment variable), as opposed to those left at their defaults; options read
    from a ``--config`` file give way to those only.
    """
    own = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for p in inspect.signature(command, eval_str=True).parameters.values()
        if p.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    context = inspect.Parameter(
        "ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context
    )
    params = [context] + _SCENE_OPTIONS + own + _RECIPE_OPTIONS

    @functools.wraps(command)
    def wrapper(ctx: typer.Context, **options: Any) -> Any:
        return command(**options, typed=typed_options(ctx))

    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def typed_options(ctx: typer.Context) -> frozenset[str]:
    """The options of ``ctx``'s command given on the command line or by environment variable."""
    typed = set()
    for name in ctx.params:
        source = ctx.get_parameter_source(name)
        if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP"):
            typed.add(name)
    return frozenset(typed)


def _value(choice: Any) -> Any:
    return choice.value if isinstance(choice, enum.Enum) else choice


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def build_config(
    *,
    config: Path | None = None,
    typed: Collection[str] | None = None,
    **options: Any,
) -> TrainConfig:
    """A validated TrainConfig from the options of train and sweep, each passed by name.

    With ``config`` (a file :meth:`TrainConfig.from_file` reads) the file's options are the base
    and only the options named in ``typed`` (those the user gave) replace them; a scene given
    (dataset or scene) replaces the file's whole scene, and another model drops the file's
    model options. Without it every option counts.
    """
    from hsi.config import TrainConfig, read_config_file
    from hsi.errors import ConfigError

    given = _config_fields(**options)
    if config is None:
        return TrainConfig(**given).validate()
    in_file = read_config_file(config)
    recorded = TrainConfig.from_dict(in_file, source=config).to_dict()
    typed = set(typed or ())
    if typed & {"dataset", "scene"}:
        for key in ("dataset", "scene", "labels", "cube_key", "labels_key"):
            recorded[key] = None
    if "model" in typed and given["model"] != recorded["model"]:
        recorded["model_options"] = {}
    if typed & {"width", "groups"}:
        typed.add("model_options")
        given["model_options"] = {**recorded["model_options"], **given["model_options"]}
    recorded.update({key: value for key, value in given.items() if key in typed})
    try:
        return TrainConfig(**recorded).validate()
    except ConfigError as exc:
        # a value the file gives is named as the file spells it, after the file's name; one
        # typed (or missing from both) keeps its command-line spelling
        keys = {p for p in exc.params if p in in_file and p not in typed}
        if not keys:
            raise
        others = tuple(p for p in exc.params if p not in keys)
        raise ConfigError(f"{config}: {exc}", params=others) from None


def _config_fields(
    *,
    dataset: str | None,
    scene: Path | None,
    labels: Path | None,
    cube_key: str | None,
    labels_key: str | None,
    model: str,
    pca: int | None,
    patch: int | None,
    split: Any,
    train_size: str | float | int,
    val_size: str | float | int,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    patience: int,
    augment: bool,
    tta: bool,
    label_smoothing: float,
    schedule: Any,
    warmup: int,
    seed: int,
    device: Any,
    out: Path,
    data_dir: Path | None,
    width: float | None,
    groups: int | None,
    init: Any,
    padding: Any,
    block_size: int | None,
    buffer: int | None,
    workers: int,
    threads: int | None,
    deterministic: bool,
    whiten: bool,
    pca_fit: Any,
    nonfinite: Any,
) -> dict[str, Any]:
    """The TrainConfig fields the options of train and sweep give, each passed by name."""
    from hsi.splits import parse_size

    def size(text: str | float | int, option: str) -> float | int:
        if not isinstance(text, str):
            return text
        return 0 if text == "0" else parse_size(text, option)

    model_options = {k: v for k, v in (("width", width), ("groups", groups)) if v is not None}
    return dict(
        dataset=dataset,
        scene=_text(scene),
        labels=_text(labels),
        cube_key=cube_key,
        labels_key=labels_key,
        data_dir=_text(data_dir),
        nonfinite=_value(nonfinite),
        pca=pca,
        whiten=whiten,
        pca_fit=_value(pca_fit),
        patch=patch,
        padding=_value(padding),
        split=_value(split),
        train_size=size(train_size, "train_size"),
        val_size=size(val_size, "val_size"),
        block_size=block_size,
        buffer=buffer,
        model=model,
        model_options=model_options,
        init=_value(init),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        patience=patience,
        augment=augment,
        tta=tta,
        label_smoothing=label_smoothing,
        schedule=_value(schedule),
        warmup=warmup,
        seed=seed,
        deterministic=deterministic,
        workers=workers,
        threads=threads,
        device=_value(device),
        out=str(out),
    )


TrainSize = Annotated[
    str, typer.Option(help="Training share: a fraction like 0.1, or a count per class like 50.")
]
Out = Annotated[
    Path,
    typer.Option(
        help="Folder for run folders; OUT/latest points at the newest.", envvar="HSI_RUNS"
    ),
]
Runs = Annotated[
    Path,
    typer.Option(
        help="The folder `hsi train --out` wrote to: its latest run is the default model.",
        envvar="HSI_RUNS",
    ),
]
