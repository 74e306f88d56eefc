"""The pose encoder of source training: real pose -> Gaussian posterior over z.

Its reconstruction path (pose -> z -> generator -> pose) makes every training pose reachable from
some latent, which gives the generator the coverage that adversarial training alone reaches only
after CPU hours; the KL term keeps those latents distributed like the prior z ~ N(0, I).
"""

from __future__ import annotations

import torch
from torch import nn


class PoseEncoder(nn.Module):
    def __init__(self, num_joints: int, z_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.net = nn.Sequential(
            nn.Linear(2 * num_joints, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, 2 * z_dim),
        )

    def forward(self, unit_poses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """N x J x 2 unit poses -> (mean, log-variance), each N x z_dim."""
        h = self.net(unit_poses.flatten(1))
        return h[:, : self.z_dim], h[:, self.z_dim:].clamp(-10, 5)


def kl_to_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)), summed over dimensions, averaged over the batch."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()
