"""How far should tau's dispersion calibration pull the sample spread toward the shots'?

For each harness setting and seed of shots, the bundled generator gets only the fitted
calibration (no adversarial steps) at several ``spread_pull`` values; 10,000 samples from the
harness's evaluation latents are scored against the held-out target poses exactly as the harness
scores them, and each row is compared with pull 0 (the source) on the same latents.

    OMP_NUM_THREADS=1 python benchmarks/dispersion_pull.py --data ../shared/data
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from harness import sampling_seed, settings, target_pool
from peft import get_peft_model

from flexpose_hf import FlexPoseGenerator, TauConfig
from flexpose_hf.adaptation.calibration import calibrate_dispersion
from flexpose_hf.adaptation.trainer import renormalize_np
from flexpose_hf.loading import sample_poses
from flexpose_hf.metrics import evaluate_poses
from flexpose_hf.skeletons import get_skeleton
from flexpose_hf.training.data import to_unit_poses


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--settings", default="mpii->lsp,mpii->coco")
    p.add_argument("--pulls", default="0,0.3,0.5,1.0")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--shots", type=int, default=10)
    p.add_argument("--samples", type=int, default=10000)
    args = p.parse_args()
    all_settings = settings(args.data)
    pulls = [float(x) for x in args.pulls.split(",")]
    print("| setting | pull | factor per seed | nn1 | nn1 - source per seed | coverage - source | memorization / chance |")
    print("|---|---|---|---|---|---|---|")
    for name in args.settings.split(","):
        setting = all_settings[name]
        base_name = setting["base"]
        skeleton = FlexPoseGenerator.from_pretrained(base_name).config.skeleton
        pool, mask = target_pool(setting, skeleton)
        joints = tuple(j for j, m in zip(get_skeleton(skeleton).joints, mask) if m)
        rows: dict[float, list[tuple[float, float, float, float]]] = {}
        for seed in range(args.seeds):
            perm = np.random.default_rng(seed).permutation(len(pool))  # the harness's split
            shot_kp, held = pool[perm[: args.shots]], pool[perm[args.shots:]]
            shots = renormalize_np(to_unit_poses(shot_kp), mask)
            for pull in pulls:
                base = FlexPoseGenerator.from_pretrained(base_name)
                others = list(range(3, base.num_style_layers))
                model = get_peft_model(base, TauConfig(layers=[0, 1, 2], calibrated_layers=others))
                cal = calibrate_dispersion(model, shots, torch.from_numpy(mask), base.config.z_dim,
                                           base.config.resolution, base.config.margin, pull, seed=seed)  # as adapt() does
                fake = sample_poses(model, args.samples, seed=sampling_seed(seed))
                m = evaluate_poses(fake, skeleton, held, skeleton, shots=shot_kp, shots_skeleton=skeleton, joints=joints)
                rows.setdefault(pull, []).append((m["nn1"], m["coverage"], cal.factor if cal else 1.0,
                                                  m["memorization_ratio"]))
        source = np.array(rows[pulls[0]])
        for pull, values in rows.items():
            v = np.array(values)
            print(f"| {name} | {pull} | {', '.join(f'{x:.3f}' for x in v[:, 2])} | {v[:, 0].mean():.4f} | "
                  f"{', '.join(f'{x:+.4f}' for x in v[:, 0] - source[:, 0])} | {(v[:, 1] - source[:, 1]).mean():+.4f} | "
                  f"{v[:, 3].mean():.2f}x |", flush=True)


if __name__ == "__main__":
    main()
