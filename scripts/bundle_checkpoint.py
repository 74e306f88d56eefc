"""Copy a finished train_source run into the package as a bundled checkpoint (Hub layout).

    python scripts/bundle_checkpoint.py runs/mpii-body mpii-body ["hardware note for the card"]

Copies config.json, model.safetensors, README.md (the card), training_summary.json, the last
sample grid, and discriminator/ (adaptation fine-tunes against it); never the training checkpoints.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from flexpose_hf.hub import CHECKPOINT_DIR, write_generator_card


def main() -> None:
    run, name = Path(sys.argv[1]), sys.argv[2]
    dest = CHECKPOINT_DIR / name
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "discriminator").mkdir(parents=True)
    for item in ("config.json", "model.safetensors", "training_summary.json"):
        shutil.copy2(run / item, dest / item)
    for item in ("config.json", "model.safetensors"):
        shutil.copy2(run / "discriminator" / item, dest / "discriminator" / item)
    grids = sorted((run / "samples").glob("step-*.png"))
    if grids:
        shutil.copy2(grids[-1], dest / "samples.png")
    import json

    summary = json.loads((run / "training_summary.json").read_text())
    if len(sys.argv) > 3:
        summary["hardware"] = sys.argv[3]
        (dest / "training_summary.json").write_text(json.dumps(summary, indent=2))
    write_generator_card(dest, summary, repo=name)
    print(f"bundled {run} as {dest}: {sorted(p.name for p in dest.rglob('*'))}")


if __name__ == "__main__":
    main()
