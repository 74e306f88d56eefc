"""How much of tau the shots switch on: the share of its numbers left exactly 0 by Linear & Sparse.

    OMP_NUM_THREADS=1 python benchmarks/tau_sparsity.py --data ../shared/data \
        --settings "mpii->lsp,mpii->rope,helen->turned" --shots 10,50

Same settings and draws of shots as ``harness.py`` (seed 0 by default), default tau.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from harness import settings, split_shots, target_pool

from flexpose_hf.adaptation import AdaptConfig, adapt
from flexpose_hf.models import FlexPoseGenerator
from flexpose_hf.training.data import to_unit_poses


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--settings", default="mpii->lsp,mpii->rope,helen->turned")
    p.add_argument("--shots", default="10,50")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)
    all_settings = settings(args.data)
    for name in args.settings.split(","):
        setting = all_settings[name]
        base_skeleton = FlexPoseGenerator.from_pretrained(setting["base"]).config.skeleton
        target = target_pool(setting, base_skeleton)
        for shots in (int(s) for s in args.shots.split(",")):
            shot_kp, _ = split_shots(target, shots, np.random.default_rng(args.seed), name)  # the harness's draw
            base = FlexPoseGenerator.from_pretrained(setting["base"])
            result = adapt(base, to_unit_poses(shot_kp), AdaptConfig(seed=args.seed), progress=False)
            values = torch.cat([q.detach().flatten() for q in result.adapted.trainable])
            print(f"{name}, {shots} shots: {float((values == 0).float().mean()):.1%} of tau's {len(values):,} "
                  f"numbers exactly 0 (adapt {result.seconds:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
