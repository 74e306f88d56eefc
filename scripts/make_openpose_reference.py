"""Draw reference OpenPose conditioning images with controlnet_aux's own annotator code.

The test suite compares flexpose_hf.draw_openpose with these PNGs pixel for pixel. controlnet_aux
is not a dependency (it pulls timm and torchvision); point this script at an unpacked wheel:

    pip download --no-deps controlnet_aux==0.0.10 -d /tmp/cna && unzip -q /tmp/cna/*.whl -d /tmp/cna/site
    python scripts/make_openpose_reference.py /tmp/cna/site
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "tests" / "data"

# OpenPose BODY-18 pixel keypoints; NaN = missing.
POSES = {
    "standing_512x512": (512, 512, [
        [256, 80], [256, 130], [216, 132], [200, 200], [196, 260], [296, 132], [312, 200], [316, 260],
        [230, 270], [228, 360], [226, 450], [282, 270], [284, 360], [286, 450], [246, 70], [266, 70],
        [236, 76], [276, 76]]),
    "kick_768x512": (512, 768, [
        [401.3, 120.7], [388.2, 170.4], [350.9, 168.1], [300.5, 150.2], [260.8, 110.9], [425.6, 172.3],
        [470.1, 140.8], [515.7, 105.2], [370.4, 300.6], [np.nan, np.nan], [np.nan, np.nan], [410.2, 302.1],
        [520.9, 290.4], [610.3, 275.5], [392.1, 110.2], [410.7, 111.8], [np.nan, np.nan], [421.5, 118.3]]),
}


def load_annotator(site: Path):
    for name, path in (("controlnet_aux", site / "controlnet_aux"),
                       ("controlnet_aux.open_pose", site / "controlnet_aux" / "open_pose")):
        module = types.ModuleType(name)
        module.__path__ = [str(path)]  # skip the package __init__ (it imports every annotator)
        sys.modules[name] = module
    sys.path.insert(0, str(site))
    from controlnet_aux.open_pose import (
        body,
        util,  # imports body first (util needs its classes)
    )

    return body.Keypoint, util.draw_bodypose


def main() -> None:
    keypoint_cls, draw_bodypose = load_annotator(Path(sys.argv[1]))
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (height, width, pose) in POSES.items():
        points = [None if np.isnan(x) else keypoint_cls(x / width, y / height) for x, y in pose]
        canvas = draw_bodypose(np.zeros((height, width, 3), dtype=np.uint8), points)
        Image.fromarray(canvas).save(OUT / f"openpose_{name}.png")
        np.save(OUT / f"openpose_{name}.npy", np.asarray(pose, dtype=np.float64))
        print("wrote", OUT / f"openpose_{name}.png")


if __name__ == "__main__":
    main()
