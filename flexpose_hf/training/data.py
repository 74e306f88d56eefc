"""Pose sets prepared for training: unit pose coordinates, optional horizontal-flip augmentation."""

from __future__ import annotations

import numpy as np
import torch

from ..codec import fit_to_canvas
from ..skeletons import get_skeleton


def to_unit_poses(keypoints: np.ndarray) -> np.ndarray:
    """Centre each pose's bounding box at 0 and scale its longer side to 1 (NaN kept)."""
    canvas, _ = fit_to_canvas(keypoints, resolution=2, margin=0.0)  # canvas [0, 1] -> shift to centre
    return (canvas - 0.5).astype(np.float32)


def flip_poses(unit: np.ndarray, skeleton: str) -> np.ndarray:
    """Mirror x and swap left/right joints."""
    flipped = unit[:, get_skeleton(skeleton).flip_permutation()].copy()
    flipped[..., 0] *= -1
    return flipped


class PoseSampler:
    """Random minibatches of unit poses (with flips when ``flip``), seeded."""

    def __init__(self, unit_poses: np.ndarray, skeleton: str, flip: bool = True, seed: int = 0) -> None:
        poses = np.concatenate([unit_poses, flip_poses(unit_poses, skeleton)]) if flip else unit_poses
        self.poses = torch.from_numpy(np.ascontiguousarray(poses, dtype=np.float32))
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.poses)

    def sample(self, batch_size: int) -> torch.Tensor:
        idx = torch.randint(len(self.poses), (batch_size,), generator=self.generator)
        return self.poses[idx]


def split_source(keypoints: np.ndarray, held_out: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Complete poses split into (training, held-out); at most a fifth is held out. Seeded."""
    complete = keypoints[~np.isnan(keypoints).any(axis=(1, 2))]
    perm = np.random.default_rng(seed).permutation(len(complete))
    held_out = min(held_out, len(complete) // 5)
    return complete[perm[held_out:]], complete[perm[:held_out]]

