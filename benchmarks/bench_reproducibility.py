"""Why does every test of HybridSN give a different result? Each source of variation, measured.

Scene: the semi-synthetic Indian Pines (the real 145×145 layout, 16 classes, synthetic 200-band
spectra; benchmarks/common.py). HybridSN, PCA 15, patch 11, 10 % stratified training pixels
(10 % of them for validation), Adam 1e-3, batch 128; small so that it runs in minutes on two
cores. Every number is measured here, on the CPU, with the seeds listed.

- (a) dropout left on at test time: each trained model of (b) evaluated with ``model.train()``
  several times, against ``model.eval()``
- (b) weight initialisation and shuffling: fixed split, torch seed varies
- (c) the split: fixed torch seed, split seed varies
- (b+c) one seed for both, as ``hsi train --seed`` / ``hsi sweep`` do
- (d) randomized PCA: scikit-learn's ``PCA(svd_solver="randomized")`` with different
  ``random_state`` against this project's deterministic reducer, then the same training on each
- the PyTorch thread count (same seed, other threads), and the cost of deterministic mode

    python benchmarks/bench_reproducibility.py                 # about 3.5 minutes on 2 cores
    python benchmarks/bench_reproducibility.py --seeds 10 --epochs 30 --json out.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import semi_synthetic_indian_pines  # noqa: E402

from hsi.data.scene import ids_to_indices  # noqa: E402
from hsi.metrics import accuracy_report  # noqa: E402
from hsi.models import create_model  # noqa: E402
from hsi.patches import PatchDataset, pad_cube  # noqa: E402
from hsi.preprocess import PCAReducer  # noqa: E402
from hsi.seeding import seed_everything, set_deterministic  # noqa: E402
from hsi.splits import make_split  # noqa: E402
from hsi.training import fit, predict_patches  # noqa: E402


@dataclass
class Setup:
    pca: int = 15
    patch: int = 11
    epochs: int = 15
    train_size: float = 0.1
    val_size: float = 0.1
    batch_size: int = 128
    lr: float = 1e-3


def weights_hash(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class Bench:
    def __init__(self, setup: Setup, deterministic: bool = True) -> None:
        self.setup = setup
        self.deterministic = deterministic
        self.scene = semi_synthetic_indian_pines()
        self.index_map = ids_to_indices(self.scene.labels, self.scene.class_ids)
        self.reduced = PCAReducer(setup.pca).fit_transform(self.scene.cube)

    def split(self, seed: int):
        s = self.setup
        return make_split(
            self.scene.labels,
            "stratified",
            train_size=s.train_size,
            val_size=s.val_size,
            seed=seed,
            patch=s.patch,
        )

    def dataset(self, reduced: np.ndarray, coords: np.ndarray, padded=None) -> PatchDataset:
        targets = self.index_map[coords[:, 0], coords[:, 1]]
        return PatchDataset(reduced, coords, targets, patch=self.setup.patch, padded=padded)

    def train(self, split_seed: int, torch_seed: int, reduced: np.ndarray | None = None):
        """(model, test dataset, eval-mode report, training seconds) as `hsi train` trains."""
        s = self.setup
        reduced = self.reduced if reduced is None else reduced
        split = self.split(split_seed)
        seed_everything(torch_seed, deterministic=self.deterministic)
        padded = pad_cube(reduced, s.patch)
        model = create_model(
            "hybridsn", n_components=reduced.shape[2], patch=s.patch, n_classes=self.scene.n_classes
        )
        result = fit(
            model,
            self.dataset(reduced, split.train, padded),
            self.dataset(reduced, split.val, padded),
            epochs=s.epochs,
            batch_size=s.batch_size,
            lr=s.lr,
            seed=torch_seed,
            device="cpu",
        )
        test = self.dataset(reduced, split.test, padded)
        return model, test, self.report(test, predict_patches(model, test)), result.train_time_s

    def report(self, test: PatchDataset, pred: np.ndarray) -> dict:
        sc = self.scene
        return accuracy_report(test.targets, pred, sc.class_ids, sc.class_names)


def dropout_on_predictions(model, test: PatchDataset, repeats: int) -> list[np.ndarray]:
    """What the course notebook did: predict without ``model.eval()``, so dropout stays on."""
    model.train()
    out = []
    with torch.no_grad():
        for _ in range(repeats):
            pred = np.empty(len(test), dtype=np.int64)
            for start in range(0, len(test), 512):
                idx = np.arange(start, min(start + 512, len(test)))
                x, _ = test.get_batch(idx)
                pred[idx] = model(x).argmax(1).numpy()
            out.append(pred)
    model.eval()
    return out


def spread(values) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {
        "n": int(v.size),
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
        "min": float(v.min()),
        "max": float(v.max()),
    }


def fmt(s: dict, scale: float = 100.0) -> str:
    return (
        f"{s['mean'] * scale:.2f} ± {s['std'] * scale:.2f} "
        f"({s['min'] * scale:.2f}–{s['max'] * scale:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per experiment")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=5, help="dropout-on predictions per model")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch threads (default 1)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from common import machine_state

    machine = machine_state("bench_reproducibility")
    seeds = list(range(args.seeds))
    setup = Setup(epochs=args.epochs)
    t_start = time.perf_counter()
    bench = Bench(setup)
    sc = bench.scene
    print(
        f"scene {sc.name} {sc.shape}, {sc.n_classes} classes; HybridSN PCA {setup.pca}, "
        f"patch {setup.patch}, {setup.epochs} epochs, train {setup.train_size}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)\n"
    )
    results: dict = {"setup": vars(setup), "seeds": seeds, "threads": args.threads}
    results["machine"] = machine

    # (b) weight init + shuffling, split fixed; keep the models for (a)
    models, oa_b, hashes_b = [], [], []
    for s in seeds:
        model, test, report, _ = bench.train(split_seed=0, torch_seed=s)
        models.append((model, test, report))
        oa_b.append(report["oa"])
        hashes_b.append(weights_hash(model))
        print(f"(b) split 0, torch seed {s}: OA {report['oa']:.4f}")
    results["b"] = {"oa": spread(oa_b), "distinct_weights": len(set(hashes_b))}

    # the same (split 0, seed 0) again: bit-identical?
    again, _, report0, _ = bench.train(split_seed=0, torch_seed=0)
    results["rerun_identical"] = weights_hash(again) == hashes_b[0]
    results["rerun_oa_equal"] = report0["oa"] == oa_b[0]

    # (a) dropout on at test time, for every model of (b)
    a_std, a_changed, a_vs_eval, a_oa = [], [], [], []
    for model, test, _ in models:
        eval_pred = predict_patches(model, test)
        again_pred = predict_patches(model, test)
        assert np.array_equal(eval_pred, again_pred), "eval-mode predictions must not vary"
        preds = dropout_on_predictions(model, test, args.repeats)
        oas = [bench.report(test, p)["oa"] for p in preds]
        stacked = np.stack(preds)
        a_oa.extend(oas)
        a_std.append(float(np.std(oas, ddof=1)) if len(oas) > 1 else 0.0)
        a_changed.append(float((stacked != stacked[0]).any(axis=0).mean()))
        a_vs_eval.append(float((stacked != eval_pred).mean()))
        print(
            f"(a) model seed {len(a_std) - 1}: dropout-on OA {np.mean(oas):.4f} ± {a_std[-1]:.4f}"
        )
    results["a"] = {
        "oa_dropout_on": spread(a_oa),
        "within_model_oa_std": spread(a_std),
        "pixels_changing_between_passes": spread(a_changed),
        "pixels_differing_from_eval": spread(a_vs_eval),
        "oa_eval": spread(oa_b),
    }

    # (c) the split, torch seed fixed
    oa_c = [oa_b[0]]
    for s in seeds[1:]:
        _, _, report, _ = bench.train(split_seed=s, torch_seed=0)
        oa_c.append(report["oa"])
        print(f"(c) split seed {s}, torch seed 0: OA {report['oa']:.4f}")
    results["c"] = {"oa": spread(oa_c)}

    # (b+c) one seed drives both, as `hsi train --seed S` does
    oa_bc = [oa_b[0]]
    for s in seeds[1:]:
        _, _, report, _ = bench.train(split_seed=s, torch_seed=s)
        oa_bc.append(report["oa"])
        print(f"(b+c) seed {s}: OA {report['oa']:.4f}")
    results["bc"] = {"oa": spread(oa_bc)}

    # (d) randomized PCA
    from sklearn.decomposition import PCA

    flat = sc.cube.reshape(-1, sc.shape[2]).astype(np.float64)
    ours = [PCAReducer(setup.pca).fit(sc.cube).components_ for _ in range(2)]
    comps, reductions = [], []
    for s in seeds:
        pca = PCA(setup.pca, whiten=True, svd_solver="randomized", random_state=s).fit(flat)
        comps.append(pca.components_)
        reductions.append(pca.transform(flat).astype(np.float32).reshape(*sc.shape[:2], -1))
    raw = max(float(np.abs(c - comps[0]).max()) for c in comps[1:])
    aligned = []
    for c in comps:
        signs = np.sign((c * ours[0]).sum(axis=1))
        aligned.append(c * signs[:, None])
    to_ours = max(float(np.abs(c - ours[0]).max()) for c in aligned)
    red_diff = max(float(np.abs(r - reductions[0]).max()) for r in reductions[1:])
    oa_d = []
    for s, reduced in zip(seeds, reductions, strict=True):
        _, _, report, _ = bench.train(split_seed=0, torch_seed=0, reduced=reduced)
        oa_d.append(report["oa"])
        print(f"(d) randomized PCA random_state {s}, split 0, torch 0: OA {report['oa']:.4f}")
    results["d"] = {
        "ours_refit_max_abs_diff": float(np.abs(ours[0] - ours[1]).max()),
        "randomized_components_max_abs_diff": raw,
        "randomized_vs_ours_after_sign_alignment": to_ours,
        "randomized_reduced_cube_max_abs_diff": red_diff,
        "oa": spread(oa_d),
    }

    # threads: same seed, other thread count
    other = 2 if args.threads == 1 else 1
    torch.set_num_threads(other)
    model_t, _, report_t, _ = bench.train(split_seed=0, torch_seed=0)
    torch.set_num_threads(args.threads)
    results["threads_other"] = {
        "threads": other,
        "identical_weights": weights_hash(model_t) == hashes_b[0],
        "oa": report_t["oa"],
        "oa_same_threads": oa_b[0],
    }

    # deterministic mode: cost and effect on the CPU (alternate to share any machine load)
    times: dict[bool, list[float]] = {True: [], False: []}
    hashes: dict[bool, set[str]] = {True: set(), False: set()}
    for _ in range(3):
        for det in (True, False):
            bench.deterministic = det
            model, _, _, seconds = bench.train(split_seed=0, torch_seed=0)
            times[det].append(seconds)
            hashes[det].add(weights_hash(model))
    bench.deterministic = True
    set_deterministic(True)
    t_on, t_off = float(np.median(times[True])), float(np.median(times[False]))
    results["deterministic"] = {
        "train_s_on": times[True],
        "train_s_off": times[False],
        "median_on": t_on,
        "median_off": t_off,
        "cost_percent": 100 * (t_on / t_off - 1),
        "same_weights_on_and_off": hashes[True] == hashes[False] and len(hashes[True]) == 1,
    }
    results["seconds"] = time.perf_counter() - t_start

    print_tables(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def print_tables(r: dict, args) -> None:
    n = len(r["seeds"])
    print(f"\n### Spread over {n} seeds (OA in %, mean ± sample std, min–max)\n")
    print("| source of variation | what varies | OA |")
    print("|---|---|---|")
    print(f"| (b) initialisation + shuffling | torch seed, split fixed | {fmt(r['b']['oa'])} |")
    print(f"| (c) the split | split seed, torch seed fixed | {fmt(r['c']['oa'])} |")
    print(f"| (b)+(c) | one seed for both (`hsi train --seed`) | {fmt(r['bc']['oa'])} |")
    print(f"| (d) randomized PCA | `random_state`, all else fixed | {fmt(r['d']['oa'])} |")
    a = r["a"]
    print(
        f"| (a) dropout on at test time | {args.repeats} predictions × {n} models "
        f"| {fmt(a['oa_dropout_on'])} (eval: {fmt(a['oa_eval'])}) |"
    )
    print("\n### (a) dropout left on at test time\n")
    print(
        f"- OA std between passes of one model: {fmt(a['within_model_oa_std'])} (mean over models)"
    )
    print(
        "- test pixels whose label changes between passes: "
        f"{fmt(a['pixels_changing_between_passes'])} %"
    )
    print(f"- test pixels labeled unlike eval(): {fmt(a['pixels_differing_from_eval'])} %")
    d = r["d"]
    print("\n### (d) PCA solvers\n")
    print(
        "- this project's reducer fitted twice: max |Δ component| = "
        f"{d['ours_refit_max_abs_diff']:.3g}"
    )
    print(
        "- randomized, other random_state: max |Δ component| = "
        f"{d['randomized_components_max_abs_diff']:.3g}; reduced cube max |Δ| = "
        f"{d['randomized_reduced_cube_max_abs_diff']:.3g}"
    )
    print(
        "- randomized vs this project's, signs aligned: max |Δ component| = "
        f"{d['randomized_vs_ours_after_sign_alignment']:.3g}"
    )
    print("\n### Bit-identity and cost\n")
    print(f"- same split and seed, trained again: identical weights = {r['rerun_identical']}")
    t = r["threads_other"]
    print(
        f"- same seed with {t['threads']} thread(s) instead of {r['threads']}: identical "
        f"weights = {t['identical_weights']}, "
        f"OA {t['oa'] * 100:.2f} vs {t['oa_same_threads'] * 100:.2f}"
    )
    det = r["deterministic"]
    print(
        f"- deterministic mode on/off, median training time: {det['median_on']:.2f} s / "
        f"{det['median_off']:.2f} s ({det['cost_percent']:+.1f} %); identical weights on and "
        f"off: {det['same_weights_on_and_off']}"
    )
    print(f"\ntotal {r['seconds']:.0f} s")


if __name__ == "__main__":
    main()
