"""Quality of a source generator against the real poses it never trained on, beside a Gaussian fit.

    python benchmarks/source_quality.py --base mpii-body --data ../shared/data/mpii/mpii_dataset.csv --seeds 1234,0,1,2,3

Uses the same held-out split as examples/train_source.py (seed and size from the checkpoint's
training_summary.json), 2,000 samples, the 12 limb joints for bodies (all joints for faces).
Also prints sampling throughput and the parameter count.
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
from flexpose_hf.metrics import LIMB_JOINTS, evaluate_poses, select_joints
from flexpose_hf.skeletons import get_skeleton
from flexpose_hf.training.data import split_source


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="mpii-body")
    p.add_argument("--data", required=True)
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--seeds", default="1234", help="comma-separated sampling seeds (one row each)")
    args = p.parse_args()
    generator = FlexPoseGenerator.from_pretrained(args.base).eval()
    summary = json.loads((Path(generator_dir(args.base)) / "training_summary.json").read_text())
    skeleton = generator.config.skeleton
    _, held = split_source(pose_arrays(load_poses(args.data))[0], summary["held_out_poses"], seed=0)
    joints = "limbs" if skeleton != "face68" else "shared"
    rows = {f"generator (sampling seed {seed})": evaluate_poses(
        generator.sample(args.samples, seed=int(seed))["keypoints"], skeleton, held, skeleton, joints=joints)
        for seed in args.seeds.split(",")}
    if len(rows) > 1:
        per_seed = list(rows.values())
        rows["generator, mean over seeds"] = {k: float(np.mean([m[k] for m in per_seed])) for k in per_seed[0]
                                              if isinstance(per_seed[0][k], float)}
    names = LIMB_JOINTS if joints == "limbs" else get_skeleton(skeleton).joints
    train, _ = split_source(pose_arrays(load_poses(args.data))[0], summary["held_out_poses"], seed=0)
    vec = select_joints(train, skeleton, tuple(names)).vectors
    rng = np.random.default_rng(0)
    gauss = rng.multivariate_normal(vec.mean(0), np.cov(vec, rowvar=False), args.samples).reshape(-1, len(names), 2)
    full = np.full((args.samples, get_skeleton(skeleton).num_joints, 2), np.nan)
    for i, name in enumerate(names):
        full[:, get_skeleton(skeleton).index(name)] = gauss[:, i]
    rows["gaussian fit to training poses"] = evaluate_poses(full, skeleton, held, skeleton, joints=joints)
    keys = ("nn1", "precision", "recall", "density", "coverage", "limb_asymmetry_ratio")
    print(f"{args.base}: {args.samples} samples vs {len(held)} held-out poses, {joints} joints")
    print("| model | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys))
    for name, m in rows.items():
        print(f"| {name} | " + " | ".join(f"{m[k]:.3f}" if k in m else "-" for k in keys) + " |")
    generator.sample(1000, seed=0)
    start = time.perf_counter()
    generator.sample(50_000, seed=1)
    rate = 50_000 / (time.perf_counter() - start)
    print(f"sampling: {rate:,.0f} poses/s with {torch.get_num_threads()} torch threads; "
          f"parameters: {sum(q.numel() for q in generator.parameters()):,}")


if __name__ == "__main__":
    main()
