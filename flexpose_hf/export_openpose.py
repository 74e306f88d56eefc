"""Poses as OpenPose BODY-18: conversion by joint name, canvas fitting, and OpenPose JSON + PNG folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .drawing import draw_openpose
from .errors import FlexPoseError
from .skeletons import convert_keypoints, get_skeleton
from .utils import atomic_write_bytes, atomic_write_text


def to_openpose18(keypoints: np.ndarray, skeleton: str, approximate_head: bool = False) -> np.ndarray:
    """N x J x 2 poses -> N x 18 x 2 OpenPose order, by joint name (neck = shoulder midpoint).

    Joints the source skeleton lacks stay NaN. ``approximate_head`` (off by default) places an
    explicit approximation of the nose for skeletons with ``head_top`` and ``upper_neck`` (MPII,
    LSP): 40% of the way from the upper neck to the head top. Eyes and ears are never invented.
    """
    op, _ = convert_keypoints(keypoints, None, skeleton, "openpose18")
    s = get_skeleton(skeleton)
    if approximate_head and "head_top" in s.joints and "upper_neck" in s.joints and "nose" not in s.joints:
        top, neck = keypoints[:, s.index("head_top")], keypoints[:, s.index("upper_neck")]
        op[:, get_skeleton("openpose18").index("nose")] = neck + 0.4 * (top - neck)
    return op


def fit_unit_poses(unit: np.ndarray, width: int, height: int, margin: float = 0.1) -> np.ndarray:
    """Unit poses (centred, longer side 1) to pixels of a W x H canvas, aspect kept, ``margin`` each side."""
    if not 0 <= margin < 0.5:
        raise FlexPoseError(f"margin must be in [0, 0.5), got {margin}")
    scale = min(width, height) * (1 - 2 * margin)
    return unit * scale + np.array([width / 2, height / 2])


def openpose_json(pixels18: np.ndarray, width: int, height: int) -> dict:
    """OpenPose's JSON for one person (as the webui OpenPose editor reads it): x, y, confidence triples."""
    triples = []
    for x, y in pixels18:
        triples += [0.0, 0.0, 0.0] if np.isnan(x) or np.isnan(y) else [round(float(x), 2), round(float(y), 2), 1.0]
    return {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": triples}],
            "canvas_width": width, "canvas_height": height}


def write_openpose_folder(directory: str | Path, pixels: np.ndarray, skeleton: str, width: int, height: int,
                          approximate_head: bool = False, start: int = 0) -> list[Path]:
    """One ``pose_XXXXXX.json`` (OpenPose format) and ``pose_XXXXXX.png`` (ControlNet conditioning
    image) per pose, numbered from ``start``. ``pixels`` are N x J x 2 on the W x H canvas. Never
    touches other files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    op = to_openpose18(np.asarray(pixels, np.float64), skeleton, approximate_head)
    written = []
    for i, pose in enumerate(op):
        stem = directory / f"pose_{start + i:06d}"
        atomic_write_text(stem.with_suffix(".json"), json.dumps(openpose_json(pose, width, height)))
        import io

        buf = io.BytesIO()
        draw_openpose(pose, height, width).save(buf, format="PNG")
        atomic_write_bytes(stem.with_suffix(".png"), buf.getvalue())
        written.append(stem)
    return written
