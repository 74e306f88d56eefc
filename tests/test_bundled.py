"""The generators shipped in the package: load offline by short name, sample, and run the main job."""

import json
from pathlib import Path

import numpy as np
import pytest

from flexpose_hf import CheckpointError, FlexPoseGenerator, load_poses
from flexpose_hf.cli import main
from flexpose_hf.hub import BUNDLED, HUB_IDS


@pytest.mark.parametrize("name, skeleton, joints", [("mpii-body", "mpii16", 16), ("helen-face", "face68", 68)])
def test_bundled_generators_load_offline(monkeypatch, name, skeleton, joints):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    g = FlexPoseGenerator.from_pretrained(name)
    assert g.config.skeleton == skeleton and g.name_or_path == HUB_IDS[name]
    out = g.sample(32, seed=0)["keypoints"]
    assert out.shape == (32, joints, 2) and np.isfinite(out).all()
    assert np.abs(out).max() < 1.0  # unit coordinates: centred, longer side about 1
    card = (BUNDLED[name] / "README.md").read_text()
    assert "library_name: flexpose_hf" in card and "nn1" in card
    assert (BUNDLED[name] / "discriminator" / "model.safetensors").exists()


def test_unknown_short_name_is_not_a_confusing_repo_error():
    with pytest.raises(CheckpointError, match="no such local directory"):
        FlexPoseGenerator.from_pretrained("./mpii-bodyy")


def test_main_job_on_the_bundled_default(tmp_path, capsys):
    """The README's main command, shortened: adapt the bundled MPII generator to the demo poses."""
    out = tmp_path / "demo"
    assert main(["adapt", "--target", str(Path(__file__).resolve().parents[1] / "flexpose_hf" / "data" / "coco_demo_10.json"), "--output-dir", str(out),
                 "--steps", "20", "--num-samples", "50"]) == 0
    samples = load_poses(out / "samples.json")
    assert len(samples) == 50
    printed = capsys.readouterr().out
    assert "tau: 10 shots (10 distinct) against a prior worth 30 -> pool weight 0.250; 20 steps" in printed
    assert "nothing held out to compare with" in printed
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == "flexpose-hf/mpii-body"
    assert (out / "grid.png").stat().st_size > 1000
    assert main(["sample", "--adapter", str(out), "--num-samples", "10", "--output", str(tmp_path / "s.json")]) == 0
    from PIL import Image

    compare = tmp_path / "compare.png"  # one row per repeated --adapter, under the source row
    assert main(["grid", "--adapter", str(out), "--adapter", str(out), "--num-samples", "3", "--cell", "32",
                 "--output", str(compare)]) == 0
    assert Image.open(compare).size == (32 + 3 * 32, 3 * 32)


def test_grid_picture(tmp_path):
    from PIL import Image

    demo = Path(__file__).resolve().parents[1] / "flexpose_hf" / "data" / "coco_demo_10.json"
    out = tmp_path / "grid.png"
    assert main(["grid", "--base", "helen-face", "--num-samples", "4", "--cell", "64", "--output", str(out)]) == 0
    assert Image.open(out).size == (64 + 4 * 64, 64)
    assert main(["grid", "--target", str(demo), "--num-samples", "5", "--cell", "64", "--output", str(out)]) == 0
    assert Image.open(out).size == (64 + 5 * 64, 2 * 64)
