import json
import sys
from pathlib import Path

import numpy as np
import pytest

from flexpose_hf.errors import FlexPoseError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_harness_quick_mode(shared_data, tmp_path):
    import harness

    records = harness.main(["--data", str(shared_data), "--out", str(tmp_path), "--quick",
                            "--settings", "mpii->coco", "--jobs", "2"])
    methods = [r["method"] for r in records]
    assert methods == ["floor", "source", "repeat_shots", "tau"]
    lines = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert len(lines) == 4 and all("nn1" in r and r["shots"] == 10 for r in lines)
    by = {r["method"]: r for r in records}
    assert by["floor"]["nn1"] < by["repeat_shots"]["nn1"]  # the instruments separate these
    # full tau on the six style layers (18,752) and the four mapping layers (16,640)
    assert by["tau"]["trainable_parameters"] == 18752 + 16640 and by["tau"]["adapt_seconds"] > 0
    assert by["tau"]["strength"]["target_weight"] == 0.25  # 10 shots against the prior's 30
    assert "| 10 | tau |" in (tmp_path / "table.md").read_text()


def test_turned_face_selection_prefers_turned_heads():
    import harness

    frontal = np.zeros((1, 68, 2))
    frontal[0, 0], frontal[0, 16], frontal[0, 30] = [0, 0], [10, 0], [5, 3]
    turned = frontal.copy()
    turned[0, 30] = [9, 3]
    faces = np.concatenate([frontal, turned, frontal, frontal])
    assert harness.turned_faces(faces, share=0.25).tolist() == [1]


def test_methods_summary_pairs_seeds_and_marks_the_best(tmp_path):
    import methods_summary
    import shots_table

    def run(method: str, seed: int, nn1: float) -> str:
        return json.dumps({"setting": "s", "shots": 10, "method": method, "seed": seed, "nn1": nn1})

    rows = [run("source", 0, 0.80), run("source", 1, 0.90), run("tau", 0, 0.70), run("tau", 1, 0.85),
            run("finetune", 0, 0.75), run("lora", 5, 0.10)]  # lora shares no seed with the source
    (tmp_path / "runs.jsonl").write_text("\n".join(rows))
    text = methods_summary.summary(shots_table.load(tmp_path / "runs.jsonl"), ["tau", "finetune", "lora"])
    assert text.splitlines()[-1] == "| s | 10 | **-0.075** | -0.050 |  |"


def test_shots_table_compares_against_any_method(tmp_path):
    import shots_table

    def run(method: str, seed: int, nn1: float) -> str:
        return json.dumps({"setting": "s", "shots": 10, "method": method, "seed": seed, "nn1": nn1, "coverage": 0.5,
                           "precision": 0.9, "recall": 0.8, "memorization_ratio": 1.0, "limb_asymmetry_ratio": 1.2})

    rows = [run("source", 0, 0.90), run("old", 0, 0.80), run("old", 1, 0.70), run("tau", 0, 0.75), run("tau", 1, 0.60)]
    (tmp_path / "runs.jsonl").write_text("\n".join(rows))
    text = shots_table.table(shots_table.load(tmp_path / "runs.jsonl"), "tau", against="old")
    assert "| old nn1 | tau nn1 | tau - old (per seed) |" in text.splitlines()[0]
    assert text.splitlines()[-1].startswith("| s | 10 | 0.750 | 0.675 | -0.075 (-0.050, -0.100) |")
    assert "| 1.20x, 1.20x |" in text.splitlines()[-1]
    assert "-0.150" in shots_table.table(shots_table.load(tmp_path / "runs.jsonl"), "tau")  # one seed shared


def test_harness_base_override_measures_a_candidate_checkpoint(shared_data, tmp_path):
    import shutil

    import harness
    import pytest

    from flexpose_hf.hub import generator_dir

    candidate = tmp_path / "candidate"
    shutil.copytree(generator_dir("mpii-body"), candidate)
    common = ["--data", str(shared_data), "--quick", "--settings", "mpii->coco", "--methods", "source"]
    bundled = harness.main([*common, "--out", str(tmp_path / "bundled")])
    copied = harness.main([*common, "--out", str(tmp_path / "copied"), "--base", f"mpii-body={candidate}"])
    assert copied[0]["base"] == f"mpii-body={candidate}" and "base" not in bundled[0]
    assert copied[0]["nn1"] == bundled[0]["nn1"]  # the same weights, read from the candidate folder
    with pytest.raises(SystemExit, match="no setting uses 'mpii-bdy'"):
        harness.main([*common, "--out", str(tmp_path / "typo"), "--base", f"mpii-bdy={candidate}"])
    with pytest.raises(SystemExit, match="--base wants NAME=DIR"):
        harness.main([*common, "--out", str(tmp_path / "typo"), "--base", str(candidate)])
    (candidate / "config.json").unlink()
    with pytest.raises(SystemExit, match="config.json missing"):
        harness.main([*common, "--out", str(tmp_path / "broken"), "--base", f"mpii-body={candidate}"])


