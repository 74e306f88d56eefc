"""Completion of partial annotations: error of filled joints on held-out target poses.

    python benchmarks/completion.py --data ../shared/data [--setting mpii->rope] [--seeds 3]
    python benchmarks/completion.py --data ../shared/data --setting lsp_far0      # far_targets.py's clusters

Hides a random 30% of the joints of held-out target poses (seeded), fills them with the adapted
generator, the source generator, the mean target pose (the shots' mean, placed by the labelled
joints with translation and scale, or with a similarity fit that also rotates it) and the nearest shot, and reports the mean error of the filled joints divided by the
pose's torso size (shoulder-midpoint to hip-midpoint distance), per draw of shots and averaged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import TargetPool, settings, split_shots, target_pool

from flexpose_hf.completion import complete_poses
from flexpose_hf.loading import load_generator
from flexpose_hf.skeletons import get_skeleton


def torso(kp: np.ndarray, skeleton: str) -> np.ndarray:
    s = get_skeleton(skeleton)
    sh = (kp[:, s.index("left_shoulder")] + kp[:, s.index("right_shoulder")]) / 2
    hp = (kp[:, s.index("left_hip")] + kp[:, s.index("right_hip")]) / 2
    return np.linalg.norm(sh - hp, axis=-1)


def place(template: np.ndarray, partial: np.ndarray, rotate: bool = False) -> np.ndarray:
    """Fit a template pose to the labelled joints by translation + scale, and with ``rotate`` also a
    rotation (a similarity fit, least squares, no reflection)."""
    known = ~np.isnan(partial).any(-1)
    t, p = template[known] - template[known].mean(0), partial[known] - partial[known].mean(0)
    rotation = np.eye(2)
    if rotate:
        u, _, vt = np.linalg.svd(t.T @ p)
        d = np.sign(np.linalg.det(u @ vt))
        rotation = u @ np.diag([1.0, d]) @ vt
    scale = np.sqrt((p ** 2).sum() / max((t ** 2).sum(), 1e-12))
    return (template - template[known].mean(0)) @ rotation * scale + partial[known].mean(0)


def one_draw(setting: dict, source, target: TargetPool, args: argparse.Namespace, seed: int) -> dict[str, float]:
    from flexpose_hf import FlexPoseGenerator
    from flexpose_hf.adaptation import AdaptConfig, adapt
    from flexpose_hf.training.data import to_unit_poses

    skeleton = source.config.skeleton
    rng = np.random.default_rng(seed)
    mask = target.mask
    shots, held = split_shots(target, args.shots, rng, args.setting)
    held = held[: args.poses]
    truth = held[:, mask]
    partial = truth.copy()
    hidden = rng.random(partial.shape[:2]) < args.hide
    hidden[hidden.all(1), 0] = False
    partial[hidden] = np.nan
    full = np.full(held.shape, np.nan)
    full[:, mask] = partial
    norm = torso(held, skeleton)[:, None]

    def err(filled: np.ndarray) -> float:
        return float((np.linalg.norm(filled - truth, axis=-1) / norm)[hidden].mean())

    adapted = adapt(FlexPoseGenerator.from_pretrained(setting["base"]), to_unit_poses(shots), AdaptConfig(seed=seed),
                    progress=False).adapted.model.eval()
    rows = {}
    for name, model in (("adapted (tau)", adapted), ("source", source)):
        rows[f"{name} generator"] = err(complete_poses(model, full, progress=False)[:, mask])
    mean_shot = shots[:, mask].mean(0)
    rows["mean target pose"] = err(np.stack([place(mean_shot, p) for p in partial]))
    rows["mean target pose, similarity-aligned"] = err(np.stack([place(mean_shot, p, rotate=True) for p in partial]))
    nearest = []
    for p in partial:
        fits = [place(s[mask], p) for s in shots]
        known = ~np.isnan(p).any(-1)
        nearest.append(min(fits, key=lambda f: np.linalg.norm(f[known] - p[known])))
    rows["nearest shot"] = err(np.stack(nearest))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--setting", default="mpii->rope")
    ap.add_argument("--shots", type=int, default=10)
    ap.add_argument("--poses", type=int, default=200)
    ap.add_argument("--hide", type=float, default=0.3)
    ap.add_argument("--seeds", type=int, default=3, help="draws of shots (and hidden joints)")
    args = ap.parse_args()
    if args.setting.startswith("lsp_far"):
        from far_targets import BASE, far_clusters

        setting = {"base": BASE}
        source = load_generator(BASE)
        far = far_clusters(args.data, source)
        if args.setting not in far:
            raise SystemExit(f"--setting {args.setting}: far_targets.py builds {', '.join(far)}")
        target = TargetPool(far[args.setting]["pool"], far[args.setting]["mask"])
    else:
        setting = settings(args.data)[args.setting]
        source = load_generator(setting["base"])
        target = target_pool(setting, source.config.skeleton)
    draws = [one_draw(setting, source, target, args, seed) for seed in range(args.seeds)]
    print(f"| method ({args.setting}, {args.shots} shots, up to {args.poses} held-out poses, "
          f"{int(args.hide * 100)}% joints hidden) | error of filled joints / torso, per draw | mean |\n|---|---|---|")
    for name in draws[0]:
        values = [d[name] for d in draws]
        print(f"| {name} | {', '.join(f'{v:.3f}' for v in values)} | {np.mean(values):.3f} |")


if __name__ == "__main__":
    main()
