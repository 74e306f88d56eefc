"""Trace the divergence guard's statistic: the spread of tau's samples relative to the source's.

    python benchmarks/spread_trace.py --data ../shared/data --setting "mpii->lsp" --seed 2 --tolerance 0

Adapts tau to the harness's shots for one seed (``--tolerance 0`` turns the guard off, so the whole
trajectory shows), prints the spread ratio logged every 25 steps, and scores 2,000 samples against
the held-out target poses like the harness does.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from harness import settings, target_pool

from flexpose_hf import FlexPoseGenerator
from flexpose_hf.adaptation import AdaptConfig, adapt
from flexpose_hf.adaptation.run import generator_dir
from flexpose_hf.loading import sample_poses
from flexpose_hf.metrics import evaluate_poses
from flexpose_hf.models.discriminator import load_discriminator
from flexpose_hf.skeletons import get_skeleton
from flexpose_hf.training.data import to_unit_poses


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--setting", default="mpii->lsp")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shots", type=int, default=10)
    p.add_argument("--tolerance", type=float, default=0.0, help="guard band (0: off)")
    args = p.parse_args()
    setting = settings(args.data)[args.setting]
    base = FlexPoseGenerator.from_pretrained(setting["base"])
    skeleton = base.config.skeleton
    pool, mask = target_pool(setting, skeleton)
    joints = tuple(j for j, m in zip(get_skeleton(skeleton).joints, mask) if m)
    perm = np.random.default_rng(args.seed).permutation(len(pool))  # the harness's split
    shots, held = pool[perm[: args.shots]], pool[perm[args.shots:]]
    disc = load_discriminator(str(Path(generator_dir(setting["base"])) / "discriminator"))
    result = adapt(base, disc, to_unit_poses(shots),
                   AdaptConfig(seed=args.seed, spread_tolerance=args.tolerance), progress=False)
    print("spread ratio by step:", [(h["step"], round(h["spread_ratio"], 3)) for h in result.history
                                    if "spread_ratio" in h])
    metrics = evaluate_poses(sample_poses(result.adapted.model, 2000, seed=args.seed + 1), skeleton, held,
                             skeleton, joints=joints)
    print(f"{args.setting} seed {args.seed} tolerance {args.tolerance}: steps kept {result.steps}, "
          + ", ".join(f"{k} {metrics[k]:.3f}" for k in ("nn1", "precision", "recall", "coverage")))


if __name__ == "__main__":
    main()
