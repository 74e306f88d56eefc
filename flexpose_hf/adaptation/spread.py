"""Pose spread: the mean distance between distinct pairs of poses, after per-pose re-normalization."""

from __future__ import annotations

import torch


def renormalize(unit: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Re-centre and re-scale poses on the bounding box of the masked joints, as target poses are."""
    sub = unit[:, mask]
    lo, hi = sub.amin(dim=1), sub.amax(dim=1)
    extent = (hi - lo).amax(dim=-1).clamp_min(1e-6)
    return (unit - ((lo + hi) / 2)[:, None]) / extent[:, None, None]


def pose_spread(unit: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean pairwise distance between the poses ``unit`` (N x J x 2) on the ``mask`` joints."""
    poses = renormalize(unit, mask.to(unit.device))[:, mask.to(unit.device)].flatten(1)
    if len(poses) < 2:
        raise ValueError("the spread of fewer than two poses is undefined")
    return torch.pdist(poses).mean()
