import json
import subprocess
import sys

import numpy as np
import pytest

from flexpose_hf.cli import main


def test_help_runs_as_console_script():
    out = subprocess.run([sys.executable, "-m", "flexpose_hf.cli", "--help"], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "render" in out.stdout


def test_skeletons_lists_each_layout_and_with_joints_its_joint_names(capsys):
    assert main(["skeletons"]) == 0
    short = capsys.readouterr().out
    assert short.startswith("coco17") and "left_shoulder" not in short and "read by their joint names" in short
    assert main(["skeletons", "--joints"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].strip().split(", ")[:2] == ["nose", "left_eye"]  # coco17's joints under its row


def test_render_bundled_demo(tmp_path, capsys):
    assert main(["render", "--output-dir", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "render.json").read_text())
    assert summary["poses"] == 10 and summary["skeleton"] == "coco17"
    assert summary["roundtrip_error_px_max"] < 0.5
    assert (tmp_path / "roundtrip.png").stat().st_size > 0


def test_render_bad_input_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{ nope")
    assert main(["render", "--input", str(bad), "--output-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bad.json: malformed JSON at line 1" in err and "Traceback" not in err


def test_sample_refusals_name_the_problem(tmp_path, capsys):
    assert main(["sample", "--num-samples", "10000000000000", "--output", str(tmp_path / "x.npz")]) == 2
    assert "needs about" in capsys.readouterr().err and not (tmp_path / "x.npz").exists()
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    target = blocker / "x.json"
    assert main(["sample", "--num-samples", "3", "--output", str(target)]) == 2
    err = capsys.readouterr().err
    assert str(blocker) in err and ".tmp" not in err


def test_version_and_help_on_every_flag(capsys):
    import argparse

    from flexpose_hf.cli import build_parser

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("flexpose ")
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"flexpose {name} {action.option_strings[0]} has no help"
    adapt_help = subparsers.choices["adapt"].format_help()
    assert "(default: 200)" in adapt_help.replace("\n", " ").replace("  ", " ")  # --num-samples shows its default


def test_sample_as_coco17_runs_through_cocoeval(tmp_path, capsys):
    """MPII-skeleton samples written as coco17: face joints v=0, real canvas size, COCOeval scores them."""
    import os

    pytest.importorskip("pycocotools", reason="pycocotools is not installed (pip install -e '.[dev]')")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    out = tmp_path / "samples.json"
    old = os.umask(0o022)
    try:
        assert main(["sample", "--num-samples", "20", "--skeleton", "coco17", "--output", str(out)]) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644, "written files follow the umask, not mkstemp's 0600"
    doc = json.loads(out.read_text())
    assert doc["categories"][0]["keypoints"][0] == "nose" and len(doc["categories"][0]["sigmas"]) == 17
    first = doc["annotations"][0]["keypoints"]
    assert first[2] == 0 and first[5 * 3 + 2] == 2, "nose unlabelled (v=0), left shoulder labelled"
    assert doc["images"][0]["width"] == 256
    gt = COCO(str(out))
    detections = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
                  for a in doc["annotations"]]
    evaluation = COCOeval(gt, gt.loadRes(detections), "keypoints")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats[0] > 0.99, "samples scored against themselves: AP 1"
    capsys.readouterr()
    assert main(["sample", "--num-samples", "2", "--skeleton", "nope", "--output", str(tmp_path / "x.json")]) == 2
    assert "nope" in capsys.readouterr().err and not (tmp_path / "x.json").exists()


def test_sample_parquet_is_a_dataset_with_its_skeleton(tmp_path, capsys):
    import datasets

    from flexpose_hf import load_poses, pose_arrays, skeleton_of

    out = tmp_path / "samples.parquet"
    assert main(["sample", "--num-samples", "30", "--output", str(out), "--seed", "3"]) == 0
    ds = datasets.load_dataset("parquet", data_files=str(out), split="train")
    assert len(ds) == 30 and ds.features["keypoints"].length == 16
    assert skeleton_of(ds) == "mpii16" and ds[0]["image"] == "pose_000000.png"
    assert main(["sample", "--num-samples", "30", "--output", str(tmp_path / "same.npz"), "--seed", "3"]) == 0
    np_kp = pose_arrays(load_poses(tmp_path / "same.npz"))[0]
    np.testing.assert_allclose(pose_arrays(load_poses(out))[0], np_kp, atol=1e-4)
    # a dataset from load_poses keeps its skeleton through Parquet
    ds.to_parquet(tmp_path / "again.parquet")
    assert skeleton_of(datasets.load_dataset("parquet", data_files=str(tmp_path / "again.parquet"), split="train")) \
        == "mpii16"
    capsys.readouterr()
    assert main(["sample", "--num-samples", "3", "--output", str(tmp_path / "no" / "x.parquet")]) == 2
    assert "folder" in capsys.readouterr().err and not (tmp_path / "no").exists()


def test_parquet_writer_streams_chunks_atomically(tmp_path):
    import pyarrow.parquet as pq

    from flexpose_hf.io import write_parquet

    def chunks():
        for i in range(3):
            yield np.full((4, 16, 2), float(i), np.float32)

    assert write_parquet(tmp_path / "p.parquet", chunks(), "mpii16") == 12
    meta = pq.ParquetFile(tmp_path / "p.parquet")
    assert meta.metadata.num_rows == 12 and b"huggingface" in meta.schema_arrow.metadata

    def broken():
        yield np.zeros((4, 16, 2), np.float32)
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_parquet(tmp_path / "q.parquet", broken(), "mpii16")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.parquet"], "nothing half-written is left"
