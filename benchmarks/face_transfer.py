"""Face-landmark transfer through the public CLI, with the paper's Figure-5 picture.

    python benchmarks/face_transfer.py --data ../shared/data --work /tmp/face_transfer --figure docs/face_transfer.png

The target is the harness's face setting: HELEN test faces, the 30% most turned heads. Ten of them
(seed 0) are written as a COCO keypoints file and given to ``flexpose adapt --base helen-face`` for
each method; ``flexpose evaluate`` scores each adapter's samples against the other turned faces,
and ``flexpose grid`` draws source samples, each method's samples from the same noise and real targets.
The 3-seed metrics table of this setting comes from ``benchmarks/harness.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from harness import turned_faces

from flexpose_hf import load_poses, pose_arrays
from flexpose_hf.io.export import write_coco


def flexpose(*args: str) -> None:
    print("$ flexpose " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "flexpose_hf.cli", *args], check=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--work", type=Path, required=True, help="folder for the target files and adapters")
    p.add_argument("--figure", type=Path, required=True, help="PNG for the Figure-5 comparison")
    p.add_argument("--methods", default="tau,finetune")
    p.add_argument("--shots", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    faces = pose_arrays(load_poses(args.data / "300w_helen" / "testset"))[0]
    turned = faces[turned_faces(faces)]
    perm = np.random.default_rng(args.seed).permutation(len(turned))
    args.work.mkdir(parents=True, exist_ok=True)
    width, height = (int(np.ceil(np.nanmax(turned[..., i]))) + 1 for i in (0, 1))
    shots, held = args.work / "turned_shots.json", args.work / "turned_held_out.json"
    write_coco(shots, turned[perm[: args.shots]], "face68", width, height, description="turned HELEN test faces")
    write_coco(held, turned[perm[args.shots:]], "face68", width, height, description="turned HELEN test faces")
    results = {}
    for method in args.methods.split(","):
        out = args.work / method
        flexpose("adapt", "--base", "helen-face", "--target", str(shots), "--method", method,
                 "--seed", str(args.seed), "--num-samples", "2000", "--output-dir", str(out), "--overwrite")
        flexpose("evaluate", "--samples", str(out / "samples.json"), "--reference", str(held), "--shots", str(shots),
                 "--output", str(out / "eval_held_out.json"))
        results[method] = json.loads((out / "eval_held_out.json").read_text())
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    adapters = [a for m in args.methods.split(",") for a in ("--adapter", str(args.work / m))]
    flexpose("grid", "--base", "helen-face", *adapters, "--target", str(held),
             "--num-samples", "8", "--seed", str(args.seed), "--output", str(args.figure))
    print(json.dumps({m: {k: round(r[k], 3) for k in ("nn1", "precision", "recall", "coverage", "memorization")
                          if k in r} for m, r in results.items()}, indent=1))


if __name__ == "__main__":
    main()
