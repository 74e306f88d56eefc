"""The training objective every method shares: an energy distance on decoded keypoints.

The target is the strength-weighted mixture of the source generator (the prior) and the augmented
shot pool (the evidence), held fixed through training:

- the prior part is the source generator's decoding of the same fixed latents the trained model
  decodes every step (common random numbers), with total weight ``1 - w``: at ``w = 0`` the source
  itself is the exact optimum, so nothing moves without evidence, and no sampling noise is fitted;
- the pool part is a fixed draw of shots, mirror images and pose-mixup pairs, total weight ``w``.

The loss is the V-statistic energy distance (a squared MMD with the distance kernel: zero only when
the two weighted sets coincide). A fresh draw every step made Adam random-walk the parameters at the
optimum (BENCHMARKS.md). Both sides are compared as ``pose_vectors`` on the target's joints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..codec import canvas_to_unit
from ..poses import pose_vectors
from .pool import augmented_pool


def energy_distance(x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None,
                    yy: torch.Tensor | None = None) -> torch.Tensor:
    """V-statistic energy distance 2E|X-Y| - E|X-X'| - E|Y-Y'| between equally weighted ``x`` and ``y``
    with ``weights`` (summing to 1; uniform when omitted). ``yy``: E|Y-Y'| if already known."""
    if weights is None:
        weights = torch.full((len(y),), 1.0 / len(y), dtype=y.dtype, device=y.device)
    if yy is None:
        yy = weighted_self_distance(y, weights)
    return 2 * (distances(x, y) @ weights).mean() - distances(x, x).mean() - yy


def distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact pairwise Euclidean distances (torch's matrix-product shortcut puts ~1e-3 on equal points,
    and its noisy gradients would move a model that is already at the optimum)."""
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def weighted_self_distance(y: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return weights @ distances(y, y) @ weights


@dataclass
class TargetSet:
    """The fixed training targets: unit poses, their vectors and weights (prior part first)."""

    unit: torch.Tensor  # N x J x 2
    vectors: torch.Tensor  # N x 2M
    weights: torch.Tensor  # N, summing to 1
    from_shots: int  # pool-drawn rows (the last ones)
    self_distance: torch.Tensor  # E|Y - Y'|, constant through training

    @classmethod
    @torch.no_grad()
    def build(cls, base: torch.nn.Module, z: torch.Tensor, pool: np.ndarray, skeleton: str, mask: np.ndarray,
              origin: list[int], pool_draws: int, target_weight: float, mixup_share: float, seed: int) -> TargetSet:
        """Prior: ``base`` decoding ``z``; evidence: ``pool_draws`` draws from the augmented ``pool``."""
        res, margin = base.config.resolution, base.config.margin
        prior = canvas_to_unit(base(z, output="keypoints"), res, margin).float()
        prior[:, ~torch.from_numpy(mask)] = 0.0
        parts, weights = [prior], [torch.full((len(prior),), (1 - target_weight) / len(prior))]
        from_shots = pool_draws if target_weight > 0 else 0
        if from_shots:
            rng = np.random.default_rng([seed, 17])
            drawn = augmented_pool(pool, skeleton, mask, from_shots, mixup_share, rng)
            parts.append(torch.from_numpy(drawn.astype(np.float32)))
            weights.append(torch.full((from_shots,), target_weight / from_shots))
        unit, w = torch.cat(parts), torch.cat(weights)
        vectors = pose_vectors(unit, torch.from_numpy(mask), origin)
        return cls(unit, vectors, w, from_shots, weighted_self_distance(vectors, w))


def generated_vectors(model: torch.nn.Module, z: torch.Tensor, resolution: int, margin: float, mask: torch.Tensor,
                      origin: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit poses the model decodes from ``z`` and their ``pose_vectors``."""
    unit = canvas_to_unit(model(z, output="keypoints"), resolution, margin)
    return unit, pose_vectors(unit, mask, origin)
