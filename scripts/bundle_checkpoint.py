"""Copy a finished train_source run into the package as a bundled checkpoint (Hub layout).

    python scripts/bundle_checkpoint.py runs/mpii-body mpii-body [--hardware "note for the card"]
    python scripts/bundle_checkpoint.py runs/body-s3 mpii-body --after runs/body-s1 runs/body-s2   # resumed runs

Copies config.json, model.safetensors, README.md (the card), training_summary.json, the last
sample grid, and discriminator/ (adaptation fine-tunes against it); never the training checkpoints.
``--after`` names, oldest first, the runs that a resumed run continued from
(``--resume_from_checkpoint``, or ``--init_from`` a bundled generator's folder): the summary and card
then list every command, the total steps and wall time and the whole metric history.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from flexpose_hf.hub import CHECKPOINT_DIR, write_generator_card


def _batch_sizes(stages: list[dict]) -> int | str:
    """The batch size, or which steps ran at which one when the stages differ (a refit's batch is not
    the adversarial stages')."""
    stepping = [s for i, s in enumerate(stages) if i == 0 or s["steps"] > stages[i - 1]["steps"]]  # not a bank fit
    sizes = [s.get("batch_size") for s in stepping]
    if len(set(sizes)) == 1:
        return sizes[0]
    spans, start = [], 1
    for stage, size in zip(stepping, sizes):
        if spans and spans[-1][0] == size:
            spans[-1][2] = stage["steps"]
        else:
            spans.append([size, start, stage["steps"]])
        start = stage["steps"] + 1
    return ", ".join(f"{size} for steps {a:,}-{b:,}" for size, a, b in spans)


def merge_stages(earlier: dict, later: dict) -> dict:
    """One summary for a run resumed from another run's checkpoint (``--resume_from_checkpoint``, whose
    step count continues) or started from its weights (``--init_from``, which counts from 0 again:
    its steps are added to the earlier ones)."""
    offset = earlier["steps"] if later.get("init_from") else 0
    stages = earlier.get("stages") or [{"command": earlier["command"], "steps": earlier["steps"],
                                         "wall_minutes": earlier["wall_minutes_this_run"]}]
    stages = [{"batch_size": earlier.get("batch_size"), **s} for s in stages]  # older summaries kept it on top only
    stages = [*stages, {"command": later["command"], "steps": offset + later["steps"],
                        "wall_minutes": later["wall_minutes_this_run"], "batch_size": later.get("batch_size")}]
    shifted = [{**h, "step": offset + h["step"]} if "step" in h else h for h in later.get("history", [])]
    final = {**later.get("final_metrics", {})}
    if "step" in final:
        final["step"] = offset + final["step"]
    return {**later, "steps": offset + later["steps"], "final_metrics": final, "stages": stages,
            "batch_size": _batch_sizes(stages),
            "command": " && ".join(s["command"] for s in stages),
            "wall_minutes_total": round(sum(s["wall_minutes"] for s in stages), 2),
            "history": [*earlier.get("history", []), *shifted]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("name")
    p.add_argument("--after", type=Path, nargs="+", default=[], help="earlier runs this one resumed from, oldest first")
    p.add_argument("--hardware", default=None)
    p.add_argument("--quality_note", default=None, help="the card's note on the measured quality")
    args = p.parse_args()
    run, dest = args.run, CHECKPOINT_DIR / args.name
    summary = json.loads((run / "training_summary.json").read_text())
    if args.after:
        stages = [json.loads((d / "training_summary.json").read_text()) for d in args.after] + [summary]
        summary = stages[0]
        for later in stages[1:]:
            summary = merge_stages(summary, later)
    if args.hardware:
        summary["hardware"] = args.hardware
    if args.quality_note:
        summary["quality_note"] = args.quality_note
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "discriminator").mkdir(parents=True)
    for item in ("config.json", "model.safetensors"):
        shutil.copy2(run / item, dest / item)
        shutil.copy2(run / "discriminator" / item, dest / "discriminator" / item)
    (dest / "training_summary.json").write_text(json.dumps(summary, indent=2))
    # a training run's grids are step-*.png (the last is the newest); a fit without steps writes one grid
    grids = sorted((run / "samples").glob("step-*.png")) or sorted((run / "samples").glob("*.png"))
    if grids:
        shutil.copy2(grids[-1], dest / "samples.png")
    write_generator_card(dest, summary, repo=args.name)
    print(f"bundled {run} as {dest}: {sorted(p.name for p in dest.rglob('*'))}")


if __name__ == "__main__":
    main()