def test_harness_resume_skips_recorded_runs(shared_data, tmp_path):
    import harness

    common = ["--data", str(shared_data), "--out", str(tmp_path), "--quick", "--settings", "mpii->coco"]
    first = harness.main([*common, "--methods", "source"])
    again = harness.main([*common, "--methods", "source,floor", "--resume"])
    assert [r["method"] for r in first] == ["source"] and [r["method"] for r in again] == ["floor"]
    lines = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert [r["method"] for r in lines] == ["source", "floor"]
    # Another number of steps is another run of an adapted method, not of a reference row.
    key = harness.task_key(("mpii->coco", {}, "tau", 10, 0, 20, 500, {}, "t"))
    assert key == ("mpii->coco", "tau[t]", 10, 0, None, 20)
    assert harness.task_key(("mpii->coco", {}, "source", 10, 0, 20, 500, {}, "t"))[1:] == ("source", 10, 0, None, None)
    (tmp_path / "runs.jsonl").write_text("{not json\n")
    with pytest.raises(SystemExit, match="line 1: not a harness record"):
        harness.main([*common, "--methods", "source", "--resume"])


def test_a_category_left_out_of_the_source_is_the_unseen_target(shared_data, tmp_path):
    import csv

    import harness

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import mpii_without_category

    mpii = shared_data / "mpii" / "mpii_dataset.csv"
    out = tmp_path / "no_winter.npz"
    mpii_without_category.main([str(mpii), "winter activities", str(out)])
    with open(mpii, newline="") as f:
        categories = [row["Category"] for row in csv.DictReader(f)]
    kept = np.load(out)["keypoints"]
    assert len(kept) == len(categories) - categories.count("winter activities")
    target = harness.target_pool(harness.settings(shared_data)["mpii->winter"], "mpii16").poses
    # every winter person the harness targets (complete on its joints) is missing from the source's poses
    source = {tuple(np.round(p, 3).ravel()) for p in kept if not np.isnan(p).any()}
    assert len(target) > 500 and not any(tuple(np.round(p, 3).ravel()) in source for p in target)
    with pytest.raises(FlexPoseError, match="no person of category 'winter'"):
        mpii_without_category.main([str(mpii), "winter", str(tmp_path / "x.npz")])
    assert not (tmp_path / "x.npz").exists()


def test_tables_name_a_base_that_is_not_the_bundled_one():
    import harness

    row = {"setting": "mpii->skiing", "method": "source", "shots": 10, "seed": 0, "nn1": 0.7, "coverage": 0.9,
           "precision": 0.8, "recall": 0.9, "memorization_ratio": 1.0}
    assert "Base:" not in harness.table([row], {})
    assert "Base: mpii-body=runs/x (`--base`)" in harness.table([dict(row, base="mpii-body=runs/x")], {})


def test_grouped_split_keeps_a_shots_person_out_of_the_held_out_poses():
    import harness

    groups = np.repeat(np.array(["a", "b", "c", "d", "e"]), [3, 1, 4, 2, 5])
    poses = np.arange(len(groups), dtype=float)[:, None, None] * np.ones((1, 2, 2))
    target = harness.TargetPool(poses, np.ones(2, bool), groups)
    for seed in range(5):
        shots, held = harness.split_shots(target, 2, np.random.default_rng(seed))
        shot_groups = groups[shots[:, 0, 0].astype(int)]
        held_groups = groups[held[:, 0, 0].astype(int)]
        assert len(set(shot_groups)) == 2 and not set(shot_groups) & set(held_groups)
        assert len(shots) + len(held) == len(groups) - sum((groups == g).sum() - 1 for g in shot_groups)
    with pytest.raises(FlexPoseError, match="only 5 groups"):
        harness.split_shots(target, 6, np.random.default_rng(0))
    ungrouped = harness.TargetPool(poses, np.ones(2, bool))
    shots, held = harness.split_shots(ungrouped, 4, np.random.default_rng(0))
    assert len(shots) == 4 and len(held) == len(groups) - 4
    assert not set(shots[:, 0, 0]) & set(held[:, 0, 0])


def test_market_poses_are_grouped_by_person(shared_data):
    import harness

    target = harness.target_pool(harness.settings(shared_data)["mpii->market"], "mpii16")
    assert target.groups is not None and len(target.groups) == len(target.poses)
    assert 600 < len(np.unique(target.groups)) < len(target.poses) / 3  # several poses per pedestrian
