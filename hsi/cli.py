"""The ``hsi`` command line: thin — parse, call the API, print.

Every error caused by the user's input is printed as one line ``error: …`` and exits with code 2,
without a traceback.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import inspect
import logging
import sys
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer
from typer.core import TyperGroup

from hsi import config as config_types
from hsi.errors import HSIError

try:  # recent typer carries its own copy of click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer on top of click
    from click import exceptions as click_exceptions

if TYPE_CHECKING:
    from hsi.config import TrainConfig


class OneLineErrors(TyperGroup):
    """Usage errors (``--pca abc``, an unknown option) as one ``error: …`` line, exit code 2.

    click prints three lines (Usage, Try, Error) for those; the project's own errors are one line,
    and a script checking stderr should not have to tell the two kinds apart.
    """

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        no_args_help = getattr(click_exceptions, "NoArgsIsHelpError", ())
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except no_args_help as exc:  # bare `hsi`: the help text, as click shows it
            exc.show()
            sys.exit(exc.exit_code)
        except click_exceptions.ClickException as exc:
            message = " ".join(exc.format_message().split()).rstrip(".")
            ctx = getattr(exc, "ctx", None)
            hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            typer.echo(f"error: {message[:1].lower()}{message[1:]}{hint}", err=True)
            sys.exit(2)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        # without standalone mode click returns a typer.Exit's code, or the command's None
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=OneLineErrors,
    name="hsi",
    help=(
        "Hyperspectral image classification: train HybridSN and friends on a standard or your own "
        "scene, map whole scenes, and measure how results vary over seeds.\n\n"
        "\b\nTypical use:\n"
        "  hsi datasets                          list the standard scenes, cached or not\n"
        "  hsi train --dataset indian_pines --model hybridsn\n"
        "  hsi predict scene.mat --out map.png   map a scene with the latest model\n"
        "  hsi sweep --dataset indian_pines --model hybridsn --seeds 0-9\n\n"
        "Every command has --help. Errors in the input are one line, exit code 2."
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
datasets_app = typer.Typer(
    help="The standard public scenes: list them (default) or download one into the cache.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(datasets_app, name="datasets")


def _print_version(value: bool) -> None:
    if value:
        from hsi import __version__

        typer.echo(f"hsi {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    # no docstring: the app's help text stays the one given to typer.Typer above
    pass


class _EchoHandler(logging.Handler):
    """A log record as a bare line on stderr (the one in use when it is written)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            typer.echo(self.format(record), err=True)
        except Exception:  # pragma: no cover - as logging.StreamHandler does
            self.handleError(record)


