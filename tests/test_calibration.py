import json
from pathlib import Path

import numpy as np
import pytest
import torch
from peft import get_peft_model
from safetensors.torch import load_file

from flexpose_hf import FlexPoseGenerator, TauConfig, load_poses
from flexpose_hf.adaptation import AdaptConfig, MethodOptions, adapt
from flexpose_hf.adaptation.calibration import calibrate_dispersion, concentrate_toward, scale_about_mean
from flexpose_hf.adaptation.spread import pose_spread
from flexpose_hf.models.discriminator import load_discriminator
from flexpose_hf.training.data import to_unit_poses

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "flexpose_hf" / "data" / "coco_demo_10.json"
ALL = [0, 1, 2, 3, 4, 5]


def _demo_shots() -> np.ndarray:
    return to_unit_poses(np.asarray(load_poses(DEMO, skeleton="mpii16").with_format("numpy")["keypoints"]))


def _wrapped(base: FlexPoseGenerator):
    return get_peft_model(base, TauConfig(layers=[0, 1, 2], calibrated_layers=[3, 4, 5]))


def test_only_the_constrained_layers_train(tiny_base):
    model = _wrapped(FlexPoseGenerator.from_pretrained(str(tiny_base)))
    trained = {n.split(".")[3] for n, p in model.named_parameters() if p.requires_grad}
    assert trained == {"0", "1", "2"}
    assert len(model.tau_parameters()) == 6 and len(model.tau_parameters(trained_only=False)) == 12


def test_scale_about_mean_scales_the_spread():
    poses = torch.rand(16, 2) + 0.05 * torch.randn(64, 16, 2)  # one body shape, varied around it
    mask = torch.ones(16, dtype=torch.bool)
    unit = scale_about_mean(poses, poses.mean(0), 1.0, mask)
    wider = scale_about_mean(unit, unit.mean(0), 1.5, mask)
    assert float(pose_spread(wider, mask)) > 1.2 * float(pose_spread(unit, mask))
    extent = (wider[:, mask].amax(1) - wider[:, mask].amin(1)).amax(-1)
    torch.testing.assert_close(extent, torch.ones(64))  # re-normalized like every other pose


def _calibrated(factor: float):
    base = FlexPoseGenerator.from_pretrained("mpii-body")
    shots = _demo_shots().astype(np.float64)
    shots = shots.mean(0) + factor * (shots - shots.mean(0))  # the same poses, spread wider or narrower
    model = _wrapped(base)
    mask = torch.from_numpy(~np.isnan(shots).any(-1).any(0))  # the joints COCO poses have
    cal = calibrate_dispersion(model, shots, mask, base.config.z_dim, base.config.resolution, base.config.margin,
                               pull=0.5)
    assert cal is not None
    assert cal.factor == pytest.approx((cal.shots_spread / cal.source_spread) ** 0.5, rel=1e-3)
    present = torch.tensor(np.nan_to_num(shots), dtype=torch.float32)
    assert cal.shots_spread == pytest.approx(float(pose_spread(present, mask)), rel=1e-5)
    assert all(p.abs().max() > 0 for p in model.tau_parameters(trained_only=False))  # every layer moved
    assert [p.requires_grad for p in model.tau_parameters(trained_only=False)] == [True] * 6 + [False] * 6
    return base, model, cal


def test_wider_shots_fit_tau_to_widen_the_samples():
    """Shots spread wider than the bundled body generator's samples: tau on every layer is fitted to
    the pose-space widening, and the generated spread moves toward the shots'."""
    _, _, cal = _calibrated(4.0)
    assert cal.kind == "widen" and cal.shots_spread > cal.source_spread and cal.factor > 1
    assert cal.target_spread > cal.source_spread
    assert cal.residual < 0.3  # tau reproduces the pose-space transform closely
    gap_before = abs(np.log(cal.target_spread / cal.source_spread))
    assert abs(np.log(cal.target_spread / cal.reached_spread)) < 0.3 * gap_before


def test_narrower_shots_concentrate_the_latents():
    """Shots narrower than the samples: every tau layer scales its style by ``factor`` about the styles
    of the shots' latent centre, and the generated spread shrinks."""
    _, model, cal = _calibrated(0.6)
    assert cal.kind == "concentrate" and cal.factor < 1 and cal.reached_spread < cal.source_spread
    for layer in model.base_model.model.A:
        scale = layer.tau_scale["default"]
        torch.testing.assert_close(scale, torch.full_like(scale, cal.factor - 1))


def test_concentration_is_exactly_the_latent_transform(tiny_base):
    """tau set by ``concentrate_toward`` draws what the plain generator draws at ``c + f (w - c)``."""
    base = FlexPoseGenerator.from_pretrained(str(tiny_base))
    model = _wrapped(base)
    gen = torch.Generator().manual_seed(3)
    z, centre = torch.randn(32, base.config.z_dim, generator=gen), torch.randn(base.config.w_dim, generator=gen)
    concentrate_toward(model, "default", centre, 0.7)
    with torch.no_grad():
        adapted = model(z, output="keypoints")
        with model.disable_adapter():
            w = base.mapping(z)
            expected = base.keypoints_from_styles(base.styles(centre + 0.7 * (w - centre)))
            plain = base(z, output="keypoints")
    torch.testing.assert_close(adapted, expected, atol=1e-3, rtol=1e-4)
    assert (adapted - plain).abs().max() > 1e-2  # and it is not the identity


