import numpy as np
import pytest

from flexpose_hf.adaptation.mixup import kinematic_tree, mix_poses
from flexpose_hf.skeletons import get_skeleton


def _poses(n, joints=16, seed=0):
    return np.random.default_rng(seed).normal(size=(n, joints, 2))


def test_tree_spans_every_present_joint_once():
    tree = kinematic_tree("mpii16")
    children = [c for p, c in tree if p != c]
    roots = [p for p, c in tree if p == c]
    assert len(roots) == 1 and sorted(children + roots) == list(range(16))


def test_disconnected_joint_sets_get_one_root_per_part():
    s = get_skeleton("mpii16")
    mask = np.ones(16, bool)
    mask[s.index("thorax")] = False
    tree = kinematic_tree(s, mask)
    roots = [p for p, c in tree if p == c]
    assert len(roots) > 1
    assert sorted(c for _, c in tree if True) == sorted(set(np.flatnonzero(mask)))


def test_mixed_bone_lengths_lie_between_the_parents():
    a, b = _poses(1, seed=1), _poses(1, seed=2)
    pair = np.concatenate([a, b])
    mixed = mix_poses(pair, "mpii16", 50, np.random.default_rng(0))
    s = get_skeleton("mpii16")

    def bone_ratio(p, i, j):  # scale-free: mixed poses are re-normalized
        return np.linalg.norm(p[..., i, :] - p[..., j, :], axis=-1)

    tree = [(p, c) for p, c in kinematic_tree(s) if p != c]
    la = np.array([bone_ratio(a[0], p, c) for p, c in tree])
    lb = np.array([bone_ratio(b[0], p, c) for p, c in tree])
    for pose in mixed:
        lengths = np.array([bone_ratio(pose, p, c) for p, c in tree])
        ratios = lengths / lengths.sum()
        lo = np.minimum(la / la.sum(), lb / lb.sum()) - 0.15
        hi = np.maximum(la / la.sum(), lb / lb.sum()) + 0.15
        assert ((ratios > lo) & (ratios < hi)).all()
    assert not np.allclose(mixed[0], mixed[1])


def test_mixup_keeps_missing_joints_missing_and_normalizes():
    poses = _poses(4)
    poses[:, 9] = np.nan
    mixed = mix_poses(poses, "mpii16", 10, np.random.default_rng(0))
    assert np.isnan(mixed[:, 9]).all() and not np.isnan(np.delete(mixed, 9, axis=1)).any()
    extent = np.nanmax(mixed, 1) - np.nanmin(mixed, 1)
    np.testing.assert_allclose(extent.max(-1), 1.0, rtol=1e-5)


def test_single_pose_is_repeated():
    pose = _poses(1)
    out = mix_poses(pose, "mpii16", 3, np.random.default_rng(0))
    assert out.shape == (3, 16, 2)
    np.testing.assert_allclose(out[2], pose[0], rtol=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_mixup_is_seeded(seed):
    poses = _poses(5)
    a = mix_poses(poses, "mpii16", 4, np.random.default_rng(seed))
    b = mix_poses(poses, "mpii16", 4, np.random.default_rng(seed))
    np.testing.assert_array_equal(a, b)
