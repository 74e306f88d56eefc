import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from flexpose_hf import CheckpointError, FlexPoseError, FlexPoseGenerator, FlexPoseGeneratorConfig
from flexpose_hf.adaptation import MethodOptions
from flexpose_hf.adaptation.run import run_adaptation
from flexpose_hf.cli import main
from flexpose_hf.io import load_poses
from flexpose_hf.loading import load_generator, sample_poses

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "flexpose_hf" / "data" / "coco_demo_10.json"


@pytest.mark.parametrize("method", ["tau", "lora", "lora_all", "finetune", "freezed", "adaptor"])
def test_each_method_adapts_saves_and_reloads(tiny_base, tmp_path, method):
    out = tmp_path / method
    metrics = run_adaptation(str(DEMO), str(out), base=str(tiny_base), method=method, steps=3, num_samples=20,
                             progress=False)
    assert metrics["num_shots"] == 10 and metrics["trainable_parameters"] > 0
    assert (out / "README.md").exists() and (out / "grid.png").exists()
    assert not (out / "checkpoints").exists()
    samples = load_poses(out / "samples.json")
    assert len(samples) == 20
    card = (out / "README.md").read_text()
    assert f"base_model: {tiny_base}" in card and "base_model_relation: adapter" in card
    model = load_generator(str(tiny_base), str(out))
    reloaded = sample_poses(model, 20, seed=0)
    from flexpose_hf.codec import unit_to_canvas

    written = np.asarray(samples.with_format("numpy")["keypoints"])
    np.testing.assert_allclose(unit_to_canvas(reloaded, 257, margin=0.1), written, atol=0.02)
    if method in ("tau", "lora", "lora_all"):
        assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_base)


def test_tau_changes_the_generator_and_stays_small(tiny_base, tmp_path):
    metrics = run_adaptation(str(DEMO), str(tmp_path / "a"), base=str(tiny_base), steps=5, progress=False)
    assert metrics["trainable_parameters"] / metrics["generator_parameters"] < 0.05
    weights = load_file(str(tmp_path / "a" / "adapter_model.safetensors"))
    assert any(v.abs().max() > 0 for v in weights.values())


def test_bad_inputs_are_refused_before_writing(tiny_base, tmp_path, shared_data):
    out = tmp_path / "exists"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FlexPoseError, match="exists and is not empty; pass --overwrite"):
        run_adaptation(str(DEMO), str(out), base=str(tiny_base), steps=2, progress=False)
    assert os.listdir(out) == ["keep.txt"]
    with pytest.raises(FlexPoseError, match="steps must be >= 1"):
        run_adaptation(str(DEMO), str(tmp_path / "s0"), base=str(tiny_base), steps=0, progress=False)
    with pytest.raises(FlexPoseError, match="shares only 0 joints"):
        run_adaptation(str(shared_data / "300w_helen/testset"), str(tmp_path / "f"), base=str(tiny_base),
                       steps=2, progress=False)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(FlexPoseError, match="not writable|is a file"):
        run_adaptation(str(DEMO), str(blocker / "sub"), base=str(tiny_base), steps=2, progress=False)
    with pytest.raises(FlexPoseError, match="asked for 50 shots but only 10"):
        run_adaptation(str(DEMO), str(tmp_path / "k"), base=str(tiny_base), shots=50, steps=2, progress=False)


def test_refused_settings_leave_the_output_dir_untouched(tiny_base, tmp_path, capsys):
    """Settings that cannot run are refused before --overwrite removes the previous outputs."""
    from flexpose_hf.cli import main

    out = tmp_path / "previous"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    for kwargs, message in (({"steps": 0}, "steps must be >= 1"),
                            ({"config_overrides": {"checkpointing_steps": 0}}, "checkpointing_steps must be >= 1"),
                            ({"options": MethodOptions(layers=[99])}, r"layers \[99\] do not exist"),
                            ({"options": MethodOptions(layers=[0, 0])}, "repeat a layer"),
                            ({"method": "lora", "options": MethodOptions(layers=[-1])}, "do not exist")):
        with pytest.raises(FlexPoseError, match=message):
            run_adaptation(str(DEMO), str(out), base=str(tiny_base), overwrite=True, progress=False,
                           **{"steps": 2, **kwargs})
        assert os.listdir(out) == ["keep.txt"]
    assert main(["adapt", "--base", str(tiny_base), "--target", str(DEMO), "--layers", "a,b",
                 "--output-dir", str(tmp_path / "new")]) == 2
    assert "--layers wants comma-separated style-layer numbers" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_adapter_for_another_base_is_refused(tiny_base, tmp_path):
    run_adaptation(str(DEMO), str(tmp_path / "a"), base=str(tiny_base), steps=2, progress=False)
    other = FlexPoseGenerator(FlexPoseGeneratorConfig(channels=[16, 16, 8], z_dim=8, w_dim=32, mapping_layers=2))
    other.save_pretrained(tmp_path / "other")
    with pytest.raises(CheckpointError, match="different base model.*w_dim"):
        load_generator(str(tmp_path / "other"), str(tmp_path / "a"))


