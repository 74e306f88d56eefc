"""PoseRecords <-> ``datasets.Dataset``, and the helpers every later step needs."""

from __future__ import annotations

import json
import logging

import datasets
import numpy as np

from ..errors import FlexPoseError
from ..skeletons import get_skeleton
from .records import PoseRecords

logger = logging.getLogger(__name__)

_META_KEY = "flexpose"


def pose_features(num_joints: int, labels: tuple[str, ...] = ()) -> datasets.Features:
    """The columns of a pose dataset, with text columns ``labels`` after the fixed ones."""
    return datasets.Features(
        {
            "keypoints": datasets.List(datasets.List(datasets.Value("float32"), length=2), length=num_joints),
            "visible": datasets.List(datasets.Value("bool"), length=num_joints),
            "source_file": datasets.Value("string"),
            "record_index": datasets.Value("int64"),
            "image": datasets.Value("string"),
            "skeleton": datasets.Value("string"),  # in every row, so it survives Parquet and push_to_hub
            **{name: datasets.Value("string") for name in labels},
        }
    )


def records_to_dataset(records: PoseRecords, **meta: object) -> datasets.Dataset:
    skeleton = get_skeleton(records.skeleton)
    info = datasets.DatasetInfo(
        description=json.dumps({_META_KEY: {"skeleton": skeleton.name, "joints": list(skeleton.joints), **meta}}),
        features=pose_features(skeleton.num_joints, tuple(records.labels)),
    )
    table = {
        "keypoints": records.keypoints,
        "visible": records.visible,
        "source_file": records.source_files,
        "record_index": records.record_index,
        "image": records.images,
        "skeleton": [skeleton.name] * len(records.keypoints),
        **records.labels,
    }
    return datasets.Dataset.from_dict(table, features=info.features, info=info)


def pose_metadata(dataset: datasets.Dataset) -> dict:
    """The flexpose metadata stored in the dataset's info (skeleton name, joints, load details)."""
    try:
        return json.loads(dataset.info.description or "")[_META_KEY]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise FlexPoseError(
            "this dataset carries no flexpose skeleton metadata; create it with flexpose_hf.load_poses"
        ) from None


def skeleton_of(dataset: datasets.Dataset) -> str:
    """The registered skeleton name of a pose dataset: from its flexpose metadata, or (after a Parquet
    round trip or ``load_dataset``, which keep no metadata prose) from its ``skeleton`` column."""
    try:
        return pose_metadata(dataset)["skeleton"]
    except FlexPoseError:
        if "skeleton" not in dataset.column_names or len(dataset) == 0:
            raise
        names = set(dataset.unique("skeleton"))
        if len(names) != 1:
            raise FlexPoseError(f"the dataset's rows name {len(names)} skeletons ({', '.join(sorted(names))})") from None
        return get_skeleton(names.pop()).name


def pose_arrays(dataset: datasets.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """``(keypoints N x J x 2 float32, visible N x J bool)`` as numpy arrays."""
    cols = dataset.with_format("numpy")[:]
    if len(dataset) == 0:
        j = get_skeleton(skeleton_of(dataset)).num_joints
        return np.zeros((0, j, 2), np.float32), np.zeros((0, j), bool)
    return np.asarray(cols["keypoints"], np.float32), np.asarray(cols["visible"], bool)


def complete_mask(keypoints: np.ndarray) -> np.ndarray:
    """True for poses with every joint present."""
    return ~np.isnan(keypoints).any(axis=(-1, -2))


def few_shot_split(
    dataset: datasets.Dataset, shots: int, seed: int = 0, complete_only: bool = True
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Seeded split into ``(shots, held_out)``: ``shots`` poses for adaptation, the rest held out.

    The two are disjoint by row. With ``complete_only`` the shots are drawn from poses with every
    joint present (held-out keeps the others too).
    """
    if shots < 1:
        raise FlexPoseError(f"shots must be >= 1, got {shots}")
    keypoints, _ = pose_arrays(dataset)
    eligible = np.flatnonzero(complete_mask(keypoints)) if complete_only else np.arange(len(dataset))
    if len(eligible) < shots:
        raise FlexPoseError(f"asked for {shots} shots but only {len(eligible)} eligible poses exist")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(eligible, size=shots, replace=False))
    rest = np.setdiff1d(np.arange(len(dataset)), chosen)
    return dataset.select(chosen), dataset.select(rest)


def select_where(dataset: datasets.Dataset, where: dict[str, str], target: str) -> datasets.Dataset:
    """The rows of ``dataset`` whose text column equals the value, for every ``column: value`` of ``where``
    (e.g. ``{"action": "tennis_serve"}`` on Penn Action, ``{"activity": "yoga, Power"}`` on the MPII CSV)."""
    text = [name for name, feature in dataset.features.items() if getattr(feature, "dtype", None) == "string"]
    keep = np.ones(len(dataset), bool)
    for column, value in where.items():
        if column not in text:
            raise FlexPoseError(f"--where {column}=...: {target} has no text column {column!r} "
                                f"(its columns: {', '.join(text)})")
        values = np.asarray(dataset[column], dtype=object)
        match = values == value
        if not match.any():
            known = sorted(set(map(str, values.tolist())))
            close = [v for v in known if value.lower() in v.lower()]  # e.g. 'yoga' -> 'yoga, Power'
            listed = close or known
            shown = ", ".join(repr(v) for v in listed[:8]) + (f", ... ({len(listed)} values)" if len(listed) > 8 else "")
            raise FlexPoseError(f"--where {column}={value!r}: no pose of {target} has it "
                                f"({'values containing it' if close else column}: {shown})")
        keep &= match
    if not keep.any():
        raise FlexPoseError(f"--where: no pose of {target} matches every condition "
                            f"({', '.join(f'{k}={v!r}' for k, v in where.items())})")
    return dataset.select(np.flatnonzero(keep).tolist())


def parse_where(items: list[str] | None) -> dict[str, str] | None:
    """``["column=value", ...]`` (the ``--where`` flags) -> ``{column: value}``; refuses a malformed item."""
    if not items:
        return None
    where = {}
    for item in items:
        column, sep, value = item.partition("=")
        if not sep or not column.strip():
            raise FlexPoseError(f"--where expects COLUMN=VALUE, got {item!r}")
        where[column.strip()] = value
    return where
