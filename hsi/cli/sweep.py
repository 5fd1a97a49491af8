"""``hsi sweep``: seeds, training sizes and models, here or on Ray."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import typer

from hsi.cli.app import _progress, app, user_errors
from hsi.cli.options import (
    _value,
    build_config,
    with_training_options,
)

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
    try:
        result = run_sweep(
            configs,
            seed_list,
            sizes,
            jobs=jobs,
            backend=_value(backend),
            address=address,
            progress=_progress(quiet),
        )
    except KeyboardInterrupt:
        # a run's own account ("nothing was saved") is not the sweep's: its finished runs stay
        raise KeyboardInterrupt from None

    from rich.console import Console
    from rich.table import Table

    header, rows = headline(result.summary)
    seeds = f"{len(seed_list)} seed" + ("s" if len(seed_list) != 1 else "")
    title = f"{configs[0].scene_name} — {', '.join(names)}: {seeds}"
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
