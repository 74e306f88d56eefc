import json
from pathlib import Path

import numpy as np
import pytest

from flexpose_hf import FlexPoseError, load_poses, pose_arrays
from flexpose_hf.cli import main
from flexpose_hf.io import write_npz
from flexpose_hf.metrics import (
    LIMB_JOINTS,
    evaluate_poses,
    format_comparison,
    frechet_distance,
    leave_one_out_nn1,
    memorization,
    nn1_accuracy,
    normalize_poses,
    prdc,
    protocol_joints,
    rbf_mmd,
    two_sample_figures,
)


def _gauss(n, d=8, shift=0.0, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


def test_identical_sets():
    x = _gauss(400)
    assert frechet_distance(x, x) == pytest.approx(0, abs=1e-6)
    assert prdc(x, x, k=5) == {"precision": 1.0, "recall": 1.0, "density": pytest.approx(1.0, abs=0.05),
                                "coverage": 1.0}
    # Every point's nearest other point is itself duplicated in the other set: all "wrong".
    assert nn1_accuracy(x, x) == 0.0


def test_one_round_of_nn1_counts_neighbours_from_the_own_set():
    """Interleaved on a line every nearest neighbour is from the other set (0.0); apart, from the own (1.0);
    with one ``b`` beside ``a``'s first point, it and the two ``a`` nearest it read wrong (5 of 8 right)."""
    a, b = np.arange(0, 8, 2.0)[:, None], np.arange(1, 9, 2.0)[:, None]
    assert leave_one_out_nn1(a, b) == 0.0
    assert leave_one_out_nn1(a, b + 100) == 1.0
    assert leave_one_out_nn1(a, np.array([[0.1], [50.0], [51.0], [52.0]])) == pytest.approx(5 / 8)


def test_nn1_uses_every_sample_against_a_small_reference():
    """More samples than reference poses: rounds over disjoint draws of the samples, less noise."""
    real = _gauss(60, seed=0)
    one, ten = [], []
    for seed in range(30):
        fake = _gauss(600, seed=100 + seed)
        one.append(nn1_accuracy(real, fake, seed=seed, max_rounds=1))
        ten.append(nn1_accuracy(real, fake, seed=seed, max_rounds=10))
    assert abs(np.mean(ten) - np.mean(one)) < 0.05  # same expectation
    assert np.std(ten) < 0.6 * np.std(one)
    fake = _gauss(600, seed=7)
    assert nn1_accuracy(real, fake[:60], seed=0) == nn1_accuracy(real, fake[:60], seed=0, max_rounds=1)


def test_k_nn_figures_compare_equal_sizes_as_the_protocol_does():
    """With 20x more samples than reference poses, plain PRDC counts every reference pose covered;
    on equal sizes (the protocol) coverage matches one equal-size draw, averaged over rounds."""
    real = _gauss(100, seed=0)
    rounds, plain, single = [], [], []
    for seed in range(10):
        fake = _gauss(2000, seed=100 + seed)
        rounds.append(two_sample_figures(real, fake, seed=seed)["coverage"])
        plain.append(prdc(real, fake)["coverage"])
        single.append(prdc(real, fake[:100])["coverage"])
    assert np.mean(plain) == 1.0
    assert abs(np.mean(rounds) - np.mean(single)) < 0.02 and np.mean(rounds) < 0.99
    fake = _gauss(100, seed=9)
    figures = two_sample_figures(real, fake)  # equal sizes: one round, the same figures as plain prdc
    assert {k: figures[k] for k in prdc(real, fake)} == pytest.approx(prdc(real, fake))
    assert figures["nn1"] == nn1_accuracy(real, fake)
    poses = lambda n, seed: np.random.default_rng(seed).normal(size=(n, 14, 2))
    scored = evaluate_poses(poses(2000, 2), "lsp14", poses(100, 1), "lsp14")
    assert scored["coverage"] < 0.99 and scored["num_samples"] == 2000


def test_same_law_and_disjoint_sets():
    a, b = _gauss(600, seed=1), _gauss(600, seed=2)
    assert 0.4 < nn1_accuracy(a, b) < 0.6
    assert abs(rbf_mmd(a, b)) < 0.01
    far = _gauss(600, shift=50.0, seed=3)
    assert nn1_accuracy(a, far) == 1.0
    assert prdc(a, far) == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    assert rbf_mmd(a, far) > 1.0


def test_shifted_copy_frechet_is_squared_shift():
    a = _gauss(500, d=4, seed=4)
    assert frechet_distance(a, a + np.array([3.0, 0, 0, 0])) == pytest.approx(9.0, rel=1e-6)


def test_collapsed_generator_has_no_recall_or_coverage():
    real = _gauss(500, seed=5)
    collapsed = np.repeat(real[:1], 500, axis=0) + 1e-3 * _gauss(500, seed=6)
    r = prdc(real, collapsed)
    assert r["precision"] == 1.0 and r["recall"] < 0.05 and r["coverage"] < 0.05
    assert nn1_accuracy(real, collapsed) > 0.95


def test_normalization_removes_translation_and_scale_but_not_rotation():
    kp = np.random.default_rng(0).normal(size=(1, 5, 2))
    moved = kp * 7.5 + np.array([100.0, -3.0])
    np.testing.assert_allclose(normalize_poses(kp), normalize_poses(moved))
    rotated = kp @ np.array([[0.0, -1.0], [1.0, 0.0]])
    assert not np.allclose(normalize_poses(kp), normalize_poses(rotated))


def test_memorization_of_a_copying_generator():
    shots, held = _gauss(10, seed=7), _gauss(990, seed=8)
    copies = np.repeat(shots, 20, axis=0)
    m = memorization(copies, shots, held)
    assert m["memorization"] == 1.0 and m["memorization_chance"] == pytest.approx(0.01)
    fresh = memorization(_gauss(1000, seed=9), shots, held)
    assert fresh["memorization_ratio"] < 3


def test_evaluate_across_skeletons_uses_shared_joints():
    rng = np.random.default_rng(0)
    mpii = rng.normal(size=(300, 16, 2))
    coco = rng.normal(size=(300, 17, 2))
    r = evaluate_poses(mpii, "mpii16", coco, "coco17")
    assert r["joints"] == 12 and set(r) >= {"nn1", "precision", "recall", "density", "coverage", "fd", "mmd"}
    with pytest.raises(FlexPoseError, match="share only 0 joints"):
        evaluate_poses(mpii, "mpii16", rng.normal(size=(300, 68, 2)), "face68")


def test_evaluate_noise_floor_and_gaussian_on_real_mpii(shared_data):
    kp, _ = pose_arrays(load_poses(shared_data / "mpii/mpii_dataset.csv", complete_only=True))
    perm = np.random.default_rng(0).permutation(len(kp))
    a, b = kp[perm[:3000]], kp[perm[3000:6000]]
    floor = evaluate_poses(a, "mpii16", b, "mpii16", joints="limbs")
    assert floor["nn1"] < 0.56 and floor["coverage"] > 0.9
    assert floor["limb_asymmetry_ratio"] == pytest.approx(1.0, abs=0.1)


def test_evaluate_cli_writes_json(tmp_path, shared_data, capsys):
    kp, _ = pose_arrays(load_poses(shared_data / "mpii/mpii_dataset.csv", complete_only=True))
    write_npz(tmp_path / "samples.npz", kp[:500], "mpii16")
    write_npz(tmp_path / "shots.npz", kp[500:510], "mpii16")
    out = tmp_path / "m.json"
    code = main(["evaluate", "--samples", str(tmp_path / "samples.npz"),
                 "--reference", str(shared_data / "lspet/joints.mat"), "--shots", str(tmp_path / "shots.npz"),
                 "--output", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert {"nn1", "precision", "recall", "density", "coverage", "fd", "mmd", "memorization"} <= set(result)
    assert "nn1" in capsys.readouterr().out
    assert sorted(result["compared_joints"].split(", ")) == sorted(LIMB_JOINTS)  # the protocol's joints by default
    assert main(["evaluate", "--samples", str(tmp_path / "samples.npz"), "--reference",
                 str(shared_data / "lspet/joints.mat"), "--joints", "shared", "--output", str(out)]) == 0
    assert {"head_top", "upper_neck"} <= set(json.loads(out.read_text())["compared_joints"].split(", "))


def test_evaluate_compares_the_joints_both_files_label(tmp_path, capsys):
    """COCO files whose face joints are all unlabelled are compared on the joints they do label."""
    demo = Path(__file__).resolve().parents[1] / "flexpose_hf" / "data" / "coco_demo_10.json"
    doc = json.loads(demo.read_text())
    for ann in doc["annotations"]:
        for j in range(5):  # nose, eyes, ears: unlabelled
            ann["keypoints"][3 * j: 3 * j + 3] = [0, 0, 0]
    path = tmp_path / "no_face.json"
    path.write_text(json.dumps(doc))
    assert main(["evaluate", "--samples", str(path), "--reference", str(path), "--output",
                 str(tmp_path / "m.json")]) == 0
    result = json.loads((tmp_path / "m.json").read_text())
    assert result["joints"] == 12 and "nose" not in result["compared_joints"]
    assert "left_wrist" in result["compared_joints"] and result["nn1"] <= 0.6


def test_comparison_table_lists_both_sides_and_copies_against_chance():
    """A source that never lands nearest a shot still gets its copies row (0 / chance is 0)."""
    def figures(nn1: float, copies: float) -> dict:
        return {"nn1": nn1, "precision": 0.9, "recall": 0.85, "coverage": 0.5, "density": 1.1,
                "memorization": copies, "memorization_chance": 0.04}

    rows = {line[:29].strip(): line[29:].split() for line in format_comparison(figures(0.8, 0.0),
                                                                                figures(0.75, 0.06)).splitlines()[2:]}
    assert rows["nn1 (0.5 = indistinguishable)"] == ["0.800", "0.750", "-0.050"]
    assert rows["nearest a shot / chance"] == ["0.000", "1.500", "+1.500"]
    assert list(rows)[:5] == ["nn1 (0.5 = indistinguishable)", "precision", "recall", "coverage", "density"]
    no_shots = format_comparison({"nn1": 0.8}, {"nn1": 0.7})  # evaluated without shots: no copies row
    assert "nearest a shot" not in no_shots and no_shots.count("\n") == 2


def test_protocol_joints_are_the_limbs_on_bodies_and_everything_on_faces():
    from flexpose_hf.skeletons import get_skeleton

    mpii = get_skeleton("mpii16").joints
    assert set(protocol_joints(mpii)) == set(LIMB_JOINTS) and "head_top" in mpii
    upper = tuple(j for j in mpii if "ankle" not in j and "knee" not in j)  # a target without legs
    assert protocol_joints(upper) == tuple(j for j in LIMB_JOINTS if "ankle" not in j and "knee" not in j)
    face = get_skeleton("face68").joints
    assert protocol_joints(face) == face
