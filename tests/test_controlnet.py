import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from flexpose_hf import FlexPoseError, FlexPoseGenerator, draw_openpose, get_skeleton
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


SD15_PARTS = ("vae", "text_encoder", "tokenizer", "unet", "controlnet", "scheduler")
SMALL = {"height": 32, "width": 32, "num_inference_steps": 2}


def _pixels(images):
    return [np.asarray(im) for im in images]


def test_pipeline_is_a_diffusion_pipeline_with_one_pose_per_image(tiny_pipe, tiny_base):
    from diffusers import DiffusionPipeline
    from diffusers.utils import BaseOutput

    generator = FlexPoseGenerator.from_pretrained(tiny_base)
    pipeline = FlexPoseControlNetPipeline(generator, **{k: tiny_pipe.components[k] for k in SD15_PARTS})
    pipeline.set_progress_bar_config(disable=True)
    assert isinstance(pipeline, DiffusionPipeline) and pipeline.to("cpu") is pipeline
    assert pipeline.components["pose_generator"] is generator and not pipeline.is_sdxl
    out = pipeline(["a dancer", "a climber"], num_images_per_prompt=2, generator=torch.Generator().manual_seed(0),
                   **SMALL)
    assert isinstance(out, BaseOutput) and len(out.images) == 4 and out.keypoints.shape == (4, 18, 2)
    assert len({kp.tobytes() for kp in out.keypoints}) == 4, "each image gets its own pose"
    for kp, cond in zip(out.keypoints, out.conditioning_images):
        assert (np.asarray(cond) == np.asarray(draw_openpose(kp, 32, 32))).all()
    again = pipeline(["a dancer", "a climber"], num_images_per_prompt=2, generator=torch.Generator().manual_seed(0),
                     **SMALL)
    assert all((a == b).all() for a, b in zip(_pixels(out.images), _pixels(again.images)))
    np.testing.assert_array_equal(again.keypoints, out.keypoints)
    other = pipeline("a dancer", generator=torch.Generator().manual_seed(1), **SMALL)
    assert not np.allclose(other.keypoints[0], out.keypoints[0], equal_nan=True)
    weak = pipeline(["a dancer", "a climber"], num_images_per_prompt=2, keypoints=out.keypoints,
                    generator=torch.Generator().manual_seed(0), controlnet_conditioning_scale=0.0, **SMALL)
    assert any((a != b).any() for a, b in zip(_pixels(out.images), _pixels(weak.images))), "the poses condition"
    images, keypoints, conditioning = pipeline("a dancer", return_dict=False, **SMALL)
    assert len(images) == len(conditioning) == 1 and keypoints.shape == (1, 18, 2)
    with pytest.raises(FlexPoseError, match="expected 2 x 18 x 2"):
        pipeline("a dancer", num_images_per_prompt=2, keypoints=out.keypoints, **SMALL)


def test_pipeline_saves_and_loads_like_diffusers(tiny_pipe, tiny_base, tmp_path):
    generator = FlexPoseGenerator.from_pretrained(tiny_base)
    pipeline = FlexPoseControlNetPipeline(generator, approximate_head=True,
                                          **{k: tiny_pipe.components[k] for k in SD15_PARTS})
    pipeline.save_pretrained(tmp_path / "saved")
    loaded = FlexPoseControlNetPipeline.from_pretrained(str(tmp_path / "saved"))
    loaded.set_progress_bar_config(disable=True)
    assert isinstance(loaded.pose_generator, FlexPoseGenerator) and loaded.config.approximate_head
    a = pipeline("x", generator=torch.Generator().manual_seed(0), **SMALL)
    b = loaded("x", generator=torch.Generator().manual_seed(0), **SMALL)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    assert (np.asarray(a.images[0]) == np.asarray(b.images[0])).all()


def test_from_pretrained_assembles_sd15_and_sdxl_bases(tiny_pipe, tiny_base, tmp_path):
    """A Stable Diffusion base and an OpenPose ControlNet by id (local folders here; Hub ids go the same way)."""
    from diffusers import StableDiffusionXLPipeline
    from tiny_sd import save_tiny_sd15, tiny_sdxl_components

    save_tiny_sd15(tiny_pipe, tmp_path)
    sd15 = FlexPoseControlNetPipeline.from_pretrained(str(tmp_path / "sd15"), controlnet=str(tmp_path / "sd15-openpose"),
                                                      pose_generator=str(tiny_base))
    sd15.set_progress_bar_config(disable=True)
    assert not sd15.is_sdxl and len(sd15("a runner", **SMALL).images) == 1
    import runpy
    import sys

    argv = ["controlnet_synthesis.py", "--stable-diffusion", str(tmp_path / "sd15"), "--controlnet",
            str(tmp_path / "sd15-openpose"), "--base", str(tiny_base), "--prompt", "a runner", "--num-samples", "2",
            "--height", "32", "--width", "32", "--num_inference_steps", "2", "--output-dir", str(tmp_path / "out")]
    old, sys.argv = sys.argv, argv
    try:
        runpy.run_path(str(Path(__file__).parents[1] / "examples" / "controlnet_synthesis.py"), run_name="__main__")
    finally:
        sys.argv = old
    written = json.loads((tmp_path / "out" / "keypoints.json").read_text())
    assert len(written) == 2 and (tmp_path / "out" / "image_0001.png").exists()

    xl = tiny_sdxl_components(tmp_path / "tok")
    StableDiffusionXLPipeline(**{k: v for k, v in xl.items() if k != "controlnet"}).save_pretrained(tmp_path / "sdxl")
    xl["controlnet"].save_pretrained(tmp_path / "sdxl-openpose")
    sdxl = FlexPoseControlNetPipeline.from_pretrained(str(tmp_path / "sdxl"), controlnet=str(tmp_path / "sdxl-openpose"),
                                                      pose_generator=str(tiny_base))
    sdxl.set_progress_bar_config(disable=True)
    out = sdxl("a runner", num_images_per_prompt=2, generator=torch.Generator().manual_seed(0), **SMALL)
    assert sdxl.is_sdxl and len(out.images) == 2 and out.images[0].size == (32, 32)


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
