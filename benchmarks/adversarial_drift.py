"""Where does tau's adversarial phase take the samples? Statistics along one run, step by step.

    OMP_NUM_THREADS=1 python benchmarks/adversarial_drift.py --data ../shared/data --setting "helen->turned" --seed 0

For the harness's shots of one seed, tau is adapted with the default config for 0 (the calibration
alone), 50, 100, 200 and 300 adversarial steps with the guard off (runs are seeded per step, so
each is the prefix of the longest). Each prints nn1 against the held-out target minus the
source's on the same latents, and what needs no held-out data: how far the mean sample pose moved
from the calibrated start's, and the mean distance from each shot to its nearest sample.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from harness import sampling_seed, settings, target_pool

from flexpose_hf import FlexPoseGenerator
from flexpose_hf.adaptation import AdaptConfig, adapt
from flexpose_hf.adaptation.run import generator_dir
from flexpose_hf.adaptation.spread import renormalize
from flexpose_hf.loading import sample_poses
from flexpose_hf.metrics import evaluate_poses
from flexpose_hf.models.discriminator import load_discriminator
from flexpose_hf.skeletons import get_skeleton
from flexpose_hf.training.data import to_unit_poses


def vectors(unit: np.ndarray, mask: torch.Tensor) -> torch.Tensor:
    return renormalize(torch.from_numpy(np.nan_to_num(unit).astype(np.float32)), mask)[:, mask].flatten(1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--setting", default="helen->turned")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", default="0,50,100,200,300")
    args = p.parse_args()
    setting = settings(args.data)[args.setting]
    skeleton = FlexPoseGenerator.from_pretrained(setting["base"]).config.skeleton
    pool, mask_np = target_pool(setting, skeleton)
    mask = torch.from_numpy(mask_np)
    joints = tuple(j for j, m in zip(get_skeleton(skeleton).joints, mask_np) if m)
    perm = np.random.default_rng(args.seed).permutation(len(pool))  # the harness's split
    shots, held = pool[perm[:10]], pool[perm[10:]]
    shot_vectors = vectors(to_unit_poses(shots), mask)
    source = sample_poses(FlexPoseGenerator.from_pretrained(setting["base"]), 10000, seed=sampling_seed(args.seed))
    source_nn1 = evaluate_poses(source, skeleton, held, skeleton, joints=joints)["nn1"]
    start_mean = None
    for steps in (int(s) for s in args.steps.split(",")):
        base = FlexPoseGenerator.from_pretrained(setting["base"])
        disc = load_discriminator(str(Path(generator_dir(setting["base"])) / "discriminator"))
        config = AdaptConfig(seed=args.seed, steps=max(steps, 1), adv_weight=1.0 if steps else 0.0,
                             spread_tolerance=0.0)
        result = adapt(base, disc, to_unit_poses(shots), config, progress=False)
        fake = sample_poses(result.adapted.model, 10000, seed=sampling_seed(args.seed))
        m = evaluate_poses(fake, skeleton, held, skeleton, joints=joints)
        v = vectors(fake[:2000], mask)
        start_mean = v.mean(0) if start_mean is None else start_mean
        to_shots = float(torch.cdist(shot_vectors, v).min(dim=1).values.mean())
        print(f"{args.setting} seed {args.seed} adversarial steps {steps}: nn1 - source {m['nn1'] - source_nn1:+.4f}, "
              f"recall {m['recall']:.3f}, mean pose moved {float((v.mean(0) - start_mean).norm()):.4f}, "
              f"shot-to-nearest-sample distance {to_shots:.4f}", flush=True)


if __name__ == "__main__":
    main()
