"""GAN losses (non-saturating logistic, R1) and the IMLE coverage term."""

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


@torch.no_grad()
def nearest_candidates(targets: torch.Tensor, candidates: torch.Tensor,
                       joint_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Index of the nearest candidate pose (N_c x J x 2) for each target pose (N_t x J x 2)."""
    if joint_mask is not None:
        targets, candidates = targets[:, joint_mask], candidates[:, joint_mask]
    return torch.cdist(targets.flatten(1), candidates.flatten(1)).argmin(dim=1)


def imle_loss(matched: torch.Tensor, targets: torch.Tensor, joint_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared joint distance between each target and the sample matched to it."""
    if joint_mask is not None:
        matched, targets = matched[:, joint_mask], targets[:, joint_mask]
    return (matched - targets).pow(2).sum(-1).mean()
