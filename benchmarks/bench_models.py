"""Every registered model: size, cost, and accuracy with one split, seed and schedule.

For each model: parameters, multiply-adds and CPU ms per patch at k=30, p=25, K=16 (PyTorch's
flop counter), then OA / AA / Kappa of `train_run` on

- the semi-synthetic Indian Pines (real 145×145 layout, 200 synthetic bands, 16 classes), and
- Jasper Ridge (a real 100×100×198 AVIRIS cube; labels = largest abundance, 4 classes),

all with the same settings (default: PCA 15, patch 11, 10 % stratified training pixels, 10 % of
those for validation, 30 epochs, seed 0) so the rows compare. On two CPU cores the whole table
takes about an hour; `--models` and `--scenes` pick a part.

    python benchmarks/bench_models.py
    python benchmarks/bench_models.py --models hybridsn --pca 30 --patch 25 --epochs 15
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    from common import benchmark_scene, machine_state, save_npz

    from hsi.config import TrainConfig
    from hsi.experiment import train_run
    from hsi.models import list_models
    from hsi.models.summary import model_summary

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(list_models()))
    p.add_argument("--scenes", default="indian_pines_semisynthetic,jasper_ridge")
    p.add_argument("--pca", type=int, default=15)
    p.add_argument("--patch", type=int, default=11)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--train-size", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args()
    machine = machine_state("bench_models")

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {s: save_npz(benchmark_scene(s), Path(tmp)) for s in args.scenes.split(",")}
        for name in args.models.split(","):
            s = model_summary(name, n_components=30, patch=25, n_classes=16)
            row = {"model": name, "params": s["params"], "macs": s["macs"], "ms": s["ms_per_patch"]}
            for scene, path in files.items():
                config = TrainConfig(
                    scene=str(path), labels=str(path), model=name, pca=args.pca,
                    patch=args.patch, epochs=args.epochs, train_size=args.train_size,
                    seed=args.seed, out=str(Path(tmp) / "runs"), quiet=True,
                )  # fmt: skip
                t0 = time.perf_counter()
                m = train_run(config, run_dir=Path(tmp) / "runs" / f"{name}_{scene}").metrics
                row[scene] = {k: m[k] for k in ("oa", "aa", "kappa")}
                row[scene]["train_s"] = m["timings_s"]["train"]
                row[scene]["best_epoch"] = m["training"]["best_epoch"]
                print(f"{name} on {scene}: OA {m['oa']:.4f} ({time.perf_counter() - t0:.0f} s)",
                      file=sys.stderr, flush=True)  # fmt: skip
            rows.append(row)
    scenes = list(files)
    settings = (
        f"PCA {args.pca}, patch {args.patch}, {args.train_size:.0%} training pixels "
        f"(10 % of them for validation), {args.epochs} epochs, seed {args.seed}"
    )
    head = "| model | parameters | multiply-adds | CPU ms/patch |"
    head += "".join(f" {s} OA / AA / κ | train s |" for s in scenes)
    print(f"Accuracy settings: {settings}. Size and cost at k=30, p=25, K=16.\n")
    print(head)
    print("|" + "---|" * (4 + 2 * len(scenes)))
    for r in rows:
        cells = f"| {r['model']} | {r['params']:,} | {r['macs'] / 1e6:,.1f} M | {r['ms']:.2f} |"
        for s in scenes:
            m = r[s]
            cells += f" {m['oa']:.4f} / {m['aa']:.4f} / {m['kappa']:.4f} | {m['train_s']:.0f} |"
        print(cells)
    if args.json:
        payload = {"settings": settings, "rows": rows, "machine": machine}
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
