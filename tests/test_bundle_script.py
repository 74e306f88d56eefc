import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))


def test_resumed_run_summary_lists_every_stage():
    from bundle_checkpoint import merge_stages

    first = {"command": "train --max_steps 6000", "steps": 6000, "wall_minutes_this_run": 44.5,
             "history": [{"step": 6000, "nn1": 0.66}]}
    second = {"command": "train --resume_from_checkpoint c-6000 --max_steps 9000", "steps": 9000,
              "wall_minutes_this_run": 29.5, "history": [{"step": 9000, "nn1": 0.65}], "final_metrics": {"nn1": 0.65}}
    third = {"command": "train --max_steps 10500", "steps": 10500, "wall_minutes_this_run": 10.0,
             "history": [{"step": 10500, "nn1": 0.64}]}
    merged = merge_stages(merge_stages(first, second), third)
    assert [s["steps"] for s in merged["stages"]] == [6000, 9000, 10500]
    assert merged["wall_minutes_total"] == 84.0 and merged["steps"] == 10500
    assert merged["command"] == " && ".join([first["command"], second["command"], third["command"]])
    assert [h["step"] for h in merged["history"]] == [6000, 9000, 10500]
