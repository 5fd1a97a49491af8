"""``hsi datasets`` and ``hsi models``: what there is to train on and with."""

from __future__ import annotations

from typing import Annotated

import typer

from hsi.cli.app import _progress, app, datasets_app, user_errors
from hsi.cli.options import (
    DataDir,
)


@datasets_app.callback()
@user_errors
def datasets(ctx: typer.Context, data_dir: DataDir = None) -> None:
    """List the standard scenes: size H×W×B, classes, labeled pixels, cached or not, and where;
    then the source to cite for each."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from hsi.data.fetch import dataset_status

    table = Table(title="Standard scenes")
    for col in ("name", "title", "H×W×B", "classes", "labeled", "cached", "where"):
        table.add_column(col, overflow="fold")
    rows = dataset_status(data_dir)
    for row in rows:
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
    console = Console(width=max(120, Console().width))
    console.print(table)
    from hsi.data.registry import get_scene_info

    # scenes sharing a source are cited once, by all their names
    sources: dict[str, list[str]] = {}
    for row in rows:
        sources.setdefault(get_scene_info(row["name"]).citation, []).append(row["name"])
    console.print("Cite when you publish results obtained with them:", highlight=False)
    for citation, names in sources.items():
        console.print(f"  {', '.join(names)}: {citation}", highlight=False, soft_wrap=True)


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
    from hsi.patches import check_patch_size

    check_patch_size(patch)  # an even window fits no model: say that, not one model's minimum
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
