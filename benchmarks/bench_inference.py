"""Full-scene inference speed and memory, training throughput, and a whole `hsi train`'s peak RSS.

Scene: the semi-synthetic Indian Pines (145×145×200, 16 classes), PCA 30, HybridSN with p=25.
Inference speed does not depend on the weights, so an untrained model (eval mode) is used.

- dense: the fully-convolutional pass (hsi.inference, method="dense", tiles of 128 pixels)
- patches: batched windows (method="patches", batches of 512)
- notebook: the course notebook's loop, one forward pass per pixel (timed on a sample of pixels)
- a 610×340 scene (Pavia University's size, 103 bands → PCA 15), dense, tiled vs one tile
- training throughput (samples/s) at batch 128, deterministic kernels on and off
- peak RSS of `hsi train` on the semi-synthetic scene (1 epoch: the peak does not grow with epochs)

Each measurement runs in its own process so that its peak RSS is its own.

    python benchmarks/bench_inference.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

NOTEBOOK_SAMPLE = 300


def measure(kind: str, arg: str) -> dict:
    import torch
    from common import peak_rss_mb, semi_synthetic_indian_pines

    from hsi.data.synthetic import make_scene
    from hsi.inference import predict_indices
    from hsi.models import create_model
    from hsi.preprocess import PCAReducer

    torch.manual_seed(0)
    if kind == "train":
        deterministic, batch = arg.split(":")
        return _train_throughput(deterministic == "det", int(batch))
    if kind.startswith("large"):
        scene = make_scene(610, 340, bands=103, n_classes=9, seed=0, region_scale=20)
        k = 15
    else:
        scene = semi_synthetic_indian_pines()
        k = 30
    reduced = PCAReducer(k).fit_transform(scene.cube)
    del scene
    model = create_model("hybridsn", n_components=k, patch=25, n_classes=16).eval()
    h, w = reduced.shape[:2]
    base = peak_rss_mb()
    t0 = time.perf_counter()
    if kind == "notebook":
        n = _notebook_loop(model, reduced, NOTEBOOK_SAMPLE)
    else:
        method = "dense" if kind.startswith(("dense", "large")) else "patches"
        tile = 10_000 if kind == "large_one_tile" else 128
        predict_indices(model, reduced, patch=25, method=method, tile=tile)
        n = h * w
    seconds = time.perf_counter() - t0
    return {
        "kind": kind,
        "pixels": n,
        "seconds": seconds,
        "pixels_per_s": n / seconds,
        "peak_rss_mb": peak_rss_mb(),
        "before_mb": base,
    }


def _notebook_loop(model, reduced: np.ndarray, n: int) -> int:
    """The notebook's map loop: pad, cut one window, one forward pass per pixel."""
    import torch

    margin = 12
    padded = np.zeros((reduced.shape[0] + 2 * margin, reduced.shape[1] + 2 * margin, 30))
    padded[margin:-margin, margin:-margin] = reduced
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, reduced.shape[:2], size=(n, 2))
    for i, j in pixels:
        patch = padded[i : i + 25, j : j + 25, :].reshape(1, 25, 25, 30, 1).astype("float32")
        x = torch.FloatTensor(patch.transpose(0, 4, 3, 1, 2))  # (1, 1, 30, 25, 25)
        with torch.no_grad():
            model(x[:, 0]).argmax(1)
    return n


def _train_throughput(deterministic: bool, batch: int) -> dict:
    import torch

    from hsi.models import create_model
    from hsi.seeding import seed_everything

    seed_everything(0, deterministic=deterministic)
    model = create_model("hybridsn", n_components=30, patch=25, n_classes=16).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(batch, 30, 25, 25), torch.randint(0, 16, (batch,))

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    step()
    samples = 512  # the same work for every batch size
    t0 = time.perf_counter()
    for _ in range(samples // batch):
        step()
    seconds = time.perf_counter() - t0
    kind = f"train, batch {batch} ({'deterministic' if deterministic else 'default'})"
    return {"kind": kind, "samples_per_s": samples / seconds}


def whole_train_rss(tmp: Path) -> dict:
    from common import save_npz, semi_synthetic_indian_pines

    scene_file = save_npz(semi_synthetic_indian_pines(), tmp)
    cmd = [sys.executable, "-m", "hsi.cli", "train", "--scene", str(scene_file)]
    cmd += ["--labels", str(scene_file), "--epochs", "1", "--out", str(tmp / "runs"), "--quiet"]
    t0 = time.perf_counter()
    code = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return {"peak_rss_mb": float(out.stdout.strip().splitlines()[-1]),
            "seconds": time.perf_counter() - t0}  # fmt: skip


def run(kind: str, arg: str = "-") -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", kind, arg], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from common import machine_state

    machine_state("bench_inference")
    rows = [run(k) for k in ("dense", "patches", "notebook", "large_tiled", "large_one_tile")]
    print("| inference | pixels | seconds | pixels/s | peak RSS MB (before) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['kind']} | {r['pixels']:,} | {r['seconds']:.2f} | {r['pixels_per_s']:,.0f} | "
            f"{r['peak_rss_mb']:.0f} ({r['before_mb']:.0f}) |"
        )
    dense, patches, notebook = rows[:3]
    print(
        f"\ndense is ×{dense['pixels_per_s'] / patches['pixels_per_s']:.1f} patch-wise and "
        f"×{dense['pixels_per_s'] / notebook['pixels_per_s']:.0f} the notebook's per-pixel loop "
        f"(timed on {NOTEBOOK_SAMPLE} pixels)"
    )
    # batch 128 is the course notebook's, 32 the default here; the same training step otherwise
    train = {arg: run("train", arg) for arg in ("det:128", "nondet:128", "det:32")}
    for r in train.values():
        print(f"HybridSN k=30 p=25, {r['kind']}: {r['samples_per_s']:.1f} samples/s")
    ratio = train["det:32"]["samples_per_s"] / train["det:128"]["samples_per_s"]
    print(f"batch 32 / the notebook's batch 128: ×{ratio:.2f} samples/s")
    with tempfile.TemporaryDirectory() as tmp:
        r = whole_train_rss(Path(tmp))
    print(
        "`hsi train` (1 epoch) on the semi-synthetic Indian Pines: "
        f"peak RSS {r['peak_rss_mb']:.0f} MB, {r['seconds']:.0f} s"
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(measure(sys.argv[2], sys.argv[3])))
    else:
        main()
