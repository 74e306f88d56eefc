"""The mapping f: z -> w. Two forms, chosen by ``FlexPoseGeneratorConfig.mapping``.

- ``MappingNetwork`` (``"mlp"``): StyleGAN's MLP after pixel normalization, trained with the generator.
- ``LatentBankMapping`` (``"bank"``): a Gaussian kernel density over a bank of w codes, the inverted
  training poses (``flexpose_hf.training.latent_bank``). Measured on the face generator (BENCHMARKS.md,
  "Source generators"): phi and A draw the real face variety from inverted codes, while the MLP puts too
  little mass on part of it; the bank keeps that variety, but leaves tau no mapping layer to adapt.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import PixelNorm


class MappingNetwork(nn.Module):
    """f: z -> w, an MLP after pixel normalization."""

    def __init__(self, z_dim: int, w_dim: int, num_layers: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [PixelNorm()]
        for i in range(num_layers):
            layers += [nn.Linear(z_dim if i == 0 else w_dim, w_dim), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class LatentBankMapping(nn.Module):
    """f: z -> w = codes[i] + z[:, 1:] @ noise, a Gaussian kernel density over ``bank_size`` w codes.

    ``z[:, 0]`` picks the code (its normal CDF, so a standard normal z picks every code equally often)
    and the other ``z_dim - 1`` coordinates are the kernel's noise: ``noise`` holds the codes' leading
    principal directions scaled by their spread and the bandwidth. Deterministic in z, as the MLP is, so
    fixed latents, seeds and truncation behave the same; both tensors are parameters (fine-tuning moves
    them). It has no linear layer: tau and LoRA adapt the style layers only (measured in BENCHMARKS.md).
    """

    def __init__(self, z_dim: int, w_dim: int, bank_size: int) -> None:
        super().__init__()
        if z_dim < 2 or bank_size < 1:
            raise ValueError(f"a latent bank needs z_dim >= 2 and bank_size >= 1, got {z_dim} and {bank_size}")
        self.codes = nn.Parameter(torch.zeros(bank_size, w_dim))
        self.noise = nn.Parameter(torch.zeros(z_dim - 1, w_dim))

    @property
    def bank_size(self) -> int:
        return self.codes.shape[0]

    def pick(self, z: torch.Tensor) -> torch.Tensor:
        """Which code each latent draws from (N integers in [0, bank_size))."""
        u = torch.special.ndtr(z[:, 0].double())
        return (u * self.bank_size).long().clamp_(0, self.bank_size - 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.codes[self.pick(z)] + z[:, 1:] @ self.noise

    @torch.no_grad()
    def set_bank(self, codes: torch.Tensor, bandwidth: float) -> None:
        """Load ``codes`` (bank_size x w_dim) and the kernel: the codes' covariance restricted to its
        ``z_dim - 1`` leading principal directions, times ``bandwidth`` squared."""
        if codes.shape != self.codes.shape:
            raise ValueError(f"set_bank: codes of shape {tuple(codes.shape)}, expected {tuple(self.codes.shape)}")
        if bandwidth < 0:
            raise ValueError(f"set_bank: bandwidth must be >= 0, got {bandwidth}")
        self.codes.copy_(codes)
        centred = (codes - codes.mean(0)).double()
        values, vectors = torch.linalg.eigh(centred.T @ centred / max(len(codes) - 1, 1))
        rank = min(self.noise.shape[0], len(values))
        top = torch.flip(torch.arange(len(values)), [0])[:rank]
        directions = (vectors[:, top] * values[top].clamp_min(0).sqrt()).T  # rank x w_dim
        self.noise.zero_()
        self.noise[:rank] = (bandwidth * directions).to(self.noise.dtype)
