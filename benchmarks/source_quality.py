"""Quality of source generators against real poses they never trained on, beside a perfect source
(real training poses) and a Gaussian fit.

    python benchmarks/source_quality.py --base mpii-body --data ../shared/data/mpii/mpii_dataset.csv --seeds 1234,0,1,2,3
    python benchmarks/source_quality.py --base helen-face --base runs/helen-face-new \\
        --data ../shared/data/300w_helen/trainset --reference ../shared/data/300w_helen/testset --seeds 0,1,2,3,4

Reference poses: ``--reference`` (a file no checkpoint trained on), else the held-out split that
examples/train_source.py kept out (size from the first checkpoint's training_summary.json, seed 0).
Every generator row is the mean over the sampling seeds of ``--samples`` poses; the perfect-source
row draws as many real training poses per seed. 12 limb joints for bodies, all joints for faces.
Also prints each generator's sampling throughput and parameter count.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from flexpose_hf import FlexPoseGenerator, load_poses, pose_arrays
from flexpose_hf.hub import generator_dir
from flexpose_hf.metrics import evaluate_poses, protocol_joints, select_joints
from flexpose_hf.skeletons import get_skeleton
from flexpose_hf.training.data import split_source

KEYS = ("nn1", "precision", "recall", "density", "coverage", "limb_asymmetry_ratio")


def mean_row(rows: list[dict]) -> dict:
    return {k: float(np.mean([r[k] for r in rows])) for k in KEYS if k in rows[0]}


def gaussian_poses(train: np.ndarray, skeleton: str, names: tuple[str, ...], n: int, seed: int) -> np.ndarray:
    vec = select_joints(train, skeleton, names).vectors
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(vec.mean(0), np.cov(vec, rowvar=False), n).reshape(-1, len(names), 2)
    full = np.full((n, get_skeleton(skeleton).num_joints, 2), np.nan)
    for i, name in enumerate(names):
        full[:, get_skeleton(skeleton).index(name)] = draws[:, i]
    return full


def spread_by_component(samples: np.ndarray, train: np.ndarray, skeleton: str, names: tuple[str, ...],
                        groups: int = 10) -> list[float]:
    """Generated / real standard deviation along the training poses' principal components (translation
    and scale removed), median per group of components from the largest to the smallest."""
    real = select_joints(train, skeleton, names).vectors
    fake = select_joints(samples, skeleton, names).vectors
    mean = real.mean(0)
    _, _, axes = np.linalg.svd(real - mean, full_matrices=False)
    ratio = ((fake - mean) @ axes.T).std(0) / np.maximum(((real - mean) @ axes.T).std(0), 1e-12)
    return [float(np.median(part)) for part in np.array_split(ratio, groups)]


def spectrum_ratio(samples: np.ndarray, train: np.ndarray, skeleton: str, names: tuple[str, ...],
                   groups: int = 10) -> list[float]:
    """Square roots of the covariance eigenvalues, generated / real, each spectrum sorted from the
    largest down, median per group: below 1 where the samples vary along fewer directions than the
    real poses (whichever directions those are), unlike the per-component spread above."""
    real = select_joints(train, skeleton, names).vectors
    fake = select_joints(samples, skeleton, names).vectors
    eig = lambda x: np.sqrt(np.clip(np.linalg.eigvalsh(np.cov(x, rowvar=False))[::-1], 0, None))
    real_eig = eig(real)
    # directions the normalisation removes (translation, scale) have no real spread: ratio 0 there
    ratio = np.where(real_eig > 1e-6 * real_eig[0], eig(fake) / np.maximum(real_eig, 1e-12), 0.0)
    return [float(np.median(part)) for part in np.array_split(ratio, groups)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", action="append", default=[], help="generator to measure (repeat to compare)")
    p.add_argument("--data", required=True, help="the source training data")
    p.add_argument("--reference", default=None, help="held-out real poses (default: the training split's held-out part)")
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--seeds", default="1234", help="comma-separated sampling seeds")
    args = p.parse_args()
    bases = args.base or ["mpii-body"]
    seeds = [int(s) for s in args.seeds.split(",")]
    first = FlexPoseGenerator.from_pretrained(bases[0])
    skeleton = first.config.skeleton
    poses = pose_arrays(load_poses(args.data))[0]
    if args.reference:
        train, held = poses[~np.isnan(poses).any(axis=(1, 2))], pose_arrays(load_poses(args.reference))[0]
    else:
        summary = json.loads((Path(generator_dir(bases[0])) / "training_summary.json").read_text())
        train, held = split_source(poses, summary["held_out_poses"], seed=0)
    joints = "protocol"  # the 12 limb joints on bodies, every landmark on faces
    names = protocol_joints(get_skeleton(skeleton).joints)
    measure = lambda x: evaluate_poses(x, skeleton, held, skeleton, joints=joints)
    rows: dict[str, dict] = {}
    nn1_range: dict[str, tuple[float, float]] = {}
    for base in bases:
        generator = FlexPoseGenerator.from_pretrained(base).eval()
        if generator.config.skeleton != skeleton:
            raise SystemExit(f"{base}: skeleton {generator.config.skeleton}, not {skeleton}")
        per_seed = [measure(generator.sample(args.samples, seed=s)["keypoints"]) for s in seeds]
        name = f"{base} (mean of {len(seeds)} sampling seeds)"
        rows[name] = mean_row(per_seed)
        nn1_range[name] = (min(r["nn1"] for r in per_seed), max(r["nn1"] for r in per_seed))
        first_draw = generator.sample(args.samples, seed=seeds[0])["keypoints"]
        spread = spread_by_component(first_draw, train, skeleton, tuple(names))
        print(f"{base}: generated / real spread along the training poses' principal components, largest "
              f"to smallest, median per tenth: {' '.join(f'{r:.2f}' for r in spread)}")
        spectrum = spectrum_ratio(first_draw, train, skeleton, tuple(names))
        print(f"{base}: generated / real covariance spectrum (square roots, each sorted), median per tenth: "
              f"{' '.join(f'{r:.2f}' for r in spectrum)}")
        generator.sample(1000, seed=0)
        start = time.perf_counter()
        generator.sample(50_000, seed=1)
        rate = 50_000 / (time.perf_counter() - start)
        print(f"{base}: {rate:,.0f} poses/s with {torch.get_num_threads()} torch threads; "
              f"{sum(q.numel() for q in generator.parameters()):,} parameters")
    rng = np.random.default_rng(0)
    real = [train[rng.choice(len(train), min(args.samples, len(train)), replace=False)] for _ in seeds]
    rows["perfect source: real training poses"] = mean_row([measure(r) for r in real])
    rows["gaussian fit to training poses"] = mean_row([measure(gaussian_poses(train, skeleton, tuple(names),
                                                                               args.samples, s)) for s in seeds])
    print(f"\n{args.samples} samples per seed vs {len(held)} held-out poses ({args.reference or 'training split'}), "
          f"{joints} joints, sampling seeds {args.seeds}")
    print("| model | " + " | ".join(KEYS) + " |\n|---|" + "---|" * len(KEYS))
    for name, m in rows.items():
        cells = []
        for k in KEYS:
            cell = f"{m[k]:.3f}" if k in m else "-"
            if k == "nn1" and name in nn1_range:
                cell += " ({:.3f}-{:.3f})".format(*nn1_range[name])
            cells.append(cell)
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
