"""Readers for pose annotation formats, and ``load_poses`` that returns a ``datasets.Dataset``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import datasets
import numpy as np

from ..errors import PoseFormatError
from ..skeletons import convert_keypoints, get_skeleton
from .coco import read_coco
from .dataset import (
    complete_mask,
    few_shot_split,
    parse_where,
    pose_arrays,
    pose_metadata,
    records_to_dataset,
    select_where,
    skeleton_of,
)
from .lsp import read_lsp_mat
from .mpii import read_mmpose_mpii_json, read_mpii_csv
from .npz import read_npz, write_npz
from .openpose import MARKET_HEADER, read_openpose_csv
from .parquet import read_parquet, write_parquet
from .penn_action import is_penn_action_mat, read_penn_action
from .pts import read_pts
from .records import PoseRecords

logger = logging.getLogger(__name__)

FORMATS = ("coco", "mmpose_mpii", "mpii", "lsp", "penn_action", "pts", "openpose", "npz", "parquet")

# For the formats whose image names say which video or person a pose comes from, the regular expression
# naming it (Penn Action's frames are ``<video>/<frame>.jpg``; Market-1501's crops start with the
# person's id, ``0002_c1s1_000451_03.jpg``): shots are drawn from different groups by default.
SHOT_GROUPS = {"penn_action": r"^([^/]+)/", "openpose": r"^(-?\d+)_"}

_READERS: dict[str, Callable[..., PoseRecords]] = {
    "coco": lambda p, s: read_coco(p, s),
    "mpii": lambda p, s: read_mpii_csv(p),
    "mmpose_mpii": lambda p, s: read_mmpose_mpii_json(p),
    "lsp": lambda p, s: read_lsp_mat(p),
    "penn_action": lambda p, s: read_penn_action(p),
    "pts": lambda p, s: read_pts(p, s),
    "openpose": lambda p, s: read_openpose_csv(p),
    "npz": lambda p, s: read_npz(p),
    "parquet": lambda p, s: read_parquet(p),
}


def detect_format(path: str | Path) -> str:
    """Guess the annotation format from the path and, for CSV, from the header line."""
    path = Path(path)
    if path.is_dir():  # a folder of .pts faces, or Penn Action's labels folder of one .mat per video
        return "penn_action" if any(p.suffix.lower() == ".mat" for p in path.iterdir()) else "pts"
    suffix = path.suffix.lower()
    if suffix == ".json":  # a COCO document is an object; mmpose's MPII annotations are a list of persons
        with open(path, encoding="utf-8", errors="replace") as fh:
            start = fh.read(4096).lstrip()
        return "mmpose_mpii" if start.startswith("[") else "coco"
    if suffix == ".mat":
        return "penn_action" if is_penn_action_mat(path) else "lsp"
    if suffix in (".pts", ".npz", ".parquet"):
        return {".pts": "pts", ".npz": "npz", ".parquet": "parquet"}[suffix]
    if suffix == ".csv":
        with open(path, encoding="utf-8", errors="replace") as fh:
            header = fh.readline().strip()
        if header == MARKET_HEADER:
            return "openpose"
        if "_X" in header and "_Y" in header:
            return "mpii"
        raise PoseFormatError(path, f"unrecognised CSV header {header[:80]!r}; pass format=")
    raise PoseFormatError(path, f"cannot tell the format from the name; pass format= (one of {', '.join(FORMATS)})")


def read_records(path: str | Path, format: str | None = None, skeleton: str | None = None) -> PoseRecords:
    """Read one annotation file (or a folder of ``.pts`` or of Penn Action labels) in its own format.

    ``skeleton`` is a hint for formats that may not name theirs: a COCO file without
    ``categories[0].keypoints``, and ``.pts`` files (face68 when not given).
    """
    path = Path(path)
    if not path.exists():
        raise PoseFormatError(path, "no such file or folder")
    if path.is_file() and path.stat().st_size == 0:
        raise PoseFormatError(path, "empty file")
    fmt = format or detect_format(path)
    if fmt not in _READERS:
        raise PoseFormatError(path, f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    try:
        return _READERS[fmt](path, skeleton)
    except UnicodeDecodeError:
        raise PoseFormatError(path, f"not a text file; is it really {fmt}?") from None


def load_poses(
    path: str | Path,
    format: str | None = None,
    skeleton: str | None = None,
    complete_only: bool = False,
) -> datasets.Dataset:
    """Load pose annotations as a ``datasets.Dataset``.

    Args:
        path: an annotation file (COCO JSON, mmpose's MPII JSON, MPII CSV, LSP ``joints.mat``, a Penn
            Action label ``.mat``, ``.pts``, Market-1501 OpenPose CSV, flexpose ``.npz`` or ``.parquet``), a
            folder of ``.pts`` files or Penn Action's ``labels`` folder.
        format: one of ``coco, mmpose_mpii, mpii, lsp, penn_action, pts, openpose, npz, parquet``; detected
            when omitted.
        skeleton: convert to this registered skeleton by joint name (missing joints stay NaN).
        complete_only: drop poses with any missing joint; the count dropped is logged and
            stored in the dataset's metadata (``pose_metadata(ds)["dropped_incomplete"]``).

    Rows hold ``keypoints`` (J x 2 float32, NaN where missing), ``visible`` (J bools),
    ``source_file``, ``record_index`` and ``image``, plus the text labels the format carries (Penn
    Action's ``action``, the MPII CSV's ``activity`` and ``category``); the skeleton is in ``skeleton_of(ds)``.
    """
    records = read_records(path, format, skeleton)
    if skeleton is not None and skeleton != records.skeleton:
        kp, vis = convert_keypoints(records.keypoints, records.visible, records.skeleton, skeleton)
        records = replace(records, skeleton=get_skeleton(skeleton).name, keypoints=kp, visible=vis)
    meta: dict[str, object] = {"format": format or detect_format(path), "num_records": len(records.keypoints)}
    if complete_only:
        keep = complete_mask(records.keypoints)
        dropped = int((~keep).sum())
        if dropped:
            logger.warning("%s: dropped %d of %d poses with missing joints (complete_only)",
                           path, dropped, len(keep))
        records = records.subset(np.flatnonzero(keep))
        meta["dropped_incomplete"] = dropped
    return records_to_dataset(records, **meta)


__all__ = [
    "FORMATS", "SHOT_GROUPS", "PoseRecords", "complete_mask", "detect_format", "few_shot_split", "load_poses",
    "parse_where", "pose_arrays", "pose_metadata", "read_records", "records_to_dataset", "select_where", "skeleton_of",
    "write_npz", "write_parquet",
]
