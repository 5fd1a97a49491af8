"""``hsi train``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hsi.cli.app import _progress, app, user_errors
from hsi.cli.options import (
    Out,
    Seed,
    TrainSize,
    build_config,
    with_training_options,
)


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
    OA / AA / Kappa. Ctrl-C stops training and still writes the best bundle so far (exit
    code 130).
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
    if result.interrupted:  # saved, but not the run asked for: `hsi train … && next` stops
        typer.echo(
            "interrupted: training stopped early; the run holds the best weights so far", err=True
        )
        raise typer.Exit(130)
