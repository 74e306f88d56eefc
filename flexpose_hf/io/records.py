"""The in-memory result of reading one annotation file, before it becomes a Dataset."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import PoseFormatError
from ..skeletons import get_skeleton


@dataclass
class PoseRecords:
    """Keypoints of N persons on one skeleton, with where each came from.

    ``keypoints`` is N x J x 2 float32 (NaN where a joint is missing), ``visible`` N x J bool;
    ``labels`` holds per-pose text columns a format carries (Penn Action's ``action``, MPII's
    ``activity`` and ``category``), which ``flexpose adapt --where`` selects on.
    """

    skeleton: str
    keypoints: np.ndarray
    visible: np.ndarray
    source_files: list[str]
    record_index: list[int]
    images: list[str]
    labels: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        skeleton = get_skeleton(self.skeleton)
        n = len(self.keypoints)
        if self.keypoints.shape[1:] != (skeleton.num_joints, 2):
            raise PoseFormatError(
                self.source_files[0] if self.source_files else "<memory>",
                f"keypoints of shape {self.keypoints.shape[1:]} do not fit skeleton {skeleton.name!r} "
                f"({skeleton.num_joints} joints)",
            )
        if not (len(self.visible) == len(self.source_files) == len(self.record_index) == len(self.images) == n):
            raise ValueError("PoseRecords columns have different lengths")
        if any(len(values) != n for values in self.labels.values()):
            raise ValueError("PoseRecords label columns have different lengths from the poses")
        self.keypoints = self.keypoints.astype(np.float32, copy=False)
        self.visible = self.visible.astype(bool, copy=False) & ~np.isnan(self.keypoints).any(-1)

    def subset(self, rows: np.ndarray) -> PoseRecords:
        """The records of ``rows`` (indices), every column and label kept."""
        return replace(self, keypoints=self.keypoints[rows], visible=self.visible[rows],
                       source_files=[self.source_files[i] for i in rows],
                       record_index=[self.record_index[i] for i in rows], images=[self.images[i] for i in rows],
                       labels={k: [v[i] for i in rows] for k, v in self.labels.items()})


def check_finite(path: str | Path, values: np.ndarray, what: str = "coordinate") -> None:
    """Raise naming the first record whose values are NaN or infinite (files mark missing otherwise)."""
    bad = ~np.isfinite(values)
    if bad.any():
        record = int(np.argwhere(bad)[0][0])
        raise PoseFormatError(path, f"non-finite {what} (NaN or inf)", record=record)
