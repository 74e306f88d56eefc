import numpy as np
import pytest
import torch

from flexpose_hf import FlexPoseError, SkeletonImageCodec, fit_to_canvas, load_poses, pose_arrays
from flexpose_hf.codec import canvas_to_unit, unit_to_canvas
from flexpose_hf.io import complete_mask


def _random_canvas_poses(n, joints, resolution, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.125 * (resolution - 1), 0.875 * (resolution - 1), size=(n, joints, 2)).astype(np.float32)


@pytest.mark.parametrize("resolution", [32, 64])
def test_roundtrip_subpixel(resolution):
    codec = SkeletonImageCodec("mpii16", resolution)
    kp = _random_canvas_poses(50, 16, resolution)
    images = codec.encode(kp)
    assert images.shape == (50, codec.num_channels, resolution, resolution)
    assert codec.num_channels == 16 + 15
    decoded, conf = codec.decode(images)
    err = np.linalg.norm(decoded - kp, axis=-1)
    assert err.max() < 1e-3
    assert (conf > 0.7).all()


def test_missing_joints_render_empty_and_decode_missing():
    codec = SkeletonImageCodec("coco17", 32)
    kp = _random_canvas_poses(3, 17, 32)
    kp[1, 5] = np.nan
    images = codec.encode(kp)
    assert images[1, 5].abs().max() == 0
    limbs_with_5 = [i for i, (a, b) in enumerate(codec.skeleton.limbs) if 5 in (a, b)]
    for i in limbs_with_5:
        assert images[1, 17 + i].abs().max() == 0
    decoded, conf = codec.decode(images)
    assert np.isnan(decoded[1, 5]).all() and conf[1, 5] == 0
    assert not np.isnan(decoded[0]).any()


def test_encode_is_differentiable():
    codec = SkeletonImageCodec("lsp14", 32)
    kp = torch.tensor(_random_canvas_poses(2, 14, 32), requires_grad=True)
    codec.encode(kp).sum().backward()
    assert kp.grad is not None and kp.grad.abs().sum() > 0


def test_shape_errors_are_clear():
    codec = SkeletonImageCodec("mpii16", 32)
    with pytest.raises(FlexPoseError, match="N x 16 x 2 for skeleton 'mpii16'"):
        codec.encode(np.zeros((2, 17, 2)))
    with pytest.raises(FlexPoseError, match="images of shape"):
        codec.decode(torch.zeros(2, 31, 16, 16))


def test_fit_to_canvas_is_invertible_and_fills_canvas():
    rng = np.random.default_rng(1)
    kp = rng.normal(size=(20, 14, 2)) * rng.uniform(5, 500, size=(20, 1, 1)) + rng.uniform(-100, 900, (20, 1, 2))
    kp[3, 2] = np.nan
    canvas, transform = fit_to_canvas(kp, 32, margin=0.125)
    np.testing.assert_allclose(transform.inverse(canvas.astype(np.float64)), kp, rtol=1e-5, atol=1e-3)
    assert np.isnan(canvas[3, 2]).all()
    spans = np.nanmax(canvas, 1) - np.nanmin(canvas, 1)
    np.testing.assert_allclose(spans.max(-1), 31 * 0.75, rtol=1e-5)
    assert np.nanmin(canvas) >= 31 * 0.125 - 1e-4 and np.nanmax(canvas) <= 31 * 0.875 + 1e-4


def test_fit_to_canvas_rejects_empty_pose():
    kp = np.zeros((2, 5, 2))
    kp[1] = np.nan
    with pytest.raises(FlexPoseError, match="pose 1 has no joints"):
        fit_to_canvas(kp)


def test_unit_canvas_maps_are_inverse():
    unit = np.random.default_rng(0).uniform(-0.5, 0.5, size=(4, 3, 2))
    np.testing.assert_allclose(canvas_to_unit(unit_to_canvas(unit, 32), 32), unit)


def test_roundtrip_on_real_mpii(shared_data):
    kp, _ = pose_arrays(load_poses(shared_data / "mpii/mpii_dataset.csv"))
    kp = kp[complete_mask(kp)][:2000]
    canvas, _ = fit_to_canvas(kp, 32)
    codec = SkeletonImageCodec("mpii16", 32)
    decoded, _ = codec.decode(codec.encode(canvas))
    err = np.linalg.norm(decoded - canvas, axis=-1)
    assert err.mean() <= 0.1 and err.max() <= 0.5
