"""Two more head-pose mixes of HELEN test faces through the public CLI, with defaults only.

    python benchmarks/face_mixes.py --data ../shared/data --work /tmp/face_mixes --seeds 0,1,2

The 30% most tilted heads (eye-line roll, outer eye corners) and the 30% least turned heads (the
harness's yaw proxy, smallest first) are each written as one COCO keypoints file and given to
``flexpose adapt --base helen-face --target FILE --shots 10 --seed S`` (``--base`` for another face); the CLI's metrics.json scores
source and adapted samples against the faces not drawn as shots. Prints one row per target and seed.
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

SHARE = 0.3
FIELDS = ("nn1", "precision", "recall", "coverage")


def roll_degrees(faces: np.ndarray) -> np.ndarray:
    """Absolute eye-line roll: the angle of the line through the outer eye corners (landmarks 37, 46)."""
    d = faces[:, 45] - faces[:, 36]
    return np.degrees(np.abs(np.arctan2(d[:, 1], d[:, 0])))


def mixes(faces: np.ndarray) -> dict[str, np.ndarray]:
    n = int(len(faces) * SHARE)
    by_turn = turned_faces(faces, 1.0)  # every face, most turned first
    return {"tilted": np.argsort(-roll_degrees(faces))[:n], "least_turned": by_turn[::-1][:n]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--base", default="helen-face", help="the face generator to adapt (bundled name or folder)")
    p.add_argument("--mixes", default="tilted,least_turned", help="which mixes to run")
    args = p.parse_args()
    faces = pose_arrays(load_poses(args.data / "300w_helen" / "testset"))[0]
    args.work.mkdir(parents=True, exist_ok=True)
    width, height = (int(np.ceil(np.nanmax(faces[..., i]))) + 1 for i in (0, 1))
    turned = set(turned_faces(faces, SHARE).tolist())
    print("| target | seed | nn1 source -> tau | precision | recall | coverage | tau's samples nearest a shot / chance |")
    print("|---|---|---|---|---|---|---|")
    wanted = args.mixes.split(",")
    for name, index in mixes(faces).items():
        if name not in wanted:
            continue
        target = args.work / f"{name}.json"
        write_coco(target, faces[index], "face68", width, height, description=f"HELEN test faces, {name}")
        note = f"{name}: {len(index)} faces, {len(turned & set(index.tolist()))} also among the most turned"
        if name == "tilted":
            note += f", smallest roll {roll_degrees(faces[index]).min():.1f} degrees"
        print(note, file=sys.stderr)
        for seed in (int(s) for s in args.seeds.split(",")):
            out = args.work / f"{name}-{seed}"
            subprocess.run([sys.executable, "-m", "flexpose_hf.cli", "adapt", "--base", args.base, "--target",
                            str(target), "--shots", "10", "--seed", str(seed), "--output-dir", str(out),
                            "--overwrite"], check=True, stdout=subprocess.DEVNULL)
            m = json.loads((out / "metrics.json").read_text())
            s, a = m["source"], m["adapted"]
            cells = [f"{s[k]:.3f} -> {a[k]:.3f}" for k in FIELDS]
            ratio = a["memorization"] / a["memorization_chance"]
            print(f"| {name.replace('_', ' ')} | {seed} | " + " | ".join(cells) + f" | {ratio:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
