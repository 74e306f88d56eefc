"""A point distribution model (Cootes et al., 1995) as the generator's last step.

Real landmark shapes, with translation and scale removed, vary along a few principal directions; what
lies outside them is annotation noise. The heatmap bottleneck adds its own decoding noise there,
several times the real shapes' own (the face generator: 1.6x to 3.9x along the four smallest tenths of the
training shapes' components, BENCHMARKS.md). ``ShapeModel`` projects each decoded shape onto the
leading components of the training shapes and puts its position and size back, so samples keep what
the generator draws and lose only the noise off the shape subspace. It is linear, differentiable and
fixed (buffers, not parameters): tau, LoRA and fine-tuning train through it and never change it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..poses import normalize_poses


class ShapeModel(nn.Module):
    """Projection of N x J x 2 keypoints onto ``components`` principal shape directions."""

    def __init__(self, num_joints: int, components: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(num_joints * 2))
        self.register_buffer("basis", torch.zeros(components, num_joints * 2))  # orthonormal rows

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        centre = keypoints.mean(1, keepdim=True)
        centred = keypoints - centre
        scale = centred.pow(2).sum(-1).mean(1).sqrt().clamp_min(1e-8)[:, None, None]
        offset = (centred / scale).flatten(1) - self.mean
        shape = (self.mean + (offset @ self.basis.T) @ self.basis).view_as(keypoints)
        rms = shape.pow(2).sum(-1).mean(1).sqrt().clamp_min(1e-8)[:, None, None]
        return shape / rms * scale + centre


def fit_shape_basis(keypoints: np.ndarray, variance: float = 0.99) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean shape and the fewest principal directions that keep ``variance`` of the shapes' variance
    (translation and scale removed; complete poses only). Returns (mean, basis, variance kept)."""
    if not 0 < variance < 1:
        raise ValueError(f"variance must be in (0, 1), got {variance}")
    kp = np.asarray(keypoints, np.float64)
    kp = kp[~np.isnan(kp).any(axis=(1, 2))]
    if len(kp) < 2:
        raise ValueError("fitting a shape model needs at least two complete poses")
    vectors = normalize_poses(kp).reshape(len(kp), -1)
    mean = vectors.mean(0)
    _, singular, axes = np.linalg.svd(vectors - mean, full_matrices=False)
    kept = np.cumsum(singular**2) / np.sum(singular**2)
    components = int(np.searchsorted(kept, variance) + 1)
    return mean, axes[:components], float(kept[components - 1])
