"""The augmented target pool: the shots, their mirror images and (optionally) pose-mixup pairs of them."""

from __future__ import annotations

import numpy as np

from ..skeletons import get_skeleton
from ..training.data import flip_poses
from .mixup import mix_poses


def mirrors_onto_itself(skeleton: str, mask: np.ndarray) -> bool:
    """Whether the joint set ``mask`` maps onto itself under a left/right flip."""
    return bool((mask == mask[get_skeleton(skeleton).flip_permutation()]).all())


def shot_pool(unit_shots: np.ndarray, skeleton: str, mask: np.ndarray, flip: bool) -> np.ndarray:
    """The shots, and their mirror images when ``flip`` and the joint set is symmetric (NaN -> 0)."""
    shots = np.nan_to_num(unit_shots).astype(np.float32)
    shots[:, ~mask] = 0.0
    if flip and mirrors_onto_itself(skeleton, mask):
        return np.concatenate([shots, flip_poses(shots, skeleton)])
    return shots


def augmented_pool(pool: np.ndarray, skeleton: str, mask: np.ndarray, size: int, mixup_share: float,
                   rng: np.random.Generator) -> np.ndarray:
    """``size`` target poses: pool poses drawn at random, ``mixup_share`` of them mixtures of two."""
    n_mix = round(size * mixup_share) if len(pool) > 1 else 0
    drawn = pool[rng.integers(len(pool), size=size - n_mix)]
    if not n_mix:
        return drawn
    masked = pool.astype(np.float64).copy()
    masked[:, ~mask] = np.nan
    mixed = np.nan_to_num(mix_poses(masked, skeleton, n_mix, rng), nan=0.0).astype(np.float32)
    return np.concatenate([drawn, mixed])
