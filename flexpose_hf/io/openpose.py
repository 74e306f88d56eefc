"""Market-1501 style OpenPose keypoint CSV: ``name: [ys]: [xs]`` rows, -1 where missing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import PoseFormatError
from .records import PoseRecords, check_finite

MARKET_HEADER = "name:keypoints_y:keypoints_x"


def read_openpose_csv(path: Path) -> PoseRecords:
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        raise PoseFormatError(path, "empty file")
    if lines[0].strip() != MARKET_HEADER:
        raise PoseFormatError(path, f"first line must be {MARKET_HEADER!r}, got {lines[0][:60]!r}")
    body = [ln for ln in lines[1:] if ln.strip()]
    xy = np.empty((len(body), 18, 2), dtype=np.float64)
    names = []
    for r, line in enumerate(body):
        parts = line.split(":")
        if len(parts) != 3:
            raise PoseFormatError(path, f"expected 'name: [ys]: [xs]', got {line[:60]!r}", record=r)
        try:
            ys, xs = json.loads(parts[1]), json.loads(parts[2])
        except json.JSONDecodeError:
            raise PoseFormatError(path, "coordinate lists are not [n, n, ...] lists", record=r) from None
        if not (isinstance(ys, list) and isinstance(xs, list) and len(ys) == len(xs) == 18):
            raise PoseFormatError(path, "need 18 y and 18 x values (OpenPose BODY-18)", record=r)
        try:
            xy[r, :, 0], xy[r, :, 1] = xs, ys
        except (TypeError, ValueError):
            raise PoseFormatError(path, "coordinate lists hold a non-number", record=r) from None
        names.append(parts[0].strip())
    check_finite(path, xy)
    missing = (xy == -1).any(-1)
    return PoseRecords(
        skeleton="openpose18",
        keypoints=np.where(missing[..., None], np.nan, xy).astype(np.float32),
        visible=~missing,
        source_files=[str(path)] * len(body),
        record_index=list(range(len(body))),
        images=names,
    )
