"""Cost of one default adaptation in a fresh process: wall time, peak RSS, trainable share, sampling speed.

    python benchmarks/adapt_cost.py --target ../shared/data/lspet/joints.mat [--shots 10 --method tau]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

import torch

from flexpose_hf.adaptation.run import run_adaptation
from flexpose_hf.loading import load_generator, sample_poses


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", required=True)
    p.add_argument("--shots", type=int, default=10)
    p.add_argument("--method", default="tau")
    p.add_argument("--samples", type=int, default=100_000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        metrics = run_adaptation(args.target, tmp, shots=args.shots, method=args.method, progress=False)
        total = time.perf_counter() - start
        model = load_generator(None, tmp)
        sample_poses(model, 1000, seed=0)  # warm-up
        t = time.perf_counter()
        sample_poses(model, args.samples, seed=1)
        rate = args.samples / (time.perf_counter() - t)
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"adaptation loop ({metrics['steps']} steps, {args.shots} shots, {args.method}): "
          f"{metrics['adapt_seconds']:.1f} s; whole command incl. loading, metrics and writing: {total:.1f} s")
    print(f"trainable parameters: {metrics['trainable_parameters']} of {metrics['generator_parameters']} "
          f"({100 * metrics['trainable_parameters'] / metrics['generator_parameters']:.3f}%)")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(f"sampling: {rate:,.0f} poses/s (batches of 512)")


if __name__ == "__main__":
    main()