@contextlib.contextmanager
def library_messages(quiet: bool) -> Iterator[None]:
    """The library's messages (the ``hsi`` loggers) on stderr while a command runs.

    INFO and up, or WARNING and up with --quiet; each as a bare line, as the CLI always
    printed them. The logger's level and handlers are restored afterwards.
    """
    logger = logging.getLogger("hsi")
    handler, level = _EchoHandler(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def user_errors(func):
    """Turn HSIError into ``error: …`` on stderr and exit code 2; Ctrl-C into exit code 130.

    The library's log messages are shown while the command runs (:func:`library_messages`;
    warnings only when the command's ``quiet`` option is on).
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with library_messages(bool(kwargs.get("quiet", False))):
                return func(*args, **kwargs)
        except HSIError as exc:
            typer.echo(f"error: {' '.join(exc.cli_message().split())}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


def _progress(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def _unfit_models(n_components: int, patch: int, classes: int) -> dict[str, Exception]:
    """The models that cannot take these sizes, with the reason; an error when none can.

    HybridSN needs 13 components: that must not hide the models that take 5.
    """
    from hsi.errors import ModelError
    from hsi.models import create_model, list_models

    unfit: dict[str, Exception] = {}
    for name in list_models():
        try:
            create_model(name, n_components=n_components, patch=patch, n_classes=classes)
        except ModelError as exc:
            unfit[name] = exc
    if len(unfit) == len(list_models()):
        raise next(iter(unfit.values()))
    return unfit


# --------------------------------------------------------------------------- datasets
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Cache folder for downloaded scenes. Default: $HSI_DATA_DIR, else the per-user cache.",
    ),
]


@datasets_app.callback()
@user_errors
def datasets(ctx: typer.Context, data_dir: DataDir = None) -> None:
    """List the standard scenes: size H×W×B, classes, labeled pixels, cached or not, and where."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from hsi.data.fetch import dataset_status

    table = Table(title="Standard scenes")
    for col in ("name", "title", "H×W×B", "classes", "labeled", "cached", "where"):
        table.add_column(col, overflow="fold")
    for row in dataset_status(data_dir):
        h, w, b = row["shape"]
        table.add_row(
            row["name"],
            row["title"],
            f"{h}×{w}×{b}",
            str(row["classes"]),
            f"{row['labeled']:,}",
            "yes" if row["cached"] else "no",
            str(row["where"]),
        )
    Console(width=max(120, Console().width)).print(table)


@datasets_app.command("download")
@user_errors
def datasets_download(
    name: Annotated[str, typer.Argument(help="Scene name, as listed by `hsi datasets`.")],
    data_dir: DataDir = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Download one scene into the cache (checksum verified), or check the cached copy."""
    from hsi.data.fetch import download_dataset

    paths = download_dataset(name, data_dir, progress=_progress(quiet))
    for role, path in paths.items():
        typer.echo(f"{role}: {path}")


# --------------------------------------------------------------------------- models
@app.command("models")
@user_errors
def models(
    pca: Annotated[
        int,
        typer.Option(
            "--pca",
            "--bands",
            help="PCA components k, the models' input channels (--bands: old name).",
        ),
    ] = 30,
    patch: Annotated[int, typer.Option(help="Patch size p (odd).")] = 25,
    classes: Annotated[int, typer.Option(help="Number of classes K.")] = 16,
    timing: Annotated[
        bool,
        typer.Option(
            help="Measure CPU milliseconds per patch (inference) and training samples per second."
        ),
    ] = True,
) -> None:
    """Table of the registered models: parameters, multiply-adds, inference and training speed.

    Training speed is a forward, backward and Adam step on batches of 32 (the default
    --batch-size). The svm's size and speed depend on its fit (its support vectors): its row
    has no figures.
    """
    from rich.console import Console
    from rich.table import Table

    from hsi.models import list_models
    from hsi.models.summary import model_summary
    from hsi.preprocess import check_components

    check_components(pca)
    unfit = _unfit_models(pca, patch, classes)

    table = Table(title=f"Models for k={pca}, p={patch}, K={classes}")
    columns = ("name", "parameters", "multiply-adds", "CPU ms/patch", "train samples/s (32)")
    for col in columns:
        table.add_column(col, justify="left" if col == "name" else "right")
    for name in list_models():
        if name in unfit:
            table.add_row(f"{name} (does not fit)", *["-"] * (len(table.columns) - 1))
            continue
        s = model_summary(
            name, n_components=pca, patch=patch, n_classes=classes, repeats=3 if timing else 0
        )
        table.add_row(
            name,
            _fmt(s["params"], "{:,}"),
            _fmt(s["macs"] and s["macs"] / 1e6, "{:,.1f} M"),
            _fmt(s["ms_per_patch"], "{:.2f}"),
            _fmt(s["train_samples_per_s"], "{:,.1f}"),
        )
    Console().print(table)
    for exc in unfit.values():
        typer.echo(f"does not fit: {exc}")


def _fmt(value, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


# --------------------------------------------------------------------------- train
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
        "HybridSN and the 2-D backbones; 1 for svm)."
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
    typer.Option(help="--split spatial: side of the blocks in pixels. Default: from the window."),
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
Workers = Annotated[int, typer.Option(help="DataLoader worker processes (results do not change).")]
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
        help="Map with the mean logits of the 8 flips/rotations of each window (8× the work)."
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
    _keyword("epochs", Epochs, 30),
    _keyword("batch_size", BatchSize, 32),
    _keyword("lr", Lr, 1e-3),
    _keyword("weight_decay", WeightDecay, 0.0),
    _keyword("patience", Patience, 10),
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

    given = _config_fields(**options)
    if config is None:
        return TrainConfig(**given).validate()
    recorded = TrainConfig.from_dict(read_config_file(config), source=config).to_dict()
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
    return TrainConfig(**recorded).validate()


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
    workers: int,
    threads: int | None,
    deterministic: bool,
    whiten: bool,
    pca_fit: Any,
    nonfinite: Any,
) -> dict[str, Any]:
    """The TrainConfig fields the options of train and sweep give, each passed by name."""
    from hsi.splits import parse_size

    def size(text: str | float | int) -> float | int:
        if not isinstance(text, str):
            return text
        return 0 if text == "0" else parse_size(text)

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
        train_size=size(train_size),
        val_size=size(val_size),
        block_size=block_size,
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


@app.command("train")
@user_errors
@with_training_options
def train(
    train_size: TrainSize = "0.1",
    seed: Seed = 0,
    out: Out = Path("runs"),
    **options: Any,
) -> None:
    """Train a model on a scene; write model.pt, metrics, maps and figures to a run folder.

    The kept weights are the best on the validation pixels; test pixels serve only the final
    OA / AA / Kappa. Ctrl-C stops training and still writes the best bundle so far.
    `hsi train --config runs/<run>/metrics.json` reruns a run with its options (and seed).
    """
    quiet = options.pop("quiet")
    config = build_config(**options, train_size=train_size, seed=seed, out=out)
    from hsi.experiment import train_run

    result = train_run(config, progress=_progress(quiet))
    if result.run_dir is None:  # a torchrun rank other than 0: rank 0 reports
        return
    m = result.metrics
    scores = f"OA {m['oa']:.4f}  AA {m['aa']:.4f}  Kappa {m['kappa']:.4f}"
    typer.echo(f"{scores}  ({m['split']['test']} test pixels)")
    typer.echo(f"run: {result.run_dir}")
    if result.interrupted:
        typer.echo("training was interrupted; the bundle holds the best weights so far", err=True)


# --------------------------------------------------------------------------- predict
@app.command("predict")
@user_errors
def predict(
    scenes: Annotated[
        list[Path] | None,
        typer.Argument(
            help="The cube(s) to map: .mat, .npy, .npz, ENVI .hdr or GeoTIFF .tif (or "
            "--dataset). Several: each into --out-dir.",
            show_default=False,
        ),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            help="A standard scene to map instead of SCENE (see `hsi datasets`); its ground "
            "truth gives the metrics."
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(
            help="The map, its format by suffix: .png (with a legend; the ids as .npy and .mat "
            "beside it), .tif (GeoTIFF with the scene's CRS, colours and a QGIS style) or .hdr "
            "(ENVI classification)."
        ),
    ] = Path("map.png"),
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", help="Model bundle (model.pt or a run folder). Default: RUNS/latest."
        ),
    ] = None,
    runs: Runs = Path("runs"),
    labels: Annotated[
        Path | None, typer.Option(help="Ground truth: adds metrics and a panels figure.")
    ] = None,
    cube_key: CubeKey = None,
    labels_key: LabelsKey = None,
    mask: Annotated[
        bool, typer.Option("--mask", help="Classify only labeled pixels; others stay 0.")
    ] = False,
    method: Annotated[
        MethodChoice,
        typer.Option(help="auto, dense (whole-scene pass, stride-1 models) or patches."),
    ] = "auto",
    device: Device = "auto",
    nonfinite: NonFinite = "error",
    tta: Annotated[
        bool | None,
        typer.Option(
            "--tta/--no-tta",
            help="Mean logits of the 8 flips/rotations of each window. Default: as trained.",
        ),
    ] = None,
    data_dir: DataDir = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            help="Map several scenes: each into OUT_DIR/<scene>.<format>, with "
            "OUT_DIR/summary.csv; a scene that fails is reported and the others go on."
        ),
    ] = None,
    format: Annotated[
        BatchFormat, typer.Option("--format", help="With --out-dir: the maps' format.")
    ] = "png",
    backend: Annotated[
        BatchBackend,
        typer.Option(help="With --out-dir: map here, or one Ray task per scene (docs/scale.md)."),
    ] = "local",
    address: Annotated[
        str | None, typer.Option(help="--backend ray: an existing cluster (auto, ray://…).")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Classify every pixel of a scene with a trained bundle, keeping the ground truth's ids.

    The scene is reduced with the bundle's own PCA (never refitted) and every evaluation runs
    with dropout off. Writes OUT (.png with a legend, plus OUT.npy and OUT.mat; .tif GeoTIFF
    plus a QGIS style; .hdr ENVI classification); with --labels (or --dataset) also
    OUT_panels.png (RGB view, ground truth, prediction, errors) and OUT_metrics.json.
    The model is --model, else the latest run of --runs (or $HSI_RUNS, else ./runs).
    """
    from hsi.experiment import predict_run

    if out_dir is not None or len(scenes or []) > 1:
        _predict_many(
            scenes or [], out_dir, model, runs, dataset, labels, mask, _value(format),
            _value(backend), address, _value(method), _value(device), _value(nonfinite), tta,
        )  # fmt: skip
        return
    summary = predict_run(
        scenes[0] if scenes else None,
        out,
        bundle_path=model,
        runs=runs,
        dataset=dataset,
        data_dir=data_dir,
        labels=labels,
        cube_key=cube_key,
        labels_key=labels_key,
        mask=mask,
        nonfinite=_value(nonfinite),
        method=_value(method),
        device=_value(device),
        tta=tta,
        progress=_progress(quiet),
    )
    typer.echo(f"model: {summary['bundle']}")
    rate = summary["pixels"] / summary["seconds"] if summary["seconds"] else float("inf")
    typer.echo(f"{summary['pixels']:,} pixels in {summary['seconds']:.2f} s ({rate:,.0f} pixels/s)")
    if "metrics" in summary:
        m = summary["metrics"]
        typer.echo(f"OA {m['oa']:.4f}  AA {m['aa']:.4f}  Kappa {m['kappa']:.4f}")
    for role, path in summary["outputs"].items():
        typer.echo(f"{role}: {path}")


def _predict_many(
    scenes, out_dir, model, runs, dataset, labels, mask, fmt, backend, address, method, device,
    nonfinite, tta,
) -> None:  # fmt: skip
    """``hsi predict A B C --out-dir DIR``: one map per scene, the failures listed at the end."""
    from hsi.batch import map_scenes
    from hsi.bundle import find_bundle
    from hsi.errors import ConfigError

    if out_dir is None:
        raise ConfigError("several scenes need out_dir DIR to map them into", params=("out_dir",))
    given = [k for k, v in (("dataset", dataset), ("labels", labels), ("mask", mask)) if v]
    if given:
        raise ConfigError(
            f"{', '.join(given)}: for one scene; out_dir maps scenes without ground truth",
            params=(*given, "out_dir"),
        )
    result = map_scenes(
        scenes,
        out_dir,
        bundle_path=find_bundle(model, runs=runs),
        fmt=fmt,
        backend=backend,
        address=address,
        method=method,
        device=device,
        nonfinite=nonfinite,
        tta=tta,
    )
    ok = len(result.rows) - len(result.failed)
    typer.echo(f"{ok} of {len(result.rows)} scenes mapped into {result.folder}")
    typer.echo(f"summary: {result.summary}")
    if result.failed:
        for row in result.rows:
            if row["status"] != "ok":
                typer.echo(f"error: {Path(row['scene']).name}: {row['error']}", err=True)
        raise typer.Exit(1)


# --------------------------------------------------------------------------- sweep
SweepBackend = enum.Enum("SweepBackend", {"local": "local", "ray": "ray"}, type=str)


def _options_for(name: str, names: list[str], options: dict[str, Any]) -> dict[str, Any]:
    """``options`` for model ``name`` of a sweep over ``names``: --width and --groups go to the
    models that take them (an error when none does)."""
    from hsi.errors import ConfigError
    from hsi.models import model_options

    if len(names) == 1:
        return {**options, "model": name}
    mine = {**options, "model": name}
    for key in ("width", "groups"):
        if options.get(key) is None:
            continue
        if not any(key in model_options(n) for n in names):
            raise ConfigError(
                f"{key}: none of the models {', '.join(names)} takes it", params=(key,)
            )
        if key not in model_options(name):
            mine[key] = None
    return mine


@app.command("sweep")
@user_errors
@with_training_options
def sweep(
    seeds: Annotated[
        str, typer.Option(help="Seeds to run: a range 0-9, a list 0,3,7, or both: 0-4,10.")
    ] = "0-9",
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", "-j", help="Runs trained in parallel; the CPU cores are shared among them."
        ),
    ] = 1,
    train_size: Annotated[
        str,
        typer.Option(
            help="Training share, or several for a second axis: 0.05,0.1,0.3 (fractions) or "
            "10,50 (counts per class)."
        ),
    ] = "0.1",
    models: Annotated[
        str | None,
        typer.Option(
            help="Several models, a third axis: hybridsn,mobilenet_v2,svm. Each takes its own "
            "window and PCA unless --patch / --pca are given. Replaces --model."
        ),
    ] = None,
    backend: Annotated[
        SweepBackend,
        typer.Option(
            help="local: this machine (--jobs processes); ray: a Ray task per run, on a local "
            "Ray or the cluster at --address (docs/scale.md)."
        ),
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            help="--backend ray: the cluster to join, auto or ray://HOST:PORT. Default: start "
            "a Ray on this machine and stop it at the end."
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(
            help="Parent folder: the sweep goes to OUT/sweep_<scene>_<model>/.", envvar="HSI_RUNS"
        ),
    ] = Path("runs"),
    **options: Any,
) -> None:
    """Train once per seed (and training size, and model); summarise OA, AA, Kappa and
    per-class accuracy.

    Writes a run folder per (training size, seed) under OUT/sweep_<scene>_<model>/ (several
    models: OUT/sweep_<scene>_<m1>+<m2>/<model>/), then sweep.csv (a row per run),
    summary.json and summary.md (mean ± std, min, max, 95 % CI) and sweep.png. Rerunning the
    same command skips the runs already finished, so an interrupted sweep resumes where it
    stopped. The scene is read (and, with --pca-fit scene, reduced) once for all runs.
    --config takes a run's recipe (its seed gives way to --seeds).
    """
    from hsi.sweep import headline, parse_models, parse_seeds, parse_train_sizes, run_sweep

    quiet = options.pop("quiet")
    seed_list = parse_seeds(seeds)
    sizes = parse_train_sizes(train_size)
    typed = options.pop("typed") | {"seed"}  # --seeds decides, whatever a --config file says
    if models is not None:
        typed = typed | {"model"}  # --models decides too
    names = parse_models(models) if models is not None else [options["model"]]
    configs = [
        build_config(
            **_options_for(name, names, options),
            train_size=sizes[0],
            seed=seed_list[0],
            out=out,
            typed=typed,
        )
        for name in names
    ]
    if options["config"] is not None and "train_size" not in typed:
        sizes = [configs[0].train_size]
    result = run_sweep(
        configs,
        seed_list,
        sizes,
        jobs=jobs,
        backend=_value(backend),
        address=address,
        progress=_progress(quiet),
    )

    from rich.console import Console
    from rich.table import Table

    header, rows = headline(result.summary)
    title = f"{configs[0].scene_name} — {', '.join(names)}: {len(seed_list)} seeds"
    table = Table(title=title)
    for col in header:
        left = col in ("model", "train size")
        table.add_column(col, justify="left" if left else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    Console(width=max(100, Console().width)).print(table)
    typer.echo(f"sweep: {result.folder}  ({result.ran} trained, {result.skipped} already done)")
    for role, path in result.outputs.items():
        typer.echo(f"{role}: {path}")


if __name__ == "__main__":  # pragma: no cover
    app()
