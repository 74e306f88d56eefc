import json

import numpy as np
import pytest

from flexpose_hf import FlexPoseError, FlexPoseGenerator, load_poses, pose_arrays
from flexpose_hf.cli import main
from flexpose_hf.completion import complete_poses
from flexpose_hf.io import write_npz


def test_completion_keeps_labels_and_fills_generator_poses(tiny_base):
    g = FlexPoseGenerator.from_pretrained(tiny_base)
    truth = g.to_canvas(g.sample(6, seed=3)["keypoints"]) * 10 + 40  # generator poses, another pixel frame
    partial = truth.astype(np.float64).copy()
    rng = np.random.default_rng(0)
    hidden = rng.random(partial.shape[:2]) < 0.3
    hidden[:, 0] = True
    partial[hidden] = np.nan
    filled = complete_poses(g, partial, restarts=4, iters=80, progress=False)
    assert not np.isnan(filled).any()
    np.testing.assert_array_equal(filled[~hidden], partial[~hidden])
    err = np.linalg.norm(filled[hidden] - truth[hidden], axis=-1).mean()
    naive = np.linalg.norm(np.nanmean(partial, axis=1, keepdims=True).repeat(16, 1)[hidden] - truth[hidden],
                           axis=-1).mean()
    assert err < 0.5 * naive


def test_mean_estimate_averages_the_restarts(tiny_base):
    g = FlexPoseGenerator.from_pretrained(tiny_base)
    partial = (g.to_canvas(g.sample(4, seed=5)["keypoints"]) * 10 + 40).astype(np.float64)
    partial[:, [0, 3, 9]] = np.nan
    one = {"restarts": 1, "iters": 20, "seed": 1, "progress": False}
    np.testing.assert_allclose(complete_poses(g, partial, estimate="mean", **one),
                               complete_poses(g, partial, estimate="best", **one), atol=1e-4)
    many = {"restarts": 4, "iters": 20, "seed": 1, "progress": False}
    mean, best = (complete_poses(g, partial, estimate=e, **many) for e in ("mean", "best"))
    np.testing.assert_array_equal(mean[:, [1, 2]], partial[:, [1, 2]])
    assert np.abs(mean - best)[:, [0, 3, 9]].max() > 1e-3  # four restarts do not all land on one pose
    with pytest.raises(FlexPoseError, match="estimate must be one of mean, best"):
        complete_poses(g, partial, estimate="median", progress=False)
    with pytest.raises(FlexPoseError, match="restarts must be >= 1"):
        complete_poses(g, partial, restarts=0, progress=False)


def test_too_few_labels(tiny_base):
    g = FlexPoseGenerator.from_pretrained(tiny_base)
    kp = np.full((2, 16, 2), np.nan)
    kp[:, :3] = 1.0
    kp[1, 1:] = np.nan
    with pytest.raises(FlexPoseError, match="pose 1 has fewer than 2 labelled joints"):
        complete_poses(g, kp, progress=False)


def test_cli_complete_writes_coco_with_visibility(tiny_base, tmp_path):
    kp = np.random.default_rng(0).uniform(50, 150, size=(3, 16, 2)).astype(np.float32)
    kp[0, 5] = np.nan
    src = tmp_path / "partial.npz"
    write_npz(src, kp, "mpii16")
    before = src.read_bytes()
    out = tmp_path / "done.json"
    assert main(["complete", "--base", str(tiny_base), "--input", str(src), "--output", str(out),
                 "--restarts", "2", "--iters", "10", "--estimate", "best"]) == 0
    doc = json.loads(out.read_text())
    triples = np.asarray(doc["annotations"][0]["keypoints"]).reshape(16, 3)
    assert triples[5, 2] == 1 and triples[0, 2] == 2
    assert src.read_bytes() == before
    filled, _ = pose_arrays(load_poses(out))
    np.testing.assert_allclose(filled[1], kp[1], atol=0.01)
    assert main(["complete", "--base", str(tiny_base), "--input", str(src), "--output", str(src)]) == 2
