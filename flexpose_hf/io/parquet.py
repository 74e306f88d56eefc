"""Poses as a Hugging Face dataset in Parquet: one row per pose, the skeleton in every row.

The schema carries ``datasets`` features (``keypoints`` J x 2 float32, ``visible``, ``skeleton``,
...), so ``datasets.load_dataset("parquet", data_files=...)`` reads the file as written, and the
skeleton survives any round trip or ``push_to_hub`` (a column, not dataset-info prose).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import PoseFormatError
from ..skeletons import get_skeleton
from ..utils import atomic_path
from .dataset import pose_features
from .records import PoseRecords


def parquet_schema(num_joints: int):
    """The Arrow schema with the ``datasets`` features stored as ``load_dataset`` expects them."""
    features = pose_features(num_joints)
    return features.arrow_schema.with_metadata(
        {"huggingface": json.dumps({"info": {"features": features.to_dict()}})})


def write_parquet(path: str | Path, chunks: Iterable[np.ndarray], skeleton: str, image_prefix: str = "pose",
                  source: str = "") -> int:
    """Write pose chunks (each N x J x 2, NaN = missing) as they come; atomic (temporary file, then rename).

    Only one chunk is in memory at a time, so a million poses never are. Returns the rows written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    s = get_skeleton(skeleton)
    path = Path(path)
    schema = parquet_schema(s.num_joints)
    written = 0
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for chunk in chunks:
            kp = np.ascontiguousarray(chunk, np.float32)
            n = len(kp)
            index = np.arange(written, written + n)
            columns = {  # Arrow arrays straight from numpy: no per-number Python objects
                "keypoints": nested_fixed_lists(kp.ravel(), (s.num_joints, 2)),
                "visible": nested_fixed_lists(~np.isnan(kp).any(-1).ravel(), (s.num_joints,)),
                "source_file": pa.array([source] * n, pa.string()),
                "record_index": pa.array(index, pa.int64()),
                "image": pa.array([f"{image_prefix}_{i:06d}.png" for i in index], pa.string()),
                "skeleton": pa.array([s.name] * n, pa.string()),
            }
            writer.write_table(pa.Table.from_pydict(columns).cast(schema))
            written += n
    return written


def nested_fixed_lists(flat: np.ndarray, shape: tuple[int, ...]):
    """A flat numpy array as an Arrow array of fixed-size lists of ``shape`` (rows x shape)."""
    import pyarrow as pa

    values = pa.array(flat)
    for size in reversed(shape):
        values = pa.FixedSizeListArray.from_arrays(values, size)
    return values


def read_parquet(path: Path) -> PoseRecords:
    """A pose Parquet file written by flexpose (or any with ``keypoints`` and ``skeleton`` columns)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, ValueError, pa.ArrowException) as exc:  # pyarrow's errors for a damaged file
        raise PoseFormatError(path, f"not a readable Parquet file ({type(exc).__name__}: {exc})") from None
    for column in ("keypoints", "skeleton"):
        if column not in table.column_names:
            raise PoseFormatError(path, f"no {column!r} column (columns: {', '.join(table.column_names)})")
    names = set(table.column("skeleton").unique().to_pylist())
    if len(names) != 1:
        raise PoseFormatError(path, f"rows name {len(names)} skeletons ({', '.join(map(str, sorted(names)))}); "
                                    "need exactly one")
    skeleton = get_skeleton(names.pop())
    rows = table.column("keypoints").to_pylist()
    keypoints = np.full((len(rows), skeleton.num_joints, 2), np.nan, np.float32)
    for i, pose in enumerate(rows):
        if pose is None or len(pose) != skeleton.num_joints:
            raise PoseFormatError(path, f"{len(pose or [])} joints where {skeleton.name} has {skeleton.num_joints}",
                                  record=i)
        keypoints[i] = np.asarray([[np.nan, np.nan] if p is None else p for p in pose], np.float32)
    visible = (np.asarray(table.column("visible").to_pylist(), bool) if "visible" in table.column_names
               else ~np.isnan(keypoints).any(-1))
    n = len(keypoints)
    images = table.column("image").to_pylist() if "image" in table.column_names else [""] * n
    return PoseRecords(skeleton.name, keypoints, visible, [str(path)] * n, list(range(n)), images)
