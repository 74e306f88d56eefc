"""The mapping f: z -> w. Two forms, chosen by ``FlexPoseGeneratorConfig.mapping``.

- ``MappingNetwork`` (``"mlp"``): StyleGAN's MLP after pixel normalization, trained with the generator.
- ``LatentBankMapping`` (``"bank"``): the same MLP entered through a Gaussian kernel density over a bank
  of codes, the inverted training poses (``flexpose_hf.training.latent_bank``). Measured on the face generator (BENCHMARKS.md,
  "Source generators"): phi and A draw the real face variety from inverted codes, while the MLP puts too
  little mass on part of it; the bank keeps that variety.
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


class LatentBankMapping(MappingNetwork):
    """f with its entry replaced by a bank: ``h = codes[i] + z[:, 1:] @ noise`` stands for the output of the
    MLP's first linear layer (before its activation), and the MLP's other layers map h to w as before.

    ``z[:, 0]`` picks the code (its normal CDF, so a standard normal z picks every code equally often)
    and the other ``z_dim - 1`` coordinates are the kernel's noise: ``noise`` holds the codes' leading
    principal directions scaled by their spread and the bandwidth. Deterministic in z, as the MLP is, so
    fixed latents, seeds and truncation behave the same. The MLP's later linear layers stay, so tau
    (``TauConfig(mapping=True)``) and LoRA still adapt them and can move part of the mass; the codes and
    the kernel are parameters too (fine-tuning moves them).
    """

    def __init__(self, z_dim: int, w_dim: int, num_layers: int, bank_size: int) -> None:
        super().__init__(z_dim, w_dim, num_layers)
        if z_dim < 2 or bank_size < 1:
            raise ValueError(f"a latent bank needs z_dim >= 2 and bank_size >= 1, got {z_dim} and {bank_size}")
        self.net[0] = nn.Identity()  # pixel norm and the first linear layer: the bank stands for their output
        self.net[1] = nn.Identity()
        self.codes = nn.Parameter(torch.zeros(bank_size, w_dim))
        self.noise = nn.Parameter(torch.zeros(z_dim - 1, w_dim))

    @property
    def bank_size(self) -> int:
        return self.codes.shape[0]

    def pick(self, z: torch.Tensor) -> torch.Tensor:
        """Which code each latent draws from (N integers in [0, bank_size))."""
        u = torch.special.ndtr(z[:, 0].double())
        return (u * self.bank_size).long().clamp_(0, self.bank_size - 1)

    def entry(self, z: torch.Tensor) -> torch.Tensor:
        """The first layer's output the latents stand for: a code plus the kernel's noise."""
        return self.codes[self.pick(z)] + z[:, 1:] @ self.noise

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.entry(z))

    @torch.no_grad()
    def entry_codes(self, w: torch.Tensor) -> torch.Tensor:
        """The first-layer outputs that the rest of the MLP maps to ``w`` (N x w_dim): its leaky ReLUs and
        square linear layers are inverted exactly (float64), last to first."""
        h = w.double()
        for layer in reversed(list(self.net)[2:]):
            if isinstance(layer, nn.LeakyReLU):
                h = torch.where(h >= 0, h, h / layer.negative_slope)
            elif isinstance(layer, nn.Linear):
                h = torch.linalg.solve(layer.weight.double(), (h - layer.bias.double()).T).T
        return h.to(w.dtype)

    @torch.no_grad()
    def set_bank(self, codes: torch.Tensor, bandwidth: float) -> None:
        """Load entry ``codes`` (bank_size x w_dim; see ``entry_codes``) and the kernel: the codes'
        covariance restricted to its ``z_dim - 1`` leading principal directions, times ``bandwidth`` squared."""
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
