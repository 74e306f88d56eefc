import numpy as np
import pytest

from flexpose_hf import FlexPoseError, draw_openpose, pose_grid
from flexpose_hf.skeletons import OPENPOSE_COLORS

# A standing person on a 512 x 512 canvas, OpenPose BODY-18 order.
STANDING = np.array([
    [256, 80], [256, 130], [216, 132], [200, 200], [196, 260], [296, 132], [312, 200], [316, 260],
    [230, 270], [228, 360], [226, 450], [282, 270], [284, 360], [286, 450], [246, 70], [266, 70],
    [236, 76], [276, 76],
], dtype=np.float64)


def test_draw_openpose_colours_joints_and_limbs():
    image = np.asarray(draw_openpose(STANDING, 512, 512))
    assert image.shape == (512, 512, 3)
    assert image[5, 5].tolist() == [0, 0, 0]  # black background
    for (x, y), colour in zip(STANDING.astype(int), OPENPOSE_COLORS):
        assert image[y, x].tolist() == list(colour)  # joint circles drawn last, full colour
    # Mid-thigh of the right leg (limb 7: right hip -> right knee) at 60% of its colour.
    mx, my = ((STANDING[8] + STANDING[9]) / 2).astype(int)
    assert image[my, mx].tolist() == [int(c * 0.6) for c in OPENPOSE_COLORS[7]]


def test_draw_openpose_skips_missing():
    kp = STANDING.copy()
    kp[4] = np.nan  # right wrist: its circle and the forearm vanish
    image = np.asarray(draw_openpose(kp, 512, 512))
    assert image[260, 196].tolist() == [0, 0, 0]
    mx, my = ((STANDING[3] + STANDING[4]) / 2).astype(int)
    assert image[my, mx].tolist() == [0, 0, 0]


def test_draw_openpose_rejects_other_skeletons():
    with pytest.raises(FlexPoseError, match="18 x 2"):
        draw_openpose(np.zeros((17, 2)), 64, 64)


def test_pose_grid_layout():
    poses = np.random.default_rng(0).normal(size=(10, 18, 2))
    grid = pose_grid(poses, "openpose18", ncols=4, cell=64)
    assert grid.size == (4 * 64, 3 * 64)
    rows = pose_grid([poses[:3], poses[3:6]], "openpose18", cell=64, row_labels=["a", "b"])
    assert rows.size == (64 + 3 * 64, 2 * 64)
    assert np.asarray(grid).min() < 255  # something was drawn
