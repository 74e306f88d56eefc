"""Poses to the generator's canvas and back, and poses as skeleton images and back.

``fit_to_canvas`` removes each pose's translation and scale (rotation is kept: orientation is part
of a pose distribution) and places it in a square canvas of ``resolution`` pixels; the returned
``CanvasTransform`` undoes it exactly. ``SkeletonImageCodec`` draws canvas poses as one Gaussian
heatmap per joint plus one channel per limb, and decodes joints back with sub-pixel accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import FlexPoseError
from .skeletons import Skeleton, get_skeleton

DEFAULT_RESOLUTION = 32
DEFAULT_MARGIN = 0.125


@dataclass
class CanvasTransform:
    """Per-pose translation and scale: ``canvas = (pose - center) * scale + offset``."""

    center: np.ndarray  # N x 2, pose units
    scale: np.ndarray  # N, canvas pixels per pose unit
    offset: float  # canvas centre in pixels

    def apply(self, keypoints: np.ndarray) -> np.ndarray:
        return (keypoints - self.center[:, None]) * self.scale[:, None, None] + self.offset

    def inverse(self, canvas_keypoints: np.ndarray) -> np.ndarray:
        return (canvas_keypoints - self.offset) / self.scale[:, None, None] + self.center[:, None]


def pose_extent(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounding-box centre (N x 2) and longer side (N) of each pose over its present joints."""
    keypoints = np.asarray(keypoints, np.float64)
    present = ~np.isnan(keypoints).any(-1)
    empty = ~present.any(-1)
    if empty.any():
        raise FlexPoseError(f"pose {int(np.flatnonzero(empty)[0])} has no joints to place on the canvas")
    lo, hi = np.nanmin(keypoints, axis=1), np.nanmax(keypoints, axis=1)
    return (lo + hi) / 2, (hi - lo).max(-1)


def fit_to_canvas(
    keypoints: np.ndarray, resolution: int = DEFAULT_RESOLUTION, margin: float = DEFAULT_MARGIN
) -> tuple[np.ndarray, CanvasTransform]:
    """Centre each pose's bounding box and scale its longer side to span the canvas less margins.

    Returns float32 canvas keypoints (pixel centres at integer coordinates ``0 .. resolution-1``;
    NaN stays NaN) and the transform whose ``inverse`` gives the input back.
    """
    if not 0 <= margin < 0.5:
        raise FlexPoseError(f"margin must be in [0, 0.5), got {margin}")
    center, extent = pose_extent(keypoints)
    span = (resolution - 1) * (1 - 2 * margin)
    scale = span / np.maximum(extent, 1e-6)
    transform = CanvasTransform(center=center, scale=scale, offset=(resolution - 1) / 2)
    return transform.apply(np.asarray(keypoints, np.float64)).astype(np.float32), transform


