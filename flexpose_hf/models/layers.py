"""Building blocks of the StyleGAN2-style pose generator and its discriminators."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class PixelNorm(nn.Module):
    """Normalize each vector to unit root-mean-square."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class ModulatedConv2d(nn.Module):
    """StyleGAN2 convolution: the weight is scaled per input channel by the style, then
    (optionally) demodulated so each output channel has unit expected variance."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, demodulate: bool = True,
                 upsample: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.demodulate = demodulate
        self.upsample = upsample
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        # Equivalent to convolving with per-sample modulated weights, computed as scale-input,
        # shared convolution, scale-output: one batched conv instead of N grouped ones.
        weight = self.scale * self.weight
        x = x * style[:, :, None, None]
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        out = F.conv2d(x, weight, padding=self.padding)
        if self.demodulate:
            demod = torch.rsqrt(style.pow(2) @ weight.pow(2).sum(dim=(2, 3)).t() + 1e-8)  # N x O
            out = out * demod[:, :, None, None]
        return out + self.bias.view(1, -1, 1, 1)


def spatial_soft_argmax(logits: torch.Tensor) -> torch.Tensor:
    """N x J x H x W logits -> N x J x 2 expected (x, y) positions in pixel units of that grid."""
    n, j, h, w = logits.shape
    prob = torch.softmax(logits.reshape(n, j, -1), dim=-1).reshape(n, j, h, w)
    xs = torch.arange(w, device=logits.device, dtype=logits.dtype)
    ys = torch.arange(h, device=logits.device, dtype=logits.dtype)
    return torch.stack([(prob.sum(2) * xs).sum(-1), (prob.sum(3) * ys).sum(-1)], dim=-1)


class MinibatchStdDev(nn.Module):
    """Append the mean standard deviation within groups of consecutive samples as one extra
    channel/feature. Groups are contiguous, so a batch made of [real; fake] halves (each a multiple
    of the group size) never mixes the two."""

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        g = min(self.group_size, n)
        while n % g:
            g -= 1
        y = x.reshape(n // g, g, -1)
        std = torch.sqrt(y.var(dim=1, unbiased=False) + 1e-8).mean(dim=1)  # one value per group
        std = std.repeat_interleave(g)
        return torch.cat([x, std.view(-1, *([1] * (x.dim() - 1))).expand(n, 1, *x.shape[2:])], dim=1)
