"""Writers: COCO person-keypoints JSON for annotation tools, flexpose .npz."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..skeletons import get_skeleton, oks_sigmas
from ..utils import atomic_write_text


def coco_document(
    keypoints: np.ndarray,
    skeleton: str,
    width: int | None,
    height: int | None,
    image_names: list[str] | None = None,
    description: str = "",
    visibility: np.ndarray | None = None,
) -> dict:
    """A COCO person-keypoints document: one image and one annotation per pose (pixels; NaN = missing).

    ``width``/``height`` None (the original images' sizes are unknown, as for annotations read from
    CSV or ``.mat``): each image gets the smallest canvas holding its pose, so tools that clip boxes
    to the image (mmpose, COCOeval) keep them."""
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
        w, h = width, height
        if w is None or h is None:
            far = np.ceil(pose[present].max(0)) + 1 if present.any() else np.ones(2)
            w, h = int(max(far[0], 1)), int(max(far[1], 1))
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        annotations.append({
            "id": i + 1, "image_id": i + 1, "category_id": 1, "iscrowd": 0,
            "keypoints": [float(v) if v % 1 else int(v) for v in triples.ravel()],
            "num_keypoints": int(present.sum()), "bbox": bbox, "area": round(bbox[2] * bbox[3], 2),
        })
    category = {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(s.joints),
                "skeleton": [[a + 1, b + 1] for a, b in s.limbs]}
    if (sigmas := oks_sigmas(s)) is not None:
        category["sigmas"] = sigmas  # OKS per joint (as mmpose metainfo); COCOeval's defaults fit coco17
    return {
        "info": {"description": description or f"poses on the {s.name} skeleton", "version": "1.0"},
        "images": images,
        "annotations": annotations,
        "categories": [category],
    }


def write_coco(path: str | Path, keypoints: np.ndarray, skeleton: str, width: int | None, height: int | None,
               image_names: list[str] | None = None, description: str = "",
               visibility: np.ndarray | None = None) -> None:
    doc = coco_document(keypoints, skeleton, width, height, image_names, description, visibility)
    atomic_write_text(path, json.dumps(doc))
