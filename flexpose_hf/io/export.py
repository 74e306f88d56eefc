"""Writers: COCO person-keypoints JSON for annotation tools, flexpose .npz."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..skeletons import get_skeleton
from ..utils import atomic_write_text


def coco_document(
    keypoints: np.ndarray,
    skeleton: str,
    width: int,
    height: int,
    image_names: list[str] | None = None,
    description: str = "",
    visibility: np.ndarray | None = None,
) -> dict:
    """A COCO person-keypoints document: one image and one annotation per pose (pixels; NaN = missing)."""
    s = get_skeleton(skeleton)
    kp = np.asarray(keypoints, np.float64)
    images, annotations = [], []
    for i, pose in enumerate(kp):
        present = ~np.isnan(pose).any(-1)
        triples = np.zeros((s.num_joints, 3))
        triples[present, :2] = np.round(pose[present], 2)
        triples[present, 2] = 2 if visibility is None else visibility[i][present]
        if present.any():
            lo, hi = pose[present].min(0), pose[present].max(0)
            bbox = [round(float(lo[0]), 2), round(float(lo[1]), 2), round(float(hi[0] - lo[0]), 2),
                    round(float(hi[1] - lo[1]), 2)]
        else:
            bbox = [0.0, 0.0, 0.0, 0.0]
        name = image_names[i] if image_names else f"pose_{i:06d}.png"
        images.append({"id": i + 1, "file_name": name, "width": width, "height": height})
        annotations.append({
            "id": i + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
            "keypoints": [float(v) if v % 1 else int(v) for v in triples.ravel()],
            "num_keypoints": int(present.sum()), "bbox": bbox, "area": round(bbox[2] * bbox[3], 2),
        })
    return {
        "info": {"description": description or f"poses on the {s.name} skeleton", "version": "1.0"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "supercategory": "person", "keypoints": list(s.joints),
                        "skeleton": [[a + 1, b + 1] for a, b in s.limbs]}],
    }


def write_coco(path: str | Path, keypoints: np.ndarray, skeleton: str, width: int, height: int,
               image_names: list[str] | None = None, description: str = "",
               visibility: np.ndarray | None = None) -> None:
    doc = coco_document(keypoints, skeleton, width, height, image_names, description, visibility)
    atomic_write_text(path, json.dumps(doc))
