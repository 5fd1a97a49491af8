"""Channels-last against the default memory layout for the 2-D backbones, on the CPU.

For each backbone at k=30, p=25, K=16: eval milliseconds per patch (batch 256, inference mode)
and training samples per second (batch 32, forward + backward + Adam step), in the default
(contiguous, NCHW) layout and in channels-last (NHWC), the two layouts interleaved so that any
drift in the machine's speed hits both alike. The ratio is what matters.

    python benchmarks/bench_layout.py
    python benchmarks/bench_layout.py --models mobilenet_v2 --repeats 5 --json layout.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

BACKBONES = (
    "mobilenet_v1",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "shufflenet_v1",
    "shufflenet_v2",
)


def build(name: str, channels_last: bool) -> torch.nn.Module:
    from hsi.models import create_model

    torch.manual_seed(0)
    model = create_model(name, n_components=30, patch=25, n_classes=16)
    if not channels_last:
        model.channels_last = False
        model.to(memory_format=torch.contiguous_format)
    return model


def measure(name: str, repeats: int) -> dict:
    from hsi.models.summary import median_seconds

    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 30, 25, 25, generator=g)
    y = torch.randint(0, 16, (32,), generator=g)
    row: dict = {"model": name}
    layouts = ("nchw", "channels_last")
    models = {layout: build(name, layout == "channels_last") for layout in layouts}
    optimizers = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in models.items()}
    for _ in range(2):  # interleave the layouts
        for layout, model in models.items():
            model.eval()
            with torch.inference_mode():
                ms = 1000 * median_seconds(lambda m=model: m(x), repeats) / len(x)
            model.train()
            opt = optimizers[layout]

            def step(m=model, opt=opt) -> None:
                opt.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(m(x[:32]), y).backward()
                opt.step()

            sps = 32 / median_seconds(step, repeats)
            row.setdefault(f"{layout}_ms", []).append(ms)
            row.setdefault(f"{layout}_train", []).append(sps)
    for key in [k for k in row if k != "model"]:
        row[key] = min(row[key]) if key.endswith("_ms") else max(row[key])
    return row


def main() -> None:
    from common import machine_state

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(BACKBONES))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    machine = machine_state("bench_layout")
    rows = [measure(name, args.repeats) for name in args.models.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| model | eval ms/patch NCHW → channels-last | train samples/s NCHW → channels-last |")
    print("|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['nchw_ms']:.2f} → {r['channels_last_ms']:.2f} "
            f"(×{r['nchw_ms'] / r['channels_last_ms']:.2f}) | {r['nchw_train']:.0f} → "
            f"{r['channels_last_train']:.0f} (×{r['channels_last_train'] / r['nchw_train']:.2f}) |"
        )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
