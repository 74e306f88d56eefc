"""Far, narrow targets: the clusters of LSP-Extended's poses that lie farthest from the source's samples.

The narrow harness settings are MPII activities the source trained on. Targets far from the source
and narrow, like one sports action filmed as video, are built here from real poses instead: k-means
(k = 20, seeded) on LSP-Extended's complete poses in the protocol's normalization, each cluster
ranked by its typicality (median distance of its poses to their nearest source sample over the
source samples' own median nearest-neighbour distance), and the two farthest clusters of at least
200 poses become the targets `lsp_far0` and `lsp_far1`. Runs go through the harness's `run_one`
(same shots, latents and metrics) and append to `OUT/runs.jsonl`, so `shots_table.py` reads them.

    OMP_NUM_THREADS=1 python benchmarks/far_targets.py --data ../shared/data --out benchmarks/results/far \
        --methods source,floor,augment_shots,tau,finetune --shots 10,50
    python benchmarks/shots_table.py benchmarks/results/far/runs.jsonl
    python benchmarks/far_targets.py --data ../shared/data --write-coco DIR   # the clusters as COCO files, for the CLI
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

from flexpose_hf import FlexPoseGenerator
from flexpose_hf.io.export import write_coco
from flexpose_hf.loading import sample_poses
from flexpose_hf.metrics import protocol_joints, select_joints
from flexpose_hf.skeletons import get_skeleton

BASE = "mpii-body"
CLUSTERS = 20
MIN_SIZE = 200


def nearest_distances(a: np.ndarray, b: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    d = torch.cdist(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    return d.min(1)


def kmeans(x: np.ndarray, k: int, seed: int = 0, iterations: int = 50) -> np.ndarray:
    """Cluster labels of Lloyd's algorithm from ``k`` seeded rows."""
    centres = x[np.random.default_rng(seed).choice(len(x), k, replace=False)]
    for _ in range(iterations):
        labels = ((x[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
        centres = np.stack([x[labels == i].mean(0) if (labels == i).any() else centres[i] for i in range(k)])
    return labels


def far_clusters(data: Path, generator: FlexPoseGenerator) -> dict[str, dict]:
    """name -> {"pool": poses on the base skeleton, "mask", "typicality", "size"} for the two farthest clusters."""
    skeleton = generator.config.skeleton
    pool, mask, _ = harness.target_pool(harness.settings(data)["mpii->lsp"], skeleton)
    joints = protocol_joints(get_skeleton(skeleton).joints)
    vectors = select_joints(pool, skeleton, joints).vectors
    source = select_joints(sample_poses(generator, 4000, seed=7), skeleton, joints).vectors
    own = np.median(nearest_distances(source[:1500], source[:1500], exclude_self=True))
    labels = kmeans(vectors, CLUSTERS)
    ranked = sorted(((float(np.median(nearest_distances(vectors[labels == i][:400], source)) / own),
                      int((labels == i).sum()), i) for i in range(CLUSTERS)), reverse=True)
    chosen = [c for c in ranked if c[1] >= MIN_SIZE][:2]
    return {f"lsp_far{rank}": {"pool": pool[labels == i], "mask": mask, "typicality": round(typ, 2), "size": size}
            for rank, (typ, size, i) in enumerate(chosen)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, help="folder of runs.jsonl (needed unless --write-coco)")
    p.add_argument("--write-coco", type=Path, metavar="DIR",
                   help="only write each cluster to DIR/<name>.json (base skeleton) for `flexpose adapt`")
    p.add_argument("--methods", default="source,floor,augment_shots,tau,finetune")
    p.add_argument("--shots", default="10,50")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=harness.AdaptConfig.steps)
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="as in harness.py")
    p.add_argument("--tag", default=None, help="suffix for the method names of rows run with --set")
    args = p.parse_args()
    torch.set_num_threads(1)
    overrides = harness.parse_overrides(args.set)
    generator = FlexPoseGenerator.from_pretrained(BASE)
    targets = far_clusters(args.data, generator)
    if args.write_coco is not None:
        args.write_coco.mkdir(parents=True, exist_ok=True)
        for name, target in targets.items():
            poses = np.where(target["mask"][None, :, None], target["pool"], np.nan)  # the images' pixels
            write_coco(args.write_coco / f"{name}.json", poses, generator.config.skeleton, None, None,
                       description=f"LSP-Extended, far cluster {name} ({target['size']} poses)")
            print(f"wrote {args.write_coco / f'{name}.json'} ({target['size']} poses)")
        return
    if args.out is None:
        p.error("--out is required unless --write-coco is given")
    cache = {BASE: generator}
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "runs.jsonl", "a") as f:
        for name, target in targets.items():
            print(f"{name}: {target['size']} poses, typicality {target['typicality']}", flush=True)
            cache[(name, generator.config.skeleton)] = harness.TargetPool(target["pool"], target["mask"])
            for shots in (int(s) for s in args.shots.split(",")):
                for seed in range(args.seeds):
                    for method in args.methods.split(","):
                        record = harness.run_one(name, {"base": BASE}, method, shots, seed, args.steps,
                                                 10000, cache, overrides)
                        if args.tag and method not in harness.REFERENCE_ROWS:  # as the harness names them
                            record.update(method=f"{method}[{args.tag}]", overrides=overrides)
                        record.update(typicality=target["typicality"], size=target["size"])
                        f.write(json.dumps(record) + "\n")
                        f.flush()
                        print(json.dumps({k: record.get(k) for k in ("setting", "method", "shots", "seed", "nn1",
                                                                     "coverage", "precision")}), flush=True)


if __name__ == "__main__":
    main()
