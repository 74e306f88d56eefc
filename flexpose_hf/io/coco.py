"""COCO person-keypoints JSON (``annotations[].keypoints`` as x, y, v triples)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..errors import PoseFormatError, SkeletonError
from ..skeletons import CUSTOM_PREFIX, Skeleton, get_skeleton, skeleton_from_joint_names
from .records import PoseRecords, check_finite

logger = logging.getLogger(__name__)


def read_json(path: Path) -> object:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise PoseFormatError(path, f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except UnicodeDecodeError:
        raise PoseFormatError(path, "not a UTF-8 text file") from None


def _file_skeleton(path: Path, names: list, limbs: object) -> str:
    """The skeleton the category's keypoint names spell: a registered one, or one registered for this
    file's layout, with the category's 1-based ``skeleton`` pairs as its limbs when they are valid."""
    pairs = None
    if isinstance(limbs, list) and limbs and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(i, int) and 1 <= i <= len(names) for i in p)
            for p in limbs):
        pairs = [(a - 1, b - 1) for a, b in limbs]
    elif limbs:
        logger.warning("%s: field 'categories[0].skeleton' is not a list of 1-based joint pairs; limbs are taken "
                       "from the registered skeletons by joint name instead", path)
    try:
        skeleton: Skeleton = skeleton_from_joint_names(names, pairs)
    except SkeletonError as exc:
        raise PoseFormatError(path, f"field 'categories[0].keypoints': {exc}") from None
    if skeleton.name.startswith(CUSTOM_PREFIX):
        logger.info("%s: joints of no registered skeleton; read as %s (%s), compared with others by joint name",
                    path, skeleton.name, ", ".join(skeleton.joints))
    return skeleton.name


def read_coco(path: Path, skeleton: str | None = None) -> PoseRecords:
    data = read_json(path)
    if not isinstance(data, dict) or "annotations" not in data:
        raise PoseFormatError(path, "not a COCO keypoints file: no top-level 'annotations' list")
    categories = data.get("categories") or []
    names = categories[0].get("keypoints") if categories and isinstance(categories[0], dict) else None
    if names:
        skeleton = _file_skeleton(path, names, categories[0].get("skeleton"))
    elif skeleton is None:
        raise PoseFormatError(path, "field 'categories[0].keypoints' is missing; pass skeleton=")
    num_joints = get_skeleton(skeleton).num_joints
    images = {img.get("id"): img.get("file_name", "") for img in data.get("images", []) if isinstance(img, dict)}
    annotations = data["annotations"]
    if not isinstance(annotations, list):
        raise PoseFormatError(path, "field 'annotations' is not a list")
    triples = np.zeros((len(annotations), num_joints, 3), dtype=np.float64)
    image_names = []
    for i, ann in enumerate(annotations):
        kps = ann.get("keypoints") if isinstance(ann, dict) else None
        if not isinstance(kps, list) or len(kps) != 3 * num_joints:
            got = len(kps) if isinstance(kps, list) else type(kps).__name__
            raise PoseFormatError(
                path, f"field 'keypoints' must hold {3 * num_joints} numbers for {skeleton!r}, got {got}", record=i
            )
        try:
            triples[i] = np.asarray(kps, dtype=np.float64).reshape(num_joints, 3)
        except (TypeError, ValueError):
            raise PoseFormatError(path, "field 'keypoints' holds a non-number", record=i) from None
        image_names.append(str(images.get(ann.get("image_id"), ann.get("image_id", ""))))
    check_finite(path, triples)
    labelled = triples[..., 2] > 0
    keypoints = np.where(labelled[..., None], triples[..., :2], np.nan).astype(np.float32)
    return PoseRecords(
        skeleton=skeleton,
        keypoints=keypoints,
        visible=triples[..., 2] >= 2,
        source_files=[str(path)] * len(annotations),
        record_index=list(range(len(annotations))),
        images=image_names,
    )
