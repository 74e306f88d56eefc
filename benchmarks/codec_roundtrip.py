"""Round-trip error of SkeletonImageCodec on all complete MPII poses (canvas pixels).

    python benchmarks/codec_roundtrip.py ../shared/data/mpii/mpii_dataset.csv [--resolution 32]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from flexpose_hf import SkeletonImageCodec, fit_to_canvas, load_poses, pose_arrays, skeleton_of


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("annotations")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch", type=int, default=1024)
    args = parser.parse_args()
    ds = load_poses(args.annotations, complete_only=True)
    keypoints, _ = pose_arrays(ds)
    canvas, _ = fit_to_canvas(keypoints, args.resolution)
    codec = SkeletonImageCodec(skeleton_of(ds), args.resolution)
    errors, start = [], time.perf_counter()
    for i in range(0, len(canvas), args.batch):
        batch = canvas[i: i + args.batch]
        decoded, _ = codec.decode(codec.encode(batch))
        errors.append(np.linalg.norm(decoded - batch, axis=-1).ravel())
    elapsed = time.perf_counter() - start
    err = np.concatenate(errors)
    print(f"poses: {len(canvas)} complete {skeleton_of(ds)} poses, resolution {args.resolution}, "
          f"{codec.num_channels} channels")
    print(f"round-trip error (px): mean {err.mean():.2e}  max {err.max():.2e}  missing decoded {np.isnan(err).sum()}")
    print(f"encode+decode: {len(canvas) / elapsed:.0f} poses/s")


if __name__ == "__main__":
    main()
