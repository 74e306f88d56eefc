"""Pictures of poses: ControlNet OpenPose conditioning images and pose grids for people to look at."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw

from .codec import fit_to_canvas
from .errors import FlexPoseError
from .skeletons import OPENPOSE18, OPENPOSE_COLORS, Skeleton, get_skeleton


def draw_openpose(keypoints: np.ndarray, height: int, width: int, stickwidth: int = 4) -> Image.Image:
    """Draw OpenPose BODY-18 keypoints (pixels, NaN = missing) as ControlNet's OpenPose annotator does.

    Black canvas; each of the 17 limbs is a filled ellipse (semi-axes half the bone length and
    ``stickwidth``) in its OpenPose colour at 60% intensity, drawn in OpenPose's limb order; then
    each joint a filled circle of radius 4 in its part colour. Coordinates pass through the
    annotator's normalized form (x / width, y / height) and its integer truncation, so the pixels
    match its drawings. ``keypoints`` may be 18 x 2 (one person) or P x 18 x 2 (several).
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim == 2:
        kp = kp[None]
    if kp.ndim != 3 or kp.shape[1:] != (18, 2):
        raise FlexPoseError(f"draw_openpose needs 18 x 2 or P x 18 x 2 OpenPose keypoints, got {kp.shape}")
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    norm = kp / np.array([float(width), float(height)])
    for person in norm:
        present = ~np.isnan(person).any(-1)
        for (a, b), color in zip(OPENPOSE18.limbs, OPENPOSE18.limb_colors):
            if not (present[a] and present[b]):
                continue
            ys = np.array([person[a, 0], person[b, 0]]) * float(width)
            xs = np.array([person[a, 1], person[b, 1]]) * float(height)
            mx, my = np.mean(xs), np.mean(ys)
            length = ((xs[0] - xs[1]) ** 2 + (ys[0] - ys[1]) ** 2) ** 0.5
            angle = math.degrees(math.atan2(xs[0] - xs[1], ys[0] - ys[1]))
            polygon = cv2.ellipse2Poly((int(my), int(mx)), (int(length / 2), stickwidth), int(angle), 0, 360, 1)
            cv2.fillConvexPoly(canvas, polygon, [int(float(c) * 0.6) for c in color])
    for person in norm:
        for joint, color in zip(person, OPENPOSE_COLORS):
            if np.isnan(joint).any():
                continue
            x, y = int(joint[0] * width), int(joint[1] * height)
            cv2.circle(canvas, (x, y), 4, color, thickness=-1)
    return Image.fromarray(canvas)


def draw_pose(
    keypoints: np.ndarray,
    skeleton: str | Skeleton,
    size: int = 128,
    background: tuple[int, int, int] = (255, 255, 255),
    line_width: int | None = None,
) -> Image.Image:
    """One pose (J x 2, any scale; NaN = missing) fitted into a ``size`` square as a stick figure."""
    skeleton = get_skeleton(skeleton)
    kp = np.asarray(keypoints, dtype=np.float64)
    image = Image.new("RGB", (size, size), background)
    if np.isnan(kp).all():
        return image
    canvas, _ = fit_to_canvas(kp[None], resolution=size, margin=0.08)
    pts = canvas[0]
    draw = ImageDraw.Draw(image)
    width = line_width or max(2, size // 40)
    for (a, b), color in zip(skeleton.limbs, skeleton.limb_colors):
        if np.isnan(pts[[a, b]]).any():
            continue
        draw.line([tuple(pts[a]), tuple(pts[b])], fill=tuple(color), width=width)
    r = max(1.5, width * 0.8)
    for x, y in pts[~np.isnan(pts).any(-1)]:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(30, 30, 30))
    return image


def pose_grid(
    keypoints: np.ndarray | Sequence[np.ndarray],
    skeleton: str | Skeleton,
    ncols: int = 8,
    cell: int = 128,
    row_labels: Sequence[str] | None = None,
) -> Image.Image:
    """A grid of stick figures. ``keypoints`` is N x J x 2 (filled row by row, ``ncols`` a row) or
    a list of such arrays, one grid row each (with optional ``row_labels`` drawn at the left)."""
    rows: list[np.ndarray]
    if isinstance(keypoints, np.ndarray) and keypoints.ndim == 3:
        rows = [keypoints[i: i + ncols] for i in range(0, len(keypoints), ncols)]
    else:
        rows = [np.asarray(r) for r in keypoints]
        ncols = max(len(r) for r in rows)
    if not rows:
        raise FlexPoseError("pose_grid needs at least one pose")
    label_w = cell if row_labels else 0
    grid = Image.new("RGB", (label_w + ncols * cell, len(rows) * cell), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for r, row in enumerate(rows):
        if row_labels:
            draw.text((6, r * cell + cell // 2 - 6), str(row_labels[r]), fill=(0, 0, 0))
        for c, pose in enumerate(row):
            grid.paste(draw_pose(pose, skeleton, cell), (label_w + c * cell, r * cell))
        draw.line([(label_w, (r + 1) * cell - 1), (grid.width, (r + 1) * cell - 1)], fill=(220, 220, 220))
    return grid
