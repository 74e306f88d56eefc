"""The training objective every method shares: a two-sample divergence on decoded keypoints.

The target is the strength-weighted mixture of the source generator (the prior) and the augmented
shot pool (the evidence), held fixed through training:

- the prior part is the source generator's decoding of the same fixed latents the trained model
  decodes every step (common random numbers), with total weight ``1 - w``: at ``w = 0`` the source
  itself is the exact optimum, so nothing moves without evidence, and no sampling noise is fitted;
- the pool part is a fixed draw of shots and mirror images (plus pose-mixup pairs if asked), total weight ``w``.

The default loss is a squared MMD (V-statistic) with a sum of Gaussian kernels whose bandwidths
are fractions and multiples of the targets' median pairwise distance, so they follow the skeleton
and the target rather than a tuned constant; the energy distance (an MMD with the distance kernel)
and a debiased Sinkhorn divergence are the measured alternatives (``DIVERGENCES``; BENCHMARKS.md
compares them). Each is zero only when the two weighted sets coincide. A fresh draw every step made
Adam random-walk the parameters at the optimum (BENCHMARKS.md). Both sides are compared as
``pose_vectors`` on the target's joints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..codec import canvas_to_unit
from ..poses import pose_vectors
from ..training.losses import exact_distances, gaussian_kernel_sum, median_distance
from .pool import augmented_pool


def energy_distance(x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None,
                    yy: torch.Tensor | None = None) -> torch.Tensor:
    """V-statistic energy distance 2E|X-Y| - E|X-X'| - E|Y-Y'| between equally weighted ``x`` and ``y``
    with ``weights`` (summing to 1; uniform when omitted). ``yy``: E|Y-Y'| if already known."""
    if weights is None:
        weights = torch.full((len(y),), 1.0 / len(y), dtype=y.dtype, device=y.device)
    if yy is None:
        yy = weighted_self_distance(y, weights)
    return 2 * (exact_distances(x, y) @ weights).mean() - exact_distances(x, x).mean() - yy


