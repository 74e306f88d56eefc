"""flexpose's own ``.npz`` pose files: arrays ``keypoints`` (N x J x 2), ``visible``, ``skeleton``."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..errors import PoseFormatError
from ..skeletons import get_skeleton
from ..utils import atomic_write_bytes
from .records import PoseRecords


def read_npz(path: Path) -> PoseRecords:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise PoseFormatError(path, f"not a readable .npz archive ({exc})") from None
    for key in ("keypoints", "skeleton"):
        if key not in arrays:
            raise PoseFormatError(path, f"missing array {key!r}")
    keypoints = arrays["keypoints"].astype(np.float32)
    if np.isinf(keypoints).any():
        raise PoseFormatError(path, "infinite coordinate", record=int(np.argwhere(np.isinf(keypoints))[0][0]))
    skeleton = get_skeleton(str(arrays["skeleton"])).name
    visible = arrays.get("visible", ~np.isnan(keypoints).any(-1))
    n = len(keypoints)
    return PoseRecords(skeleton, keypoints, visible, [str(path)] * n, list(range(n)), [""] * n)


def write_npz(path: str | Path, keypoints: np.ndarray, skeleton: str, **extra: np.ndarray) -> None:
    """Write atomically (temporary file, then rename)."""
    buffer = io.BytesIO()
    np.savez(buffer, keypoints=np.asarray(keypoints, np.float32), skeleton=np.asarray(skeleton),
             visible=~np.isnan(keypoints).any(-1), **extra)
    atomic_write_bytes(path, buffer.getvalue())