def test_broken_adapter_files_are_clear_errors(tiny_base, tmp_path, monkeypatch):
    """A truncated or missing weights file, malformed JSON and an unknown base name each name the problem."""
    import shutil

    good = tmp_path / "good"
    run_adaptation(str(DEMO), str(good), base=str(tiny_base), steps=2, progress=False)
    weights = (good / "adapter_model.safetensors").read_bytes()
    cases = {
        "truncated": (lambda d: (d / "adapter_model.safetensors").write_bytes(weights[:-10]), "truncated safetensors"),
        "headless": (lambda d: (d / "adapter_model.safetensors").write_bytes(weights[:50]), "truncated safetensors"),
        "missing": (lambda d: (d / "adapter_model.safetensors").unlink(), "missing"),
        "config": (lambda d: (d / "adapter_config.json").write_text('{"peft_type": "TAU",'),
                   r"adapter_config.json: malformed JSON at line 1"),
        "fingerprint": (lambda d: (d / "flexpose_base.json").write_text("[1]"), "no 'config' object"),
    }
    for name, (damage, message) in cases.items():
        broken = tmp_path / name
        shutil.copytree(good, broken)
        damage(broken)
        with pytest.raises(CheckpointError, match=message):
            load_generator(str(tiny_base), str(broken))
    load_generator(str(tiny_base), str(good))  # the undamaged copy still loads
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)  # no network wait in the test
    with pytest.raises(CheckpointError, match="not a bundled generator .* not a Hub repo found"):
        FlexPoseGenerator.from_pretrained("no-such-base")
    with pytest.raises(FlexPoseError, match="seed must be >= 0"):
        run_adaptation(str(DEMO), str(tmp_path / "neg"), base=str(tiny_base), seed=-1, steps=2, progress=False)
    assert not (tmp_path / "neg").exists()


