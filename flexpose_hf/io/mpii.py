"""The MPII Human Pose CSV: one row a person, ``<joint>_X``/``<joint>_Y`` columns, -1 if missing."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import PoseFormatError
from .records import PoseRecords, check_finite

MPII_CSV_JOINTS = (
    "r ankle", "r knee", "r hip", "l hip", "l knee", "l ankle", "pelvis", "thorax", "upper neck",
    "head top", "r wrist", "r elbow", "r shoulder", "l shoulder", "l elbow", "l wrist",
)


def read_mpii_csv(path: Path) -> PoseRecords:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise PoseFormatError(path, "empty file")
    header = rows[0]
    try:
        cols = [(header.index(f"{j}_X"), header.index(f"{j}_Y")) for j in MPII_CSV_JOINTS]
    except ValueError as exc:
        raise PoseFormatError(path, f"not an MPII CSV: header lacks column {str(exc).split(' ')[0]}") from None
    name_col = header.index("NAME") if "NAME" in header else None
    body = rows[1:]
    xy = np.empty((len(body), len(MPII_CSV_JOINTS), 2), dtype=np.float64)
    for r, row in enumerate(body):
        for j, (cx, cy) in enumerate(cols):
            try:
                xy[r, j] = float(row[cx]), float(row[cy])
            except IndexError:
                raise PoseFormatError(path, f"row has {len(row)} fields, header has {len(header)}", record=r) from None
            except ValueError:
                raise PoseFormatError(
                    path, f"column {header[cx]!r}/{header[cy]!r} is not a number: {row[cx]!r}, {row[cy]!r}", record=r
                ) from None
    check_finite(path, xy)
    missing = (xy == -1).all(-1)
    keypoints = np.where(missing[..., None], np.nan, xy).astype(np.float32)
    return PoseRecords(
        skeleton="mpii16",
        keypoints=keypoints,
        visible=~missing,
        source_files=[str(path)] * len(body),
        record_index=list(range(len(body))),
        images=[row[name_col] if name_col is not None else "" for row in body],
    )
