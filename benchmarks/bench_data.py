"""Load, reduce and build the patch dataset: this project beside the notebook's approach.

Scene: the semi-synthetic Indian Pines (real 145×145 layout, 200 synthetic bands), saved to a
.mat file and read back. Then PCA to 30 components and patches of 25×25 for all 10,249 labeled
pixels. The notebook's way materialises every pixel's 25×25×30 window as float64 (then drops the
unlabeled ones); ours pads the reduced cube once and slices windows on demand.

Each approach runs in its own process, so its peak RSS is its own.

    python benchmarks/bench_data.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

PATCH, K = 25, 30


def stage(kind: str, mat: Path) -> dict:
    from common import Timer, peak_rss_mb

    from hsi.data.io import read_scene
    from hsi.patches import PatchDataset, labeled_coords
    from hsi.preprocess import PCAReducer

    base_rss = peak_rss_mb()
    with Timer() as t_load:
        scene = read_scene(mat, mat)
    with Timer() as t_pca:
        if kind == "ours":
            reduced = PCAReducer(K).fit_transform(scene.cube)
        else:  # the notebook: sklearn PCA on float64 pixels, refitted wherever used
            from sklearn.decomposition import PCA

            x = scene.cube.reshape(-1, scene.cube.shape[2]).astype(np.float64)
            reduced = PCA(K, whiten=True).fit_transform(x).reshape(*scene.cube.shape[:2], K)
    rss_before_patches = peak_rss_mb()
    with Timer() as t_patch:
        if kind == "ours":
            coords = labeled_coords(scene.labels)
            data = PatchDataset(reduced, coords, scene.class_index_map()[tuple(coords.T)])
            n = len(data)
            x, _ = data.get_batch(np.arange(min(256, n)))  # one batch, as training would ask
        else:
            n = _notebook_patches(reduced, scene.labels)
    return {
        "approach": kind,
        "patches": n,
        "load_s": t_load.seconds,
        "pca_s": t_pca.seconds,
        "patches_s": t_patch.seconds,
        "peak_rss_mb": peak_rss_mb(),
        "baseline_rss_mb": base_rss,
        "before_patches_rss_mb": rss_before_patches,
    }


def _notebook_patches(reduced: np.ndarray, labels: np.ndarray) -> int:
    """createImageCubes from the course notebook: every window, float64, then drop label 0."""
    margin = PATCH // 2
    h, w, k = reduced.shape
    padded = np.zeros((h + 2 * margin, w + 2 * margin, k))
    padded[margin : margin + h, margin : margin + w] = reduced
    patches = np.zeros((h * w, PATCH, PATCH, k))
    patch_labels = np.zeros(h * w)
    index = 0
    for r in range(margin, padded.shape[0] - margin):
        for c in range(margin, padded.shape[1] - margin):
            patches[index] = padded[r - margin : r + margin + 1, c - margin : c + margin + 1]
            patch_labels[index] = labels[r - margin, c - margin]
            index += 1
    keep = patch_labels > 0
    patches = patches[keep, :, :, :]
    return int(keep.sum())


def main() -> None:
    import scipy.io
    from common import machine_state, semi_synthetic_indian_pines

    machine_state("bench_data")

    with tempfile.TemporaryDirectory() as tmp:
        scene = semi_synthetic_indian_pines()
        mat = Path(tmp) / "indian_pines_semisynthetic.mat"
        scipy.io.savemat(mat, {"cube": scene.cube, "gt": scene.labels.astype(np.uint8)})
        del scene
        rows = []
        for kind in ("ours", "notebook"):
            out = subprocess.run(
                [sys.executable, __file__, "--stage", kind, str(mat)],
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    ours, nb = rows
    print("| approach | patches | load s | PCA s | patches s | peak RSS MB | added by patches MB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['approach']} | {r['patches']:,} | {r['load_s']:.2f} | {r['pca_s']:.2f} | "
            f"{r['patches_s']:.2f} | {r['peak_rss_mb']:.0f} | "
            f"{r['peak_rss_mb'] - r['before_patches_rss_mb']:.0f} |"
        )
    print(
        f"\nnotebook / ours: peak RSS ×{nb['peak_rss_mb'] / ours['peak_rss_mb']:.1f}, "
        f"patch building time ×{nb['patches_s'] / max(ours['patches_s'], 1e-9):.0f}"
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--stage":
        print(json.dumps(stage(sys.argv[2], Path(sys.argv[3]))))
    else:
        main()
