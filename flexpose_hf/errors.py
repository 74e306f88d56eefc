"""Errors raised for bad input. Each names the file, field or index at fault."""

from __future__ import annotations


class FlexPoseError(ValueError):
    """Base class of the package's input errors."""


class PoseFormatError(FlexPoseError):
    """An annotation file is malformed, empty, or not in the format it was read as."""

    def __init__(self, path: object, message: str, record: int | str | None = None) -> None:
        where = f"{path}" + (f", record {record}" if record is not None else "")
        super().__init__(f"{where}: {message}")
        self.path = path
        self.record = record


class SkeletonError(FlexPoseError):
    """An unknown skeleton, or keypoints that do not fit the skeleton named."""


class CheckpointError(FlexPoseError):
    """A model or adapter directory that is missing, truncated, or made for something else."""
