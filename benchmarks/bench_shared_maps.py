"""Full-scene maps of the families that share only their first layers between windows.

HybridSN-SE and -CBAM gate each window's whole feature map, and SSFTT pools each window into
tokens, so their windows cannot share every layer as plain HybridSN's do. Their first layers
are stride-1 valid convolutions, though (HybridSN's 3-D block; SSFTT's 3-D and 2-D convs): the
dense path computes those once per tile and runs the rest on each window's crop of them
(``PatchClassifier.dense_logits``). This times that path against batched windows
(``method="patches"``), with plain HybridSN's dense path as the reference, on the
semi-synthetic Indian Pines (145×145, PCA 30), untrained models in eval mode (speed does not
depend on the weights). Each map runs in its own process, so its peak RSS is its own; the two
paths' labels are compared pixel by pixel. Each model maps the scene twice per path: every
pixel, and the labeled pixels only (``mask``, as ``hsi predict --mask``), where the dense path
runs the per-window layers on the masked windows only.

    python benchmarks/bench_shared_maps.py [--repeats 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

# model → window side: each family's default (SSFTT 13, HybridSN 25)
MODELS = {"hybridsn": 25, "hybridsn_se": 25, "hybridsn_cbam": 25, "ssftt": 13}


def measure(model_name: str, method: str, masked: bool, labels_out: str) -> dict:
    import torch
    from common import peak_rss_mb, semi_synthetic_indian_pines

    from hsi.inference import predict_indices
    from hsi.models import create_model
    from hsi.preprocess import PCAReducer

    scene = semi_synthetic_indian_pines()
    reduced = PCAReducer(30).fit_transform(scene.cube)
    mask = scene.labels > 0 if masked else None
    del scene
    torch.manual_seed(0)
    patch = MODELS[model_name]
    model = create_model(model_name, n_components=30, patch=patch, n_classes=16).eval()
    before = peak_rss_mb()
    t0 = time.perf_counter()
    labels = predict_indices(model, reduced, patch=patch, method=method, mask=mask)
    seconds = time.perf_counter() - t0
    np.save(labels_out, labels)
    return {
        "model": model_name,
        "method": method,
        "masked": masked,
        "pixels": int(labels.size if mask is None else mask.sum()),
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "before_mb": before,
    }


def run(model_name: str, method: str, masked: bool, labels_out: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", model_name, method, str(int(masked)), str(labels_out)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from common import machine_state

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="hybridsn_se,hybridsn_cbam,ssftt")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--json", type=Path, help="write the rows here")
    args = p.parse_args()
    state = machine_state("bench_shared_maps")
    cases = [(name, masked) for name in args.models.split(",") for masked in (False, True)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        labels_dir = Path(tmp)
        for repeat in range(args.repeats):
            # the reference first in every round, then each model's two paths back to back
            for name, masked in [("hybridsn", False), *cases]:
                for method in ("dense",) if name == "hybridsn" else ("dense", "patches"):
                    labels = labels_dir / f"{name}_{method}.npy"
                    row = run(name, method, masked, labels)
                    row["repeat"] = repeat
                    rows.append(row)
                    print(
                        f"{name} {method} {'masked' * masked}: {row['seconds']:.2f} s", flush=True
                    )
                if name != "hybridsn":
                    dense = np.load(labels_dir / f"{name}_dense.npy")
                    patches = np.load(labels_dir / f"{name}_patches.npy")
                    rows[-1]["labels_equal"] = float((dense == patches).mean())
    print("\n| model | window | pixels | dense s | patches s | patches / dense | dense / plain "
          "HybridSN dense | same label | peak RSS MB dense, patches |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")

    def median(name, method, masked, key="seconds"):
        return statistics.median(
            r[key] for r in rows if (r["model"], r["method"], r["masked"]) == (name, method, masked)
        )

    reference = median("hybridsn", "dense", False)
    for name, masked in cases:
        dense, patches = median(name, "dense", masked), median(name, "patches", masked)
        same = min(
            r["labels_equal"]
            for r in rows
            if (r["model"], r["masked"]) == (name, masked) and "labels_equal" in r
        )
        pixels = int(median(name, "dense", masked, "pixels"))
        print(
            f"| {name} | {MODELS[name]} | {pixels:,}{' (labeled)' * masked} | {dense:.2f} | "
            f"{patches:.2f} | ×{patches / dense:.1f} | ×{dense / reference:.1f} | {same:.4%} | "
            f"{median(name, 'dense', masked, 'peak_rss_mb'):.0f}, "
            f"{median(name, 'patches', masked, 'peak_rss_mb'):.0f} |"
        )
    print(f"plain HybridSN dense (reference): {reference:.2f} s; medians of {args.repeats} runs")
    if args.json:
        args.json.write_text(json.dumps({"machine": state, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--one":
        print(json.dumps(measure(sys.argv[2], sys.argv[3], sys.argv[4] == "1", sys.argv[5])))
    else:
        main()
