"""Which style layers carry pose transformation (FlexPose's Figure 4, measured on our generators).

For each candidate style layer l, a fresh tau acts on layer l alone; tau and one latent z per target
pose are optimized together to reconstruct the target shots (on the joints the target has, after
the same bounding-box normalization as adaptation). A layer whose tau lets the generator reach
the targets with a small error is one that carries the pose transformation.

    python benchmarks/layer_choice.py --data ../shared/data [--shots 10 --seeds 3 --iters 300]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from peft import get_peft_model

from flexpose_hf import FlexPoseGenerator, TauConfig
from flexpose_hf.adaptation.trainer import renormalize, renormalize_np
from flexpose_hf.codec import canvas_to_unit
from flexpose_hf.training.data import to_unit_poses

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import settings, target_pool


def reconstruction_error(base_name: str, shots_unit: np.ndarray, mask: np.ndarray, layers: list[int] | None,
                         iters: int, seed: int) -> float:
    torch.manual_seed(seed)
    generator = FlexPoseGenerator.from_pretrained(base_name)
    model = get_peft_model(generator, TauConfig(layers=layers)) if layers is not None else generator.requires_grad_(
        False)
    m = torch.from_numpy(mask)
    target = torch.from_numpy(renormalize_np(shots_unit, mask))[:, m]
    z = torch.randn(len(target), generator.config.z_dim, requires_grad=True)
    params = [z] + [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=0.02)
    cfg = generator.config
    for _ in range(iters):
        out = renormalize(canvas_to_unit(model(z, output="keypoints"), cfg.resolution, cfg.margin), m)[:, m]
        loss = (out - target).pow(2).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = renormalize(canvas_to_unit(model(z, output="keypoints"), cfg.resolution, cfg.margin), m)[:, m]
        return float((out - target).norm(dim=-1).mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--settings", default="mpii->lsp,mpii->coco")
    p.add_argument("--shots", type=int, default=10)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--iters", type=int, default=300)
    args = p.parse_args()
    all_settings = settings(args.data)
    rows = {}
    for name in args.settings.split(","):
        setting = all_settings[name]
        skeleton = FlexPoseGenerator.from_pretrained(setting["base"]).config.skeleton
        pool, mask = target_pool(setting, skeleton)
        num_layers = FlexPoseGenerator.from_pretrained(setting["base"]).num_style_layers
        candidates: list[tuple[str, list[int] | None]] = [("none (latents only)", None)]
        candidates += [(str(layer), [layer]) for layer in range(num_layers)]
        for label, layers in candidates:
            errs = []
            for seed in range(args.seeds):
                shots = pool[np.random.default_rng(seed).permutation(len(pool))[: args.shots]]
                errs.append(reconstruction_error(setting["base"], to_unit_poses(shots), mask, layers, args.iters, seed))
            rows[(name, label)] = (float(np.mean(errs)), float(np.std(errs)))
            print(json.dumps({"setting": name, "tau_layer": label, "error_mean": rows[(name, label)][0],
                              "error_std": rows[(name, label)][1]}), flush=True)
    print("\n| setting | tau on layer | reconstruction error of the shots (mean joint distance, pose units) |")
    print("|---|---|---|")
    for (name, label), (mean, std) in rows.items():
        print(f"| {name} | {label} | {mean:.4f} +- {std:.4f} |")


if __name__ == "__main__":
    main()
