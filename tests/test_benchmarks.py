import json
import sys
from pathlib import Path

import numpy as np

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
    assert by["tau"]["trainable_parameters"] == 18752 and by["tau"]["adapt_seconds"] > 0  # full tau, six layers
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