def weighted_self_distance(y: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return weights @ exact_distances(y, y) @ weights


@dataclass
class TargetSet:
    """The fixed training targets: unit poses, their vectors and weights (prior part first)."""

    unit: torch.Tensor  # N x J x 2
    vectors: torch.Tensor  # N x 2M
    weights: torch.Tensor  # N, summing to 1
    from_shots: int  # distinct pool-drawn rows (the last ones)
    scale: float  # median pairwise distance among the targets, every draw counted (kernel bandwidths)

    @classmethod
    @torch.no_grad()
    def build(cls, base: torch.nn.Module, z: torch.Tensor, pool: np.ndarray, skeleton: str, mask: np.ndarray,
              origin: list[int], pool_draws: int, target_weight: float, mixup_share: float, seed: int) -> TargetSet:
        """Prior: ``base`` decoding ``z``; evidence: ``pool_draws`` draws from the augmented ``pool``."""
        res, margin = base.config.resolution, base.config.margin
        mask_t = torch.from_numpy(mask)
        prior = canvas_to_unit(base(z, output="keypoints"), res, margin).float()
        prior[:, ~mask_t] = 0.0
        parts, weights = [prior], [torch.full((len(prior),), (1 - target_weight) / len(prior))]
        every_draw, from_shots = [prior], 0
        if target_weight > 0:
            rng = np.random.default_rng([seed, 17])
            drawn = augmented_pool(pool, skeleton, mask, pool_draws, mixup_share, rng).astype(np.float32)
            every_draw.append(torch.from_numpy(drawn))
            # Draws of the same pool pose become one row weighing as many draws: the same loss at a
            # fraction of the pairwise distances (the shots and mirror images repeat ~50x at 10 shots).
            distinct, counts = np.unique(drawn.reshape(len(drawn), -1), axis=0, return_counts=True)
            from_shots = len(distinct)
            parts.append(torch.from_numpy(distinct.reshape(-1, *drawn.shape[1:])))
            weights.append(torch.from_numpy(counts * (target_weight / pool_draws)).float())
        unit, w = torch.cat(parts), torch.cat(weights)
        scale = float(median_distance(pose_vectors(torch.cat(every_draw), mask_t, origin)))
        return cls(unit, pose_vectors(unit, mask_t, origin), w, from_shots, scale)


def generated_vectors(model: torch.nn.Module, z: torch.Tensor, resolution: int, margin: float, mask: torch.Tensor,
                      origin: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit poses the model decodes from ``z`` and their ``pose_vectors``."""
    unit = canvas_to_unit(model(z, output="keypoints"), resolution, margin)
    return unit, pose_vectors(unit, mask, origin)


def _energy(y: torch.Tensor, weights: torch.Tensor, scale: float) -> Callable[[torch.Tensor], torch.Tensor]:
    yy = weighted_self_distance(y, weights)
    return lambda x: energy_distance(x, y, weights, yy)


def _mmd(y: torch.Tensor, weights: torch.Tensor, scale: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """Squared MMD (V-statistic) with a sum of Gaussian kernels at 1/4, 1/2, 1 and 2 x ``scale``."""
    widest = 2 * scale
    kyy = weights @ gaussian_kernel_sum(y, y, widest) @ weights
    return lambda x: (gaussian_kernel_sum(x, x, widest).mean() - 2 * (gaussian_kernel_sum(x, y, widest) @ weights).mean()
                      + kyy)


def _sinkhorn_cost(x: torch.Tensor, y: torch.Tensor, a_log: torch.Tensor, b_log: torch.Tensor, eps: float,
                   iterations: int) -> torch.Tensor:
    """Entropic OT cost OT_eps(a, b) for the cost |x - y|^2 / 2, by log-domain Sinkhorn iterations
    without gradients and one differentiable last update of both potentials (as geomloss does)."""
    cost = exact_distances(x, y).pow(2) / 2
    f, g = torch.zeros_like(a_log), torch.zeros_like(b_log)
    with torch.no_grad():
        c = cost.detach()
        for _ in range(iterations):  # symmetric (averaged) updates converge faster than alternating ones
            f_new = -eps * torch.logsumexp(b_log[None, :] + (g[None, :] - c) / eps, dim=1)
            g_new = -eps * torch.logsumexp(a_log[:, None] + (f[:, None] - c) / eps, dim=0)
            f, g = 0.5 * (f + f_new), 0.5 * (g + g_new)
    f_last = -eps * torch.logsumexp(b_log[None, :] + (g[None, :] - cost) / eps, dim=1)
    g_last = -eps * torch.logsumexp(a_log[:, None] + (f[:, None] - cost) / eps, dim=0)
    return (a_log.exp() * f_last).sum() + (b_log.exp() * g_last).sum()


def _sinkhorn(y: torch.Tensor, weights: torch.Tensor, scale: float, blur: float = 0.5,
              iterations: int = 50) -> Callable[[torch.Tensor], torch.Tensor]:
    """Debiased Sinkhorn divergence OT(x, y) - OT(x, x) / 2 - OT(y, y) / 2, entropic blur ``blur`` x
    ``scale`` (the median distance). Below about half the median distance, 256 samples of the target itself scored
    worse than the same samples shrunk by half (measured on 24-dimensional Gaussians): with so few
    samples a sharp transport cost rewards contraction."""
    eps = float((blur * scale) ** 2)
    b_log = weights.clamp_min(1e-30).log()
    with torch.no_grad():
        yy = _sinkhorn_cost(y, y, b_log, b_log, eps, iterations)

    def divergence(x: torch.Tensor) -> torch.Tensor:
        a_log = torch.full((len(x),), -float(np.log(len(x))), dtype=x.dtype, device=x.device)
        return (_sinkhorn_cost(x, y, a_log, b_log, eps, iterations)
                - 0.5 * _sinkhorn_cost(x, x, a_log, a_log, eps, iterations) - 0.5 * yy)

    return divergence


# name -> builder(target vectors, target weights, scale) -> loss(generated vectors); each is 0 when the
# generated set equals the weighted target set and is built once, so its target-only terms are cached.
DIVERGENCES: dict[str, Callable[[torch.Tensor, torch.Tensor, float], Callable[[torch.Tensor], torch.Tensor]]] = {
    "mmd": _mmd,
    "energy": _energy,
    "sinkhorn": _sinkhorn,
}

# How the model card names each loss.
DIVERGENCE_NAMES = {"mmd": "MMD (Gaussian kernels)", "energy": "energy distance", "sinkhorn": "Sinkhorn divergence"}


def make_divergence(name: str, target_vectors: torch.Tensor, weights: torch.Tensor,
                    scale: float | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """The loss ``name`` (one of ``DIVERGENCES``) between generated vectors and the weighted targets;
    ``scale`` (kernel bandwidth, blur) defaults to the targets' median pairwise distance."""
    if scale is None:
        scale = float(median_distance(target_vectors))
    return DIVERGENCES[name](target_vectors, weights, scale)
