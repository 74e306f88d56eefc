"""Cut the bundled demo target out of the real COCO 2017 val person-keypoints file.

Keeps the file's own format: the chosen annotations, their images' records, and the original
``info``, ``licenses`` and ``categories``. Chosen: 10 annotations with all 17 joints labelled,
drawn with seed 0. COCO annotations are CC BY 4.0 (attribution in flexpose_hf/data/README.md).

    python scripts/make_demo_target.py ../shared/data/coco/person_keypoints_val2017_subset.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "flexpose_hf" / "data" / "coco_demo_10.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("coco_json", type=Path)
    parser.add_argument("--num", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=OUT)
    args = parser.parse_args()
    data = json.loads(args.coco_json.read_text())
    complete = [a for a in data["annotations"] if a.get("num_keypoints") == 17]
    rng = np.random.default_rng(args.seed)
    chosen = sorted(rng.choice(len(complete), size=args.num, replace=False))
    annotations = [complete[i] for i in chosen]
    image_ids = {a["image_id"] for a in annotations}
    subset = {
        "info": data.get("info", {}),
        "licenses": data.get("licenses", []),
        "images": [img for img in data["images"] if img["id"] in image_ids],
        "annotations": annotations,
        "categories": data["categories"],
    }
    args.output.write_text(json.dumps(subset))
    print(f"wrote {len(annotations)} annotations to {args.output}")


if __name__ == "__main__":
    main()