def unit_to_canvas(unit: np.ndarray, resolution: int, margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """Map normalized pose coordinates (longer side 1, centred at 0) to canvas pixels."""
    return unit * (resolution - 1) * (1 - 2 * margin) + (resolution - 1) / 2


def canvas_to_unit(canvas: np.ndarray, resolution: int, margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """Inverse of ``unit_to_canvas``."""
    return (canvas - (resolution - 1) / 2) / ((resolution - 1) * (1 - 2 * margin))


class SkeletonImageCodec:
    """Encode canvas keypoints as skeleton images (joint heatmaps + limb channels) and decode them.

    Args:
        skeleton: registered skeleton name or ``Skeleton``.
        resolution: canvas side in pixels.
        sigma: Gaussian width of joint heatmaps in pixels (default ``resolution / 32``).
        limb_channels: add one channel per limb, a Gaussian ridge along the bone.
        threshold: joints whose heatmap peak is below this decode as missing.
    """

    def __init__(
        self,
        skeleton: str | Skeleton,
        resolution: int = DEFAULT_RESOLUTION,
        sigma: float | None = None,
        limb_channels: bool = True,
        threshold: float = 0.3,
    ) -> None:
        if resolution < 8:
            raise FlexPoseError(f"resolution must be at least 8, got {resolution}")
        self.skeleton = get_skeleton(skeleton)
        self.resolution = int(resolution)
        self.sigma = float(sigma if sigma is not None else resolution / 32)
        self.limb_channels = limb_channels
        self.threshold = threshold
        limbs = torch.tensor(self.skeleton.limbs, dtype=torch.long).reshape(-1, 2)
        self._limb_a, self._limb_b = limbs[:, 0], limbs[:, 1]

    @property
    def num_joints(self) -> int:
        return self.skeleton.num_joints

    @property
    def num_channels(self) -> int:
        return self.num_joints + (len(self.skeleton.limbs) if self.limb_channels else 0)

    def _grid(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        r = torch.arange(self.resolution, device=device, dtype=dtype)
        return r.view(1, 1, 1, -1), r.view(1, 1, -1, 1)  # xs, ys

    def encode(self, keypoints: np.ndarray | torch.Tensor) -> torch.Tensor:
        """N x J x 2 canvas keypoints (NaN = missing) -> N x C x R x R images in [0, 1].

        Differentiable in the keypoints, so a generator can render through it.
        """
        kp = torch.as_tensor(keypoints)
        if not kp.is_floating_point():
            kp = kp.float()
        if kp.ndim != 3 or kp.shape[1:] != (self.num_joints, 2):
            raise FlexPoseError(
                f"expected keypoints of shape N x {self.num_joints} x 2 for skeleton "
                f"{self.skeleton.name!r}, got {tuple(kp.shape)}"
            )
        present = ~torch.isnan(kp).any(-1)  # N x J
        kp = torch.where(present[..., None], kp, torch.zeros_like(kp))
        xs, ys = self._grid(kp.device, kp.dtype)
        x, y = kp[..., 0, None, None], kp[..., 1, None, None]
        d2 = (xs - x) ** 2 + (ys - y) ** 2
        joints = torch.exp(-d2 / (2 * self.sigma**2)) * present[..., None, None]
        if not self.limb_channels or len(self._limb_a) == 0:
            return joints
        a, b = kp[:, self._limb_a], kp[:, self._limb_b]  # N x L x 2
        ab = b - a
        length2 = (ab**2).sum(-1).clamp_min(1e-6)[..., None, None]
        ax, ay = a[..., 0, None, None], a[..., 1, None, None]
        t = (((xs - ax) * ab[..., 0, None, None] + (ys - ay) * ab[..., 1, None, None]) / length2).clamp(0, 1)
        px, py = ax + t * ab[..., 0, None, None], ay + t * ab[..., 1, None, None]
        limb_d2 = (xs - px) ** 2 + (ys - py) ** 2
        limb_present = (present[:, self._limb_a] & present[:, self._limb_b])[..., None, None]
        limbs = torch.exp(-limb_d2 / (2 * self.sigma**2)) * limb_present
        return torch.cat([joints, limbs], dim=1)

    @torch.no_grad()
    def decode(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """N x C x R x R images -> (N x J x 2 canvas keypoints, N x J peak confidence).

        Each joint is the heatmap's maximum refined by a parabola through the log-values of its
        neighbours (exact for a sampled Gaussian); joints whose peak is below ``threshold`` are NaN.
        """
        images = torch.as_tensor(images)
        if images.ndim != 4 or images.shape[1] < self.num_joints or images.shape[2:] != (self.resolution,) * 2:
            raise FlexPoseError(
                f"expected images of shape N x {self.num_channels} x {self.resolution} x {self.resolution}, "
                f"got {tuple(images.shape)}"
            )
        heat = images[:, : self.num_joints].double()
        n, j, r, _ = heat.shape
        flat = heat.reshape(n, j, -1)
        peak, idx = flat.max(-1)
        iy, ix = idx // r, idx % r
        padded = torch.nn.functional.pad(heat, (1, 1, 1, 1), value=0.0).reshape(n, j, -1)
        w = r + 2

        def at(dy: int, dx: int) -> torch.Tensor:
            return padded.gather(-1, ((iy + 1 + dy) * w + (ix + 1 + dx)).unsqueeze(-1)).squeeze(-1)

        def refine(lo: torch.Tensor, mid: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
            ok = (lo > 0) & (hi > 0) & (mid > 0)
            llo, lmid, lhi = (torch.log(v.clamp_min(1e-30)) for v in (lo, mid, hi))
            curv = llo - 2 * lmid + lhi
            ok &= curv < 0
            step = 0.5 * (llo - lhi) / torch.where(ok, curv, torch.ones_like(curv))
            return torch.where(ok, step.clamp(-0.5, 0.5), torch.zeros_like(step))

        dx = refine(at(0, -1), peak, at(0, 1))
        dy = refine(at(-1, 0), peak, at(1, 0))
        kp = torch.stack([ix.double() + dx, iy.double() + dy], dim=-1)
        missing = peak < self.threshold
        kp[missing] = float("nan")
        return kp.float().numpy(), peak.float().numpy()
