"""Pose normalization in one place: what every metric, loss and critic compares poses after.

- ``normalize_poses`` (numpy, metrics): translation by the centroid, scale by the RMS distance to it.
- ``pose_vectors`` (torch, adaptation objective): translation by the hip midpoint where the skeleton
  has both hips (bodies; the centroid otherwise, e.g. faces), scale by the RMS distance to the
  centroid, restricted to the joints in ``mask`` and flattened.
- ``masked_box`` / ``recenter_on_box`` (torch, critics and completion): bounding box of the masked
  joints centred at 0, longer side 1, as unit target poses are (``codec.pose_extent`` is the same box in
  numpy, for NaN-marked poses).
"""

from __future__ import annotations

import numpy as np
import torch

from .skeletons import get_skeleton


def normalize_poses(keypoints: np.ndarray) -> np.ndarray:
    """Remove translation (centroid) and scale (RMS distance to centroid) of each complete pose."""
    kp = np.asarray(keypoints, np.float64)
    centred = kp - kp.mean(axis=1, keepdims=True)
    scale = np.sqrt((centred**2).sum(-1).mean(-1))
    return centred / np.maximum(scale, 1e-12)[:, None, None]


def origin_joints(skeleton: str, mask: np.ndarray | torch.Tensor) -> list[int]:
    """Joints whose mean is each pose's origin: both hips when present, else every masked joint."""
    s = get_skeleton(skeleton)
    mask = np.asarray(mask, bool)
    hips = [s.index(j) for j in ("left_hip", "right_hip") if j in s.joints]
    if len(hips) == 2 and mask[hips].all():
        return hips
    return np.flatnonzero(mask).tolist()


def pose_vectors(unit: torch.Tensor, mask: torch.Tensor, origin: list[int]) -> torch.Tensor:
    """N x J x 2 poses -> N x 2M vectors of the M ``mask`` joints (origin removed, RMS scale 1)."""
    sub = unit[:, mask]
    centred = sub - sub.mean(1, keepdim=True)
    scale = centred.pow(2).sum(-1).mean(-1).sqrt().clamp_min(1e-6)
    shifted = sub - unit[:, origin].mean(1, keepdim=True)
    return (shifted / scale[:, None, None]).flatten(1)


def masked_box(unit: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bounding-box centre (N x 2) and longer side (N) of each pose over the joints in ``mask``
    (J, shared by every pose, or N x J)."""
    known = mask if mask.dim() == 2 else mask.expand(len(unit), -1)
    big = torch.finfo(unit.dtype).max
    lo = torch.where(known[..., None], unit, torch.full_like(unit, big)).amin(1)
    hi = torch.where(known[..., None], unit, torch.full_like(unit, -big)).amax(1)
    return (lo + hi) / 2, (hi - lo).amax(-1).clamp_min(1e-6)


def recenter_on_box(unit: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Re-centre and re-scale poses on the bounding box of the masked joints, as target poses are."""
    center, extent = masked_box(unit, mask)
    return (unit - center[:, None]) / extent[:, None, None]
