"""300-W style ``.pts`` landmark files (with or without the version/n_points header), or a folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import PoseFormatError
from ..skeletons import get_skeleton
from .records import PoseRecords


def _parse_pts(path: Path, num_points: int) -> np.ndarray:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise PoseFormatError(path, "not a UTF-8 text file") from None
    declared, points = None, []
    for lineno, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text in "{}" or text.startswith("version"):
            continue
        if text.startswith("n_points"):
            try:
                declared = int(text.split(":", 1)[1])
            except (IndexError, ValueError):
                raise PoseFormatError(path, f"line {lineno}: bad n_points header {text!r}") from None
            continue
        fields = text.split()
        try:
            if len(fields) != 2:
                raise ValueError
            points.append((float(fields[0]), float(fields[1])))
        except ValueError:
            raise PoseFormatError(path, f"line {lineno}: expected 'x y', got {text!r}") from None
    if not points:
        raise PoseFormatError(path, "no landmarks in file")
    if declared is not None and declared != len(points):
        raise PoseFormatError(path, f"header declares {declared} points but the file holds {len(points)}")
    if len(points) != num_points:
        raise PoseFormatError(path, f"{len(points)} landmarks; skeleton needs {num_points}")
    xy = np.asarray(points, dtype=np.float64)
    if not np.isfinite(xy).all():
        raise PoseFormatError(path, f"non-finite landmark at line {int(np.argwhere(~np.isfinite(xy))[0][0]) + 1}")
    return xy


def read_pts(path: Path, skeleton: str | None = None) -> PoseRecords:
    skeleton = skeleton or "face68"
    num_points = get_skeleton(skeleton).num_joints
    files = sorted(path.glob("*.pts")) if path.is_dir() else [path]
    if not files:
        raise PoseFormatError(path, "folder holds no .pts files")
    keypoints = np.stack([_parse_pts(f, num_points) for f in files]).astype(np.float32)
    return PoseRecords(
        skeleton=skeleton,
        keypoints=keypoints,
        visible=np.ones(keypoints.shape[:2], dtype=bool),
        source_files=[str(f) for f in files],
        record_index=list(range(len(files))),
        images=[f.stem for f in files],
    )
