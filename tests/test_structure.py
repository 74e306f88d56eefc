import numpy as np
import torch

from flexpose_hf.training.structure import StructureStatistics, mirrored_limbs, sorted_w2


def test_mirrored_limbs_pair_left_with_right():
    left, right = mirrored_limbs("mpii16")
    from flexpose_hf.skeletons import get_skeleton

    joints = get_skeleton("mpii16").joints
    assert len(left) == len(right) == 4
    for (a, b), (c, d) in zip(left, right):
        assert joints[a].replace("left_", "") == joints[c].replace("right_", "")
        assert joints[b].replace("left_", "") == joints[d].replace("right_", "")


def test_asymmetry_statistic_of_a_known_pose():
    stats = StructureStatistics("mpii16", eps=0.0)
    pose = torch.zeros(1, 16, 2)
    left, right = mirrored_limbs("mpii16")
    # Left limbs of length 3, right limbs of length 1: signed asymmetry (3 - 1) / (3 + 1) = 0.5.
    for (a, b), (c, d) in zip(left, right):
        pose[0, b] = pose[0, a] + torch.tensor([3.0, 0.0])
        pose[0, d] = pose[0, c] + torch.tensor([0.0, 1.0])
    feats = stats(pose)
    assert torch.allclose(feats[0, :4], torch.full((4,), 0.5))
    assert torch.isclose(feats[0, 4:].sum(), torch.tensor(1.0))  # bone-length shares sum to 1


def test_sorted_w2_known_answers():
    x = torch.randn(256, 3, generator=torch.Generator().manual_seed(0))
    assert sorted_w2(x, x[torch.randperm(256)]).item() == 0.0  # order does not matter
    assert np.isclose(sorted_w2(x + 0.5, x).item(), 0.25)  # a shift by c costs c^2
    assert np.isclose(sorted_w2(x[:128] + 0.5, x[:128].repeat(2, 1)).item(), 0.25, atol=1e-3)


def test_structure_loss_pulls_asymmetric_poses_toward_symmetric_ones():
    rng = torch.Generator().manual_seed(0)
    real = torch.randn(64, 16, 2, generator=rng)
    fake = real.clone()
    left, _ = mirrored_limbs("mpii16")
    for a, b in left:  # stretch the left limbs
        fake[:, b] = fake[:, a] + 1.5 * (fake[:, b] - fake[:, a])
    fake.requires_grad_(True)
    stats = StructureStatistics("mpii16")
    loss = sorted_w2(stats(fake), stats(real))
    loss.backward()
    assert loss.item() > 1e-3 and torch.isfinite(fake.grad).all() and fake.grad.abs().sum() > 0
    with torch.no_grad():
        moved = fake - 0.5 * fake.grad / fake.grad.norm() * 0.05
    assert sorted_w2(stats(moved), stats(real)) < loss
