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

# Per-person text columns kept as labels (lower-cased), e.g. ``flexpose adapt --where 'activity=yoga, Power'``.
MPII_CSV_LABELS = ("Activity", "Category")


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
    label_cols = {name.lower(): header.index(name) for name in MPII_CSV_LABELS if name in header}
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
        labels={name: [row[col] for row in body] for name, col in label_cols.items()},
    )


def read_mmpose_mpii_json(path: Path) -> PoseRecords:
    """mmpose's MPII annotations (``mpii_train.json``/``mpii_val.json``): a JSON list of persons, each
    with ``joints`` (16 x/y in MPII order), ``joints_vis`` (1 labelled, 0 not) and ``image``."""
    import json

    try:
        people = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PoseFormatError(path, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(people, list):
        raise PoseFormatError(path, "not an mmpose MPII file: the top level is not a list of persons")
    xy = np.empty((len(people), len(MPII_CSV_JOINTS), 2), np.float64)
    labelled = np.empty((len(people), len(MPII_CSV_JOINTS)), bool)
    for r, person in enumerate(people):
        if not isinstance(person, dict) or "joints" not in person:
            raise PoseFormatError(path, "a person without a 'joints' list", record=r)
        try:
            xy[r] = np.asarray(person["joints"], np.float64).reshape(len(MPII_CSV_JOINTS), 2)
        except (ValueError, TypeError):
            raise PoseFormatError(path, f"'joints' is not {len(MPII_CSV_JOINTS)} x/y pairs", record=r) from None
        vis = person.get("joints_vis", [1] * len(MPII_CSV_JOINTS))
        if len(vis) != len(MPII_CSV_JOINTS):
            raise PoseFormatError(path, f"'joints_vis' has {len(vis)} entries, not {len(MPII_CSV_JOINTS)}", record=r)
        labelled[r] = np.asarray(vis, float) > 0
    check_finite(path, xy)
    missing = ~labelled | (xy < 0).all(-1)
    return PoseRecords(
        skeleton="mpii16",
        keypoints=np.where(missing[..., None], np.nan, xy).astype(np.float32),
        visible=~missing,
        source_files=[str(path)] * len(people),
        record_index=list(range(len(people))),
        images=[str(p.get("image", "")) for p in people],
    )
