import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from flexpose_hf import CheckpointError, FlexPoseGenerator, FlexPoseGeneratorConfig, SkeletonError
from flexpose_hf.models import PoseDiscriminator

SMALL = FlexPoseGeneratorConfig(skeleton="lsp14", channels=[16, 16, 8], z_dim=8, w_dim=16, mapping_layers=2)


def test_decomposition_shapes():
    g = FlexPoseGenerator(SMALL)
    z = torch.randn(5, 8)
    w = g.mapping(z)
    styles = g.styles(w)
    assert w.shape == (5, 16) and len(styles) == g.num_style_layers == 6
    assert [s.shape[1] for s in styles] == g.phi.style_dims
    images = g.synthesis(styles)
    assert images.shape == (5, g.codec.num_channels, 32, 32)
    assert all(isinstance(a, torch.nn.Linear) for a in g.A)


def test_synthesis_images_decode_to_the_bottleneck_keypoints():
    g = FlexPoseGenerator(SMALL)
    out = g.sample(64, seed=0, return_images=True)
    decoded, conf = g.codec.decode(out["images"])
    np.testing.assert_allclose(decoded, out["canvas_keypoints"], atol=1e-3)
    assert (conf > 0.5).all()
    np.testing.assert_allclose(g.to_canvas(out["keypoints"]), out["canvas_keypoints"], atol=1e-4)


def test_sample_is_seeded():
    g = FlexPoseGenerator(SMALL)
    a, b, c = (g.sample(10, seed=s)["keypoints"] for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_save_and_load_roundtrip(tmp_path):
    g = FlexPoseGenerator(SMALL)
    g.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["skeleton"] == "lsp14"
    back = FlexPoseGenerator.from_pretrained(tmp_path)
    assert back.config == SMALL and back.name_or_path == str(tmp_path)
    for key, value in g.state_dict().items():
        torch.testing.assert_close(back.state_dict()[key], value)


def test_loading_errors_are_clear(tmp_path):
    with pytest.raises(CheckpointError, match="no such local directory"):
        FlexPoseGenerator.from_pretrained(tmp_path / "missing" / "dir")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        FlexPoseGenerator.from_pretrained(empty)
    FlexPoseGenerator(SMALL).save_pretrained(tmp_path / "ok")
    weights = tmp_path / "ok" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="unreadable or truncated"):
        FlexPoseGenerator.from_pretrained(tmp_path / "ok")


def test_loading_is_strict(tmp_path):
    FlexPoseGenerator(SMALL).save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    state["extra.weight"] = torch.zeros(2)
    del state["A.0.bias"]
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"missing \['A.0.bias'\].*unexpected \['extra.weight'\]"):
        FlexPoseGenerator.from_pretrained(tmp_path)


def test_mismatched_config(tmp_path):
    FlexPoseGenerator(SMALL).save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["w_dim"] = 32
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="shape mismatch"):
        FlexPoseGenerator.from_pretrained(tmp_path)
    cfg["skeleton"] = "body99"
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(SkeletonError, match="unknown skeleton 'body99'"):
        FlexPoseGenerator.from_pretrained(tmp_path)


def test_discriminator_masks_missing_joints():
    g = FlexPoseGenerator(SMALL)
    d = PoseDiscriminator.for_generator(g)
    out = g.sample(8, seed=0, return_images=True)
    images, coords = out["images"], torch.from_numpy(out["keypoints"])
    mask = torch.ones(14, dtype=torch.bool)
    mask[13] = False  # head top
    a = d(images, coords, mask)
    changed_images, changed_coords = images.clone(), coords.clone()
    changed_images[:, 13] = 1.0
    changed_coords[:, 13] += 0.3
    b = d(changed_images, changed_coords, mask)
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])
