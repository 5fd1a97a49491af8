"""What Ray costs: the same 6-run sweep with `--backend local --jobs 2` and `--backend ray`.

Scene: a synthetic 48×48 cube with 60 bands and 5 classes (``--quick``: 24×24, 20 bands, 3
classes, 1 epoch: a check that the script runs, not a measurement). HybridSN, PCA 13, patch 9,
30 % stratified training pixels, 5 epochs, seeds 0-5, one PyTorch thread per run in both
backends (``--jobs 2`` on two cores; Ray tasks of ``num_cpus=1`` on a local Ray with as many
CPUs as this machine has), so both train two runs at a time and give bit-identical weights,
which is checked.

Reported: the wall time of each sweep, the time to start (and stop) the local Ray, and Ray's
overhead per run = (Ray sweep − local sweep) / runs, with and without starting Ray. The
machine's load is recorded first (benchmarks/common.py): on two cores a busy machine makes
the seconds meaningless.

    python benchmarks/bench_scale.py                 # about 2 minutes on 2 idle cores
    python benchmarks/bench_scale.py --quick         # seconds: does it run?
    python benchmarks/bench_scale.py --json out.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def weights_hash(bundle: Path) -> str:
    import torch

    state = torch.load(bundle, weights_only=True)["state_dict"]
    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def main() -> None:
    from common import Timer, machine_state, save_npz

    from hsi.config import TrainConfig
    from hsi.data.synthetic import make_scene
    from hsi.seeding import usable_cores
    from hsi.sweep import run_sweep

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a tiny scene and 1 epoch: a smoke test")
    p.add_argument("--seeds", type=int, default=6, help="runs per sweep (seeds 0..N-1)")
    p.add_argument("--epochs", type=int, default=None, help="default 5 (--quick: 1)")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args()
    machine = machine_state("bench_scale")
    try:
        import ray
    except ImportError:
        raise SystemExit("bench_scale needs Ray: pip install -e '.[ray]'") from None

    side, bands, classes = (24, 20, 3) if args.quick else (48, 60, 5)
    epochs = args.epochs or (1 if args.quick else 5)
    seeds = list(range(args.seeds))
    jobs = 2
    results: dict[str, object] = {"machine": machine, "ray": ray.__version__, "jobs": jobs}
    with tempfile.TemporaryDirectory() as tmp:
        scene = make_scene(side, side, bands=bands, n_classes=classes, seed=0)
        path = save_npz(scene, Path(tmp))
        config = TrainConfig(
            scene=str(path), labels=str(path), model="hybridsn", pca=13, patch=9,
            epochs=epochs, train_size=0.3, batch_size=32, device="cpu", threads=1,
        )  # fmt: skip
        settings = (
            f"{side}×{side}×{bands} synthetic scene, {classes} classes; HybridSN, PCA 13, "
            f"patch 9, 30 % training pixels, {epochs} epochs, {len(seeds)} seeds, "
            f"1 thread per run, {jobs} runs at a time"
        )
        print(settings, flush=True)

        with Timer() as local_t:
            local = run_sweep(config, seeds, folder=Path(tmp) / "local", jobs=jobs)
        print(f"local --jobs {jobs}: {local_t.seconds:.1f} s", flush=True)

        cpus = usable_cores()
        with Timer() as start_t:
            ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)
        try:
            with Timer() as ray_t:
                remote = run_sweep(
                    config, seeds, folder=Path(tmp) / "ray", jobs=jobs, backend="ray"
                )
        finally:
            with Timer() as stop_t:
                ray.shutdown()
        print(f"ray: {ray_t.seconds:.1f} s (+ {start_t.seconds:.1f} s to start Ray on {cpus} "
              f"CPUs, {stop_t.seconds:.1f} s to stop it)", flush=True)  # fmt: skip

        same = [
            weights_hash(Path(local.folder) / a["run"] / "model.pt")
            == weights_hash(Path(remote.folder) / b["run"] / "model.pt")
            for a, b in zip(local.rows, remote.rows, strict=True)
        ]
        run_s = {
            "local": sum(r["total_time_s"] for r in local.rows),
            "ray": sum(r["total_time_s"] for r in remote.rows),
        }

    n = len(seeds)
    per_run = (ray_t.seconds - local_t.seconds) / n
    per_run_start = (ray_t.seconds + start_t.seconds + stop_t.seconds - local_t.seconds) / n
    results.update(
        settings=settings,
        runs=n,
        local_s=local_t.seconds,
        ray_s=ray_t.seconds,
        ray_start_s=start_t.seconds,
        ray_stop_s=stop_t.seconds,
        run_seconds_sum=run_s,
        ray_overhead_per_run_s=per_run,
        ray_overhead_per_run_with_start_s=per_run_start,
        identical_weights=all(same),
    )
    print()
    print("| backend | sweep wall (s) | Σ run time (s) | overhead per run vs local (s) |")
    print("|---|---|---|---|")
    print(f"| local --jobs {jobs} | {local_t.seconds:.1f} | {run_s['local']:.1f} | – |")
    print(f"| ray (running) | {ray_t.seconds:.1f} | {run_s['ray']:.1f} | {per_run:+.2f} |")
    total = ray_t.seconds + start_t.seconds + stop_t.seconds
    print(f"| ray incl. start/stop | {total:.1f} | – | {per_run_start:+.2f} |")
    print(f"\nweights identical in all {n} runs: {all(same)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if not all(same):
        raise SystemExit("the two backends trained different weights")


if __name__ == "__main__":
    main()
