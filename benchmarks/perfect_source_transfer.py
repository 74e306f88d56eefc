"""How far can K target shots move a *perfect* source toward the target distribution?

Real MPII poses stand in for a flawless source generator. Each row transforms them with information
taken from the shots (or, as an upper bound, from the held-out target poses themselves) and scores
2,000 of them against the held-out target poses with the same metrics as the harness (nn1 on the
joints the target shares with MPII, lower is better):

* ``source``: the poses unchanged;
* ``bone_ratio[shots|oracle]``: each bone rescaled so that the median bone-length ratio (bone / total
  bone length) matches the shots' (or the whole target's); joint angles kept;
* ``bone_ratio+angle[...]``: and each joint's angle relative to its parent bone shifted by the
  difference of circular means (the paper's "joint rotation" transformation);
* ``spread[shots|oracle, pull]``: each pose's offset from the mean pose scaled by
  (spread of the shots (or the whole target) / spread of the poses) ** pull, the spread being the
  mean pairwise distance: the pose-space counterpart of tau's dispersion calibration;
* ``mean[shots|oracle, beta]``: every pose shifted by ``beta`` times the difference between the
  shots' (or the whole target's) mean pose and the poses' own (re-normalized coordinates);
* ``tilt[shots, h]``: MPII poses drawn (without replacement) with weights from a Gaussian kernel of
  bandwidth h (unit pose coordinates) around the shots (a density-ratio tilt).

    python benchmarks/perfect_source_transfer.py --data ../shared/data --shots 10 --seeds 3 [--settings mpii->market]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from harness import settings, target_pool

from flexpose_hf import load_poses, pose_arrays
from flexpose_hf.adaptation.mixup import kinematic_tree
from flexpose_hf.adaptation.spread import pose_spread, renormalize
from flexpose_hf.metrics import evaluate_poses
from flexpose_hf.skeletons import get_skeleton
from flexpose_hf.training.data import to_unit_poses


class BoneModel:
    """Poses as bone-length shares and joint angles relative to the parent bone, and back."""

    def __init__(self, mask: np.ndarray) -> None:
        tree = kinematic_tree("mpii16", mask)
        self.bones = [(p, c) for p, c in tree if p != c]
        self.roots = [p for p, c in tree if p == c]
        self.parent_of = np.array([p for p, _ in self.bones])
        self.child_of = np.array([c for _, c in self.bones])
        by_child = {c: b for b, (_, c) in enumerate(self.bones)}
        self.parent_bone = np.array([by_child.get(p, -1) for p, _ in self.bones])

    def decompose(self, poses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        vec = poses[:, self.child_of] - poses[:, self.parent_of]
        length = np.linalg.norm(vec, axis=-1)
        angle = np.arctan2(vec[..., 1], vec[..., 0])
        parent_angle = np.where(self.parent_bone >= 0, angle[:, np.maximum(self.parent_bone, 0)], 0.0)
        total = length.sum(1, keepdims=True)
        return length / total, np.angle(np.exp(1j * (angle - parent_angle))), total

    def compose(self, roots_from: np.ndarray, shares: np.ndarray, relative: np.ndarray,
                total: np.ndarray) -> np.ndarray:
        out = np.full(roots_from.shape, np.nan)
        out[:, self.roots] = roots_from[:, self.roots]
        angle = np.zeros_like(relative)
        for b, (p, c) in enumerate(self.bones):
            angle[:, b] = relative[:, b] + (angle[:, self.parent_bone[b]] if self.parent_bone[b] >= 0 else 0.0)
            step = np.stack([np.cos(angle[:, b]), np.sin(angle[:, b])], -1)
            out[:, c] = out[:, p] + (shares[:, b] * total[:, 0])[:, None] * step
        return out


def circular_mean(a: np.ndarray) -> np.ndarray:
    return np.angle(np.exp(1j * a).mean(0))


def rows_for(source: np.ndarray, shots: np.ndarray, held: np.ndarray, model: BoneModel,
             rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    fake = source[rng.choice(len(source), n, replace=False)]
    shares, relative, total = model.decompose(fake)
    rows = {"source": fake}
    for tag, ref in (("shots", shots), ("oracle", held)):
        ref_shares, ref_relative, _ = model.decompose(ref)
        rescaled = shares * (np.median(ref_shares, 0) / np.median(shares, 0))
        rows[f"bone_ratio[{tag}]"] = model.compose(fake, rescaled, relative, total)
        shift = circular_mean(ref_relative) - circular_mean(relative)
        rows[f"bone_ratio+angle[{tag}]"] = model.compose(fake, rescaled, relative + shift, total)
    mask = ~np.isnan(shots[0]).any(-1)
    for tag, ref in (("shots", shots), ("oracle", held)):
        for pull in (0.1, 0.5, 1.0):
            rows[f"spread[{tag}, pull={pull}]"] = widen(fake, ref, mask, pull)
    unit = renormalize(torch.from_numpy(np.nan_to_num(fake).astype(np.float32)), torch.from_numpy(mask)).numpy()
    for tag, ref in (("shots", shots), ("oracle", held)):
        shift = np.nanmean(ref[:, mask], 0) - unit[:, mask].mean(0)
        for beta in (0.25, 0.5):
            moved = unit.astype(np.float64).copy()
            moved[:, mask] += beta * shift
            rows[f"mean[{tag}, beta={beta}]"] = moved
    d2 = ((source[:, None, mask] - shots[None, :, mask]) ** 2).sum((-1, -2))
    for bandwidth in (0.5, 1.0):
        weights = np.exp(-d2 / (2 * bandwidth**2)).mean(1)
        # Without replacement: a repeated pose is its own nearest neighbour, which nn1 punishes.
        pick = rng.choice(len(source), n, replace=False, p=weights / weights.sum())
        rows[f"tilt[shots, h={bandwidth}]"] = source[pick]
    return rows


def spread_of(poses: np.ndarray, mask: np.ndarray) -> float:
    return float(pose_spread(torch.from_numpy(np.nan_to_num(poses).astype(np.float32)), torch.from_numpy(mask)))


def widen(fake: np.ndarray, ref: np.ndarray, mask: np.ndarray, pull: float) -> np.ndarray:
    """Scale offsets from the mean pose by (spread of ``ref`` / spread of ``fake``) ** ``pull``."""
    unit = renormalize(torch.from_numpy(np.nan_to_num(fake).astype(np.float32)), torch.from_numpy(mask)).numpy()
    factor = (spread_of(ref, mask) / spread_of(unit, mask)) ** pull
    mean = unit[:, mask].mean(0)
    out = unit.astype(np.float64).copy()
    out[:, mask] = mean + factor * (unit[:, mask] - mean)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--shots", type=int, default=10)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--settings", default="mpii->lsp,mpii->coco", help="comma-separated harness settings")
    args = p.parse_args()
    source = pose_arrays(load_poses(args.data / "mpii" / "mpii_dataset.csv"))[0]
    source = to_unit_poses(source[np.isfinite(source).all((1, 2))]).astype(np.float64)
    all_settings = settings(args.data)
    spreads: list[str] = []
    print("| setting | transform of real MPII poses | nn1 (mean +- std) | coverage |")
    print("|---|---|---|---|")
    for name in args.settings.split(","):
        pool, mask = target_pool(all_settings[name], "mpii16")
        joints = tuple(j for j, m in zip(get_skeleton("mpii16").joints, mask) if m)
        model = BoneModel(mask)
        scores: dict[str, list[tuple[float, float]]] = {}
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            perm = rng.permutation(len(pool))
            shots, held = to_unit_poses(pool[perm[: args.shots]]), pool[perm[args.shots:]]
            for row, fake in rows_for(source, shots, to_unit_poses(held), model, rng, args.samples).items():
                m = evaluate_poses(fake, "mpii16", held, "mpii16", joints=joints)
                scores.setdefault(row, []).append((m["nn1"], m["coverage"]))
        spreads.append(f"{name}: MPII {spread_of(to_unit_poses(source[:4000]), mask):.3f}, "
                       f"target {spread_of(to_unit_poses(pool[:4000]), mask):.3f}")
        for row, vals in scores.items():
            nn1, cov = np.array(vals).T
            print(f"| {name} | {row} | {nn1.mean():.3f} +- {nn1.std():.3f} | {cov.mean():.3f} |", flush=True)

    print("\nspread (mean pairwise distance on the shared joints, first 4,000 poses): " + "; ".join(spreads))


if __name__ == "__main__":
    main()