def test_too_few_shots_leave_tau_at_identity(tiny_base):
    base = FlexPoseGenerator.from_pretrained(str(tiny_base))
    model = _wrapped(base)
    mask = torch.ones(base.codec.num_joints, dtype=torch.bool)
    assert calibrate_dispersion(model, _demo_shots()[:4], mask, base.config.z_dim, base.config.resolution,
                                base.config.margin, pull=0.5) is None
    assert all(p.abs().max() == 0 for p in model.tau_parameters(trained_only=False))


def test_repeated_shot_leaves_tau_at_identity(tiny_base):
    base = FlexPoseGenerator.from_pretrained(str(tiny_base))
    model = _wrapped(base)
    shots = np.repeat(np.nan_to_num(_demo_shots()[:1]), 6, axis=0)
    mask = torch.ones(base.codec.num_joints, dtype=torch.bool)
    assert calibrate_dispersion(model, shots, mask, base.config.z_dim, base.config.resolution,
                                base.config.margin, pull=0.5) is None
    assert all(p.abs().max() == 0 for p in model.tau_parameters(trained_only=False))


def test_adaptation_reports_its_calibration_and_penalizes_moves_from_it(tiny_base):
    base = FlexPoseGenerator.from_pretrained(str(tiny_base))
    disc = load_discriminator(str(tiny_base / "discriminator"))
    result = adapt(base, disc, _demo_shots(), AdaptConfig(steps=2, options=MethodOptions(spread_pull=0.5)),
                   progress=False)
    assert set(result.calibration) == {"kind", "factor", "source_spread", "shots_spread", "target_spread", "reached_spread",
                                       "residual"}
    model = result.adapted.model
    assert len(model.tau_parameters(trained_only=False)) == 2 * len(ALL)
    # The penalty is measured from the calibrated start, so right after calibration it was zero.
    for index, layer in enumerate(model.base_model.model.A):
        anchor_scale, anchor_shift = layer.tau_anchor["default"]
        assert anchor_scale.abs().max() > 0  # the calibration moved every layer away from identity
        if index >= 3:  # calibrated, never trained: still exactly at the anchor
            assert torch.equal(layer.tau_scale["default"], anchor_scale)
            assert torch.equal(layer.tau_shift["default"], anchor_shift)
    deviation = sum((p - a).abs().sum() for layer in model.base_model.model.A
                    for p, a in zip((layer.tau_scale["default"], layer.tau_shift["default"]), layer.tau_anchor["default"]))
    torch.testing.assert_close(model.tau_regularization(), 1e-2 * deviation)


def test_cli_spread_pull_flag(tiny_base, tmp_path, capsys):
    from flexpose_hf.cli import main

    common = ["adapt", "--base", str(tiny_base), "--target", str(DEMO), "--steps", "2", "--num-samples", "5"]
    assert main([*common, "--output-dir", str(tmp_path / "on")]) == 0
    calibration = json.loads((tmp_path / "on" / "metrics.json").read_text())["dispersion_calibration"]
    assert calibration["factor"] > 0
    phrase = {"widen": "offsets from the mean pose scaled by", "concentrate": "drawing the latents toward"}
    assert phrase[calibration["kind"]] in (tmp_path / "on" / "README.md").read_text()
    assert main([*common, "--spread-pull", "0", "--output-dir", str(tmp_path / "off")]) == 0
    assert json.loads((tmp_path / "off" / "metrics.json").read_text())["dispersion_calibration"] is None
    config = json.loads((tmp_path / "off" / "adapter_config.json").read_text())
    assert config["calibrated_layers"] is None and config["target_modules"] == ["A.0", "A.1", "A.2"]
    # --adv-weight 0: the calibration alone; no layer moves after it, however many steps run.
    for steps in ("2", "4"):
        assert main([*common[:-4], "--steps", steps, *common[-2:], "--adv-weight", "0",
                     "--output-dir", str(tmp_path / f"calib{steps}")]) == 0
    short, long = (load_file(str(tmp_path / f"calib{n}" / "adapter_model.safetensors")) for n in (2, 4))
    assert len([k for k in short if "tau_scale" in k]) == 6
    assert all(torch.equal(short[k], long[k]) and short[k].abs().max() > 0 for k in short)
    assert json.loads((tmp_path / "calib2" / "metrics.json").read_text())["steps_kept"] == 0
    assert main([*common, "--spread-pull", "-1", "--output-dir", str(tmp_path / "bad")]) == 2
    assert "--spread-pull must be >= 0, got -1.0" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