def test_cli_sample_with_adapter(tiny_base, tmp_path):
    run_adaptation(str(DEMO), str(tmp_path / "a"), base=str(tiny_base), steps=2, progress=False)
    out = tmp_path / "s.json"
    assert main(["sample", "--base", str(tiny_base), "--adapter", str(tmp_path / "a"), "--num-samples", "7",
                 "--output", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert len(doc["annotations"]) == 7 and doc["categories"][0]["keypoints"][0] == "right_ankle"
    assert main(["sample", "--base", str(tiny_base), "--num-samples", "5", "--output", str(tmp_path / "s.npz")]) == 0
    assert len(load_poses(tmp_path / "s.npz")) == 5


def _adapt_cmd(base, out, steps, extra=()):
    return [sys.executable, str(REPO / "examples" / "adapt.py"), "--base", str(base), "--target", str(DEMO),
            "--steps", str(steps), "--checkpointing_steps", "4", "--num_samples", "5", "--output_dir", str(out),
            *extra]


def test_killed_run_resumes_to_the_same_adapter(tiny_base, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    full = tmp_path / "full"
    subprocess.run(_adapt_cmd(tiny_base, full, 40), check=True, capture_output=True, env=env)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_adapt_cmd(tiny_base, killed, 40), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    while not (killed / "checkpoints" / "checkpoint-8").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "adapter_model.safetensors").exists(), "killed before finishing"
    subprocess.run(_adapt_cmd(tiny_base, killed, 40, ["--resume_from_checkpoint", "latest"]), check=True,
                   capture_output=True, env=env)
    a = load_file(str(full / "adapter_model.safetensors"))
    b = load_file(str(killed / "adapter_model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=1e-5)


def test_two_process_data_parallel_adaptation(tiny_base, tmp_path):
    out = tmp_path / "mp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           str(REPO / "examples" / "adapt.py"), "--base", str(tiny_base), "--target", str(DEMO), "--steps", "4",
           "--num_samples", "5", "--output_dir", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The two ranks print concurrently, so their lines may interleave: match the pairs anywhere.
    sums = dict(re.findall(r"(\[rank \d/2\]) trained parameter checksum ([-+0-9.eE]+\d)", proc.stdout))
    assert set(sums) == {"[rank 0/2]", "[rank 1/2]"}
    assert sums["[rank 0/2]"] == sums["[rank 1/2]"], "ranks ended with different weights"
    assert proc.stdout.count('"num_shots"') == 1, "only the main process reports and writes"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["README.md", "adapt_config.json", "adapter_config.json", "adapter_model.safetensors",
         "flexpose_base.json", "grid.png", "metrics.json", "samples.json", "shots.json"])


def test_divergence_guard_restores_the_last_passing_state(tiny_base):
    from flexpose_hf.adaptation import AdaptConfig, adapt
    from flexpose_hf.models.discriminator import load_discriminator
    from flexpose_hf.training.data import to_unit_poses

    shots = to_unit_poses(np.asarray(load_poses(DEMO, skeleton="mpii16").with_format("numpy")["keypoints"]))

    def run(tolerance: float):
        base = FlexPoseGenerator.from_pretrained(str(tiny_base))
        disc = load_discriminator(str(tiny_base / "discriminator"))
        config = AdaptConfig(steps=6, guard_every=2, spread_tolerance=tolerance, lr_generator=0.5,
                             options=MethodOptions(spread_pull=0.0))  # tau starts at the identity
        return adapt(base, disc, shots, config, progress=False)

    free = run(0.0)  # guard off: all steps, tau moved away from identity
    assert free.steps == 6 and len(free.history) == 6
    assert all({"spread_ratio", "shot_distance_ratio", "mean_pose_moved"} <= set(h) for h in free.history[1::2])
    assert any(p.abs().max() > 0 for p in free.adapted.trainable)
    guarded = run(1e-9)  # any change in spread trips it at the first check: back to identity
    assert guarded.steps == 0 and len(guarded.history) == 2 and guarded.history[-1]["stopped"]
    assert all(p.abs().max() == 0 for p in guarded.adapted.trainable)


class _FixedPoses(torch.nn.Module):
    """A stand-in generator that draws the given canvas poses, one per latent."""

    def __init__(self, canvas: torch.Tensor) -> None:
        super().__init__()
        self.canvas = canvas

    def forward(self, z: torch.Tensor, output: str = "keypoints") -> torch.Tensor:
        return self.canvas[: len(z)]


def test_guard_statistics_measure_the_drift_away_from_the_shots():
    from flexpose_hf.adaptation.spread import renormalize
    from flexpose_hf.adaptation.trainer import guard_statistics
    from flexpose_hf.codec import unit_to_canvas
    from flexpose_hf.training.data import to_unit_poses

    keypoints = np.asarray(load_poses(DEMO, skeleton="mpii16").with_format("numpy")["keypoints"])
    unit = np.nan_to_num(to_unit_poses(keypoints)).astype(np.float32)
    mask = torch.from_numpy(~np.isnan(keypoints).any(-1).any(0))
    shots = torch.from_numpy(unit)
    z = torch.zeros(len(unit), 4)

    def stats(poses: np.ndarray) -> tuple[float, float, torch.Tensor]:
        canvas = torch.from_numpy(unit_to_canvas(poses, 64).astype(np.float32))
        return guard_statistics(_FixedPoses(canvas), z, shots, mask, 64, 0.1)

    spread, distance, mean = stats(unit)  # the samples are the shots themselves
    assert distance == pytest.approx(0.0, abs=1e-4) and spread > 0
    expected_mean = renormalize(shots, mask)[:, mask].mean(0)
    torch.testing.assert_close(mean, expected_mean, atol=1e-4, rtol=0)
    tilted = unit.copy()
    tilted[..., 0] += 0.3 * tilted[..., 1]  # every sample sheared away from its shot
    _, tilted_distance, tilted_mean = stats(tilted)
    assert tilted_distance > 0.01 and float((tilted_mean - mean).norm()) > 0.01
