import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from flexpose_hf import FlexPoseGenerator, draw_openpose, get_skeleton
from flexpose_hf.cli import main
from flexpose_hf.export_openpose import fit_unit_poses, to_openpose18
from flexpose_hf.pipelines import FlexPoseControlNetPipeline

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("name, height, width", [("standing_512x512", 512, 512), ("kick_768x512", 512, 768)])
def test_drawing_matches_the_controlnet_aux_annotator_pixel_for_pixel(name, height, width):
    """References drawn by controlnet_aux's draw_bodypose (scripts/make_openpose_reference.py)."""
    reference = np.asarray(Image.open(DATA / f"openpose_{name}.png"))
    keypoints = np.load(DATA / f"openpose_{name}.npy")
    ours = np.asarray(draw_openpose(keypoints, height, width))
    assert ours.shape == reference.shape
    assert (ours == reference).all(), f"{(ours != reference).any(-1).sum()} pixels differ"


def test_mpii_to_openpose_leaves_face_out_unless_asked():
    rng = np.random.default_rng(0)
    kp = rng.normal(size=(3, 16, 2))
    op = to_openpose18(kp, "mpii16")
    o = get_skeleton("openpose18")
    for joint in ("nose", "left_eye", "right_ear"):
        assert np.isnan(op[:, o.index(joint)]).all()
    m = get_skeleton("mpii16")
    np.testing.assert_allclose(op[:, o.index("neck")],
                               (kp[:, m.index("left_shoulder")] + kp[:, m.index("right_shoulder")]) / 2, rtol=1e-5)
    approx = to_openpose18(kp, "mpii16", approximate_head=True)
    assert not np.isnan(approx[:, o.index("nose")]).any() and np.isnan(approx[:, o.index("left_eye")]).all()


def test_fit_keeps_aspect_and_margin():
    unit = np.array([[[-0.5, -0.2], [0.5, 0.3]]])
    px = fit_unit_poses(unit, 768, 512, margin=0.1)
    np.testing.assert_allclose(px[0, 0], [384 - 0.5 * 409.6, 256 - 0.2 * 409.6])
    np.testing.assert_allclose(px[0, 1] - px[0, 0], [409.6, 0.5 * 409.6])


@pytest.fixture(scope="module")
def tiny_pipe(tmp_path_factory):
    from tiny_sd import tiny_controlnet_pipeline

    pipe = tiny_controlnet_pipeline(tmp_path_factory.mktemp("tok"))
    with torch.no_grad():  # ControlNet's zero convolutions start at 0; give them weight so its input matters
        for name, p in pipe.controlnet.named_parameters():
            if "controlnet_down_blocks" in name or "controlnet_mid_block" in name:
                p.normal_(0, 0.3)
    return pipe


def test_pipeline_end_to_end(tiny_pipe, tiny_base):
    generator = FlexPoseGenerator.from_pretrained(tiny_base)
    pipeline = FlexPoseControlNetPipeline(generator, tiny_pipe)
    kwargs = {"height": 32, "width": 32, "num_inference_steps": 2}
    out = pipeline("a dancer", num_images=3, seed=0, **kwargs)
    assert len(out.images) == 3 and out.keypoints.shape == (3, 18, 2)
    for kp, cond in zip(out.keypoints, out.conditioning_images):
        assert (np.asarray(cond) == np.asarray(draw_openpose(kp, 32, 32))).all()
    again = pipeline("a dancer", num_images=3, seed=0, **kwargs)
    assert all((np.asarray(a) == np.asarray(b)).all() for a, b in zip(out.images, again.images))
    other = pipeline("a dancer", num_images=3, seed=1, **kwargs)
    assert not np.allclose(other.keypoints, out.keypoints, equal_nan=True)
    weak = pipeline("a dancer", keypoints=out.keypoints, seed=0, controlnet_conditioning_scale=0.0, **kwargs)
    assert any((np.asarray(a) != np.asarray(b)).any() for a, b in zip(out.images, weak.images))


def test_sample_openpose_folder(tiny_base, tmp_path):
    user_file = tmp_path / "keep.json"
    user_file.write_text("{}")
    folder = tmp_path / "openpose"
    assert main(["sample", "--base", str(tiny_base), "--num-samples", "3", "--output", str(tmp_path / "s.json"),
                 "--canvas", "128", "--openpose-dir", str(folder)]) == 0
    doc = json.loads((folder / "pose_000000.json").read_text())
    assert doc["canvas_width"] == 128 and doc["canvas_height"] == 128
    triples = doc["people"][0]["pose_keypoints_2d"]
    assert len(triples) == 54 and triples[2] == 0.0  # MPII has no nose: confidence 0
    assert Image.open(folder / "pose_000002.png").size == (128, 128)
    assert user_file.read_text() == "{}"
