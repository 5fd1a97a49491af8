"""``hsi predict``: one scene, or many into a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hsi.cli.app import _progress, app, user_errors
from hsi.cli.options import (
    BatchBackend,
    BatchFormat,
    CubeKey,
    DataDir,
    Device,
    LabelsKey,
    MethodChoice,
    NonFinite,
    Quiet,
    Runs,
    _value,
)


@app.command("predict")
@user_errors
def predict(
    ctx: typer.Context,
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
        typer.Option(
            help="auto, dense (a whole-scene pass sharing work between windows: HybridSN, "
            "its attention variants, SSFTT) or patches."
        ),
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
    confidence: Annotated[
        bool,
        typer.Option(
            "--confidence",
            help="Also each pixel's largest class probability, beside a .tif or .hdr map "
            "(OUT_confidence.tif / .hdr, float32).",
        ),
    ] = False,
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

    many = out_dir is not None or len(scenes or []) > 1
    _refuse_options_of_the_other_mode(ctx, many)
    if many:
        _predict_many(
            scenes or [], out_dir, model, runs, dataset, labels, mask, _value(format),
            _value(backend), address, _value(method), _value(device), _value(nonfinite), tta,
            cube_key, labels_key, confidence,
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
        confidence=confidence,
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


def _refuse_options_of_the_other_mode(ctx: typer.Context, many: bool) -> None:
    """--out names one map; --format, --backend and --address shape --out-dir's: an option
    given for the other mode is refused rather than ignored."""
    from hsi.errors import ConfigError

    def given(name: str) -> bool:
        # by name: typer may bring its own copy of click, whose enum is not click's
        source = ctx.get_parameter_source(name)
        return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")

    if many and given("out"):
        raise ConfigError(
            "out: for one scene; out_dir names each map after its scene (OUT_DIR/<scene>.png, "
            "or the suffix format gives)",
            params=("out", "out_dir", "format"),
        )
    wrong = [name for name in ("format", "backend", "address") if given(name)]
    if not many and wrong:
        # --backend and --address have no one-scene meaning; --format has --out's suffix
        suffix = "; one map's kind follows the suffix of out" if "format" in wrong else ""
        raise ConfigError(
            f"{', '.join(wrong)}: for out_dir DIR (several scenes){suffix}",
            params=(*wrong, "out_dir", "out"),
        )


def _predict_many(
    scenes, out_dir, model, runs, dataset, labels, mask, fmt, backend, address, method, device,
    nonfinite, tta, cube_key, labels_key, confidence,
) -> None:  # fmt: skip
    """``hsi predict A B C --out-dir DIR``: one map per scene, the failures listed at the end."""
    from hsi.batch import map_scenes
    from hsi.bundle import find_bundle
    from hsi.errors import ConfigError

    if out_dir is None:
        raise ConfigError("several scenes need out_dir DIR to map them into", params=("out_dir",))
    one_scene = (("dataset", dataset), ("labels", labels), ("labels_key", labels_key))
    given = [k for k, v in (*one_scene, ("mask", mask)) if v]
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
        cube_key=cube_key,
        confidence=confidence,
    )
    ok = len(result.rows) - len(result.failed)
    typer.echo(f"{ok} of {len(result.rows)} scenes mapped into {result.folder}")
    typer.echo(f"summary: {result.summary}")
    if result.failed:
        for row in result.rows:
            if row["status"] != "ok":
                name, error = Path(row["scene"]).name, row["error"]
                # most errors name their file already: "x.mat: x.mat has …" says it twice
                where = "" if error.startswith((f"{name}:", f"{name} ")) else f"{name}: "
                typer.echo(f"error: {where}{error}", err=True)
        raise typer.Exit(1)
