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


BANK = FlexPoseGeneratorConfig(skeleton="lsp14", channels=[16, 16, 8], z_dim=8, w_dim=16, mapping="bank", bank_size=5)


def test_latent_bank_mapping_draws_every_code_and_spreads_by_its_bandwidth(tmp_path):
    torch.manual_seed(0)
    g = FlexPoseGenerator(BANK)
    w_codes = torch.randn(5, 16)
    g.f.set_bank(w_codes, bandwidth=0.0)
    z = torch.randn(2000, 8, generator=torch.Generator().manual_seed(0))
    w = g.mapping(z)
    exact = (w[:, None] - w_codes[None]).norm(dim=-1) < 1e-6
    assert exact.sum(1).eq(1).all()  # bandwidth 0: every w is one of the codes
    counts = exact.sum(0)
    assert counts.min() > 300 and counts.max() < 500  # a standard normal z picks each code equally often
    g.f.set_bank(w_codes, bandwidth=0.5)
    spread = (g.mapping(z) - w_codes[g.f.pick(z)]).var(0).sum()
    # 5 codes span 4 directions, fewer than z_dim - 1: the kernel holds h^2 of all the codes' variance
    assert 0.85 * 0.25 * w_codes.var(0).sum() < spread < 1.15 * 0.25 * w_codes.var(0).sum()
    g.save_pretrained(tmp_path / "bank")
    loaded = FlexPoseGenerator.from_pretrained(tmp_path / "bank")
    assert loaded.config.mapping == "bank" and loaded.config.bank_size == 5
    assert "a latent bank, a Gaussian kernel density over 5 w codes" in (tmp_path / "bank" / "README.md").read_text()
    np.testing.assert_array_equal(loaded.sample(20, seed=3)["keypoints"], g.sample(20, seed=3)["keypoints"])
    with pytest.raises(ValueError, match="codes of shape"):
        g.f.set_bank(torch.randn(4, 16), 0.1)


def test_mapping_config_is_validated():
    with pytest.raises(CheckpointError, match="'mapping' must be 'mlp' or 'bank'"):
        FlexPoseGeneratorConfig(mapping="flow")
    with pytest.raises(CheckpointError, match="bank_size >= 1"):
        FlexPoseGeneratorConfig(mapping="bank", bank_size=0)


def test_inversion_finds_codes_that_redraw_generated_poses():
    from flexpose_hf.codec import canvas_to_unit
    from flexpose_hf.training.inversion import invert_poses

    torch.manual_seed(0)
    g = FlexPoseGenerator(SMALL).eval()
    with torch.no_grad():
        poses = canvas_to_unit(g(torch.randn(16, 8), output="keypoints"), 32, g.config.margin).numpy()
    _, start = invert_poses(g, poses, steps=0, candidates=64, progress=False)
    codes, errors = invert_poses(g, poses, steps=60, learning_rate=0.05, candidates=64, progress=False)
    assert codes.shape == (16, 16) and errors.mean() < 0.5 * start.mean()
    with pytest.raises(ValueError, match="complete poses"):
        invert_poses(g, np.full((2, 14, 2), np.nan, np.float32), progress=False)


def _lsp_poses(n: int, seed: int = 0) -> np.ndarray:
    """``n`` LSP-skeleton poses that vary along three fixed directions of joint offsets (plus position and size)."""
    rng = np.random.default_rng(seed)
    mean, directions = rng.normal(0, 1, (14, 2)), rng.normal(0, 0.3, (3, 14, 2))
    shapes = mean + np.einsum("nk,kjd->njd", rng.normal(0, 1, (n, 3)), directions)
    return shapes * rng.uniform(20, 60, (n, 1, 1)) + rng.uniform(-50, 50, (n, 1, 2))


def test_shape_model_projects_samples_onto_the_training_shapes_and_survives_save_and_load(tmp_path):
    """A point distribution model fitted to poses that vary along three directions keeps exactly those:
    such poses pass unchanged (position and size put back), generated shapes lose what lies off them,
    the weights stay the base's, and the model saves, loads and names itself in its card."""
    from flexpose_hf.models.shape_model import fit_shape_basis
    from flexpose_hf.poses import normalize_poses
    from flexpose_hf.training.shape_fit import with_shape_model

    poses = _lsp_poses(200)
    base = FlexPoseGenerator(SMALL)
    shaped, report = with_shape_model(base, poses, variance=0.999)
    # normalizing by the RMS size is not linear, so three directions of offsets span a few more of shapes
    assert 3 <= report["components"] == shaped.config.shape_components < 10 and report["variance_kept"] >= 0.999
    basis = shaped.shape_model.basis
    torch.testing.assert_close(basis @ basis.T, torch.eye(len(basis)), atol=1e-5, rtol=0)
    real = torch.from_numpy(poses[:20]).float()
    torch.testing.assert_close(shaped.shape_model(real), real, atol=2e-3 * float(real.abs().max()), rtol=0)

    z = torch.randn(64, SMALL.z_dim)
    raw, projected = base(z, output="keypoints"), shaped(z, output="keypoints")
    assert not torch.allclose(raw, projected, atol=1e-2)
    shapes = torch.from_numpy(normalize_poses(projected.detach().double().numpy())).flatten(1) - shaped.shape_model.mean.double()
    off_subspace = shapes - shapes @ basis.double().T @ basis.double()
    assert float(off_subspace.abs().max()) < 1e-4
    torch.testing.assert_close(raw.mean(1), projected.mean(1), atol=1e-4, rtol=0)  # position kept
    assert all(torch.equal(v, shaped.state_dict()[k]) for k, v in base.state_dict().items())

    shaped.save_pretrained(tmp_path / "shaped")
    back = FlexPoseGenerator.from_pretrained(tmp_path / "shaped")
    assert back.config.shape_components == report["components"]
    np.testing.assert_array_equal(back.sample(8, seed=3)["keypoints"], shaped.sample(8, seed=3)["keypoints"])
    assert "point distribution model" in (tmp_path / "shaped" / "README.md").read_text()
    assert "point distribution model" not in FlexPoseGenerator(SMALL).generate_model_card().text

    with pytest.raises(ValueError, match="variance must be in"):
        fit_shape_basis(poses, variance=1.0)
    with pytest.raises(ValueError, match="at least two complete poses"):
        fit_shape_basis(np.concatenate([poses[:1], np.full((3, 14, 2), np.nan)]))
    with pytest.raises(CheckpointError, match="shape_components"):
        FlexPoseGeneratorConfig(skeleton="lsp14", shape_components=-1)
