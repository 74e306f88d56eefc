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


def test_run_started_from_bundled_weights_continues_the_step_count():
    from bundle_checkpoint import merge_stages

    bundled = {"command": "train --max_steps 4500", "steps": 4500, "wall_minutes_this_run": 38.0,
               "history": [{"step": 4500, "recall": 0.26}]}
    continued = {"command": "train --init_from helen-face --max_steps 3000", "steps": 3000, "init_from": "helen-face",
                 "wall_minutes_this_run": 40.0, "history": [{"step": 500, "recall": 0.3}, {"step": 3000, "recall": 0.4}],
                 "final_metrics": {"recall": 0.4, "step": 3000}}
    merged = merge_stages(bundled, continued)
    assert merged["steps"] == 7500 and merged["final_metrics"]["step"] == 7500
    assert [s["steps"] for s in merged["stages"]] == [4500, 7500]
    assert [h["step"] for h in merged["history"]] == [4500, 5000, 7500]
    assert merged["wall_minutes_total"] == 78.0
    refit = {"command": "refit --steps 600", "steps": 600, "init_from": "helen-face", "wall_minutes_this_run": 2.6,
             "batch_size": 256}
    assert merge_stages({**bundled, "batch_size": 128}, refit)["batch_size"] == "128 for steps 1-4,500, 256 for steps 4,501-5,100"
    assert merge_stages({**bundled, "batch_size": 256}, refit)["batch_size"] == 256
    bank = {"command": "fit_latent_bank", "steps": 0, "init_from": "helen-face", "wall_minutes_this_run": 6.0,
            "batch_size": 512}  # no generator steps: its batch is no training stage's
    after_bank = merge_stages(merge_stages({**bundled, "batch_size": 128}, refit), bank)
    assert after_bank["steps"] == 5100 and after_bank["batch_size"] == "128 for steps 1-4,500, 256 for steps 4,501-5,100"
