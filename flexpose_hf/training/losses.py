"""Training losses: the GAN's (non-saturating logistic, R1 gradient penalty) and the kernel two-sample
pieces that source refitting and adaptation share (exact distances, median scale, Gaussian kernels)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def d_logistic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake_logits).mean()


def r1_penalty(real_logits: torch.Tensor, real_inputs: list[torch.Tensor]) -> torch.Tensor:
    """Squared gradient norm of the real logits with respect to the real inputs."""
    grads = torch.autograd.grad(real_logits.sum(), real_inputs, create_graph=True)
    return sum(g.pow(2).flatten(1).sum(1).mean() for g in grads)


def exact_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact pairwise Euclidean distances (torch's matrix-product shortcut puts ~1e-3 on equal points,
    and its noisy gradients would move a model that is already at the optimum)."""
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def median_distance(y: torch.Tensor, max_points: int = 1024) -> torch.Tensor:
    """Median pairwise distance among (up to ``max_points`` evenly spaced) vectors: the scale kernel
    bandwidths are set from, so they follow the skeleton's size."""
    sub = y[:: max(1, len(y) // max_points)]
    d = exact_distances(sub, sub)
    return d[~torch.eye(len(sub), dtype=torch.bool, device=d.device)].median().clamp_min(1e-6)


def gaussian_kernel_sum(a: torch.Tensor, b: torch.Tensor, widest: float) -> torch.Tensor:
    """Sum of Gaussian kernels at bandwidths ``widest``, /2, /4 and /8 between the rows of ``a`` and ``b``
    (one exp for the widest; halving a bandwidth is the 4th power)."""
    k2 = torch.exp(-exact_distances(a, b).square() / (2 * widest**2))
    k1 = (k2 * k2).square()
    k_half = (k1 * k1).square()
    return k2 + k1 + k_half + (k_half * k_half).square()


def gaussian_mmd(x: torch.Tensor, y: torch.Tensor, widest: float) -> torch.Tensor:
    """Squared MMD (V-statistic) between equally weighted ``x`` and ``y`` with ``gaussian_kernel_sum``."""
    return (gaussian_kernel_sum(x, x, widest).mean() - 2 * gaussian_kernel_sum(x, y, widest).mean()
            + gaussian_kernel_sum(y, y, widest).mean())
