"""Give a trained source generator a latent-bank mapping: its training poses inverted to w, drawn
through a Gaussian kernel whose bandwidth is chosen on the held-out split.

    python examples/fit_latent_bank.py --base helen-face --data ../shared/data/300w_helen/trainset \\
        --output_dir runs/helen-face-bank
    python benchmarks/source_quality.py --base runs/helen-face-bank --base helen-face \
        --data ../shared/data/300w_helen/trainset --reference ../shared/data/300w_helen/testset --seeds 0,1,2

The held-out poses are the seeded split ``examples/train_source.py`` kept out (size from the base's
training_summary.json unless ``--held_out``); they choose the bandwidth and are never inverted. phi, the
style layers (what tau and LoRA adapt) and the critic stay as they were; with no mapping layer left,
tau adapts the style layers only, which is why the bundled generators keep their MLP. See
``flexpose_hf/training/latent_bank.py`` for the rule and BENCHMARKS.md ("Source generators") for why.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import numpy as np

from flexpose_hf import FlexPoseGenerator
from flexpose_hf.errors import FlexPoseError
from flexpose_hf.metrics import evaluate_poses
from flexpose_hf.training.base_run import add_base_arguments, load_base_run, refit_summary
from flexpose_hf.training.data import flip_poses, to_unit_poses
from flexpose_hf.training.export import write_generator_folder
from flexpose_hf.training.latent_bank import DEFAULT_BANDWIDTHS, fit_latent_bank

logger = logging.getLogger("fit_latent_bank")
REPORTED = ("nn1", "precision", "recall", "coverage")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_base_arguments(p)
    p.add_argument("--max_poses", type=int, default=None,
                   help="invert at most this many training poses (seeded draw; default: all)")
    p.add_argument("--steps", type=int, default=100, help="Adam steps per inverted pose")
    p.add_argument("--learning_rate", type=float, default=0.1)
    p.add_argument("--bandwidths", default=",".join(str(h) for h in DEFAULT_BANDWIDTHS),
                   help="comma-separated kernel bandwidths to choose from (multiples of the codes' spread)")
    p.add_argument("--no_flip", action="store_true", help="do not add the mirror images to the bank")
    return p.parse_args(argv)


def parse_bandwidths(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise FlexPoseError(f"--bandwidths {text!r}: give comma-separated numbers, e.g. 0,0.1,0.2") from None
    if not values or any(not np.isfinite(v) or v < 0 for v in values):
        raise FlexPoseError(f"--bandwidths {text!r}: give one or more finite numbers >= 0")
    return values


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    bandwidths = parse_bandwidths(args.bandwidths)
    if args.steps < 0 or args.learning_rate <= 0 or (args.max_poses is not None and args.max_poses < 1):
        raise FlexPoseError("--steps must be >= 0, --learning_rate positive and --max_poses >= 1")
    run = load_base_run(args)
    generator, skeleton, train_kp, held_kp, joints = run.generator, run.skeleton, run.train, run.held_out, run.joints
    if args.max_poses is not None and args.max_poses < len(train_kp):
        train_kp = train_kp[np.random.default_rng(args.seed).permutation(len(train_kp))[:args.max_poses]]
    unit = to_unit_poses(train_kp)
    if not args.no_flip:
        unit = np.concatenate([unit, flip_poses(unit, skeleton)])

    def measure(g: FlexPoseGenerator) -> dict:
        samples = g.sample(args.eval_samples, seed=1234)["keypoints"]
        return evaluate_poses(samples, skeleton, held_kp, skeleton, joints=joints)

    before = measure(generator)
    start = time.time()
    try:
        banked, report = fit_latent_bank(generator, unit, held_kp, joints, steps=args.steps,
                                         learning_rate=args.learning_rate, bandwidths=bandwidths,
                                         samples=args.eval_samples, seed=args.seed)
    except ValueError as err:
        raise FlexPoseError(str(err)) from None
    seconds = time.time() - start
    after = {**measure(banked), "step": 0, "minutes": seconds / 60}
    logger.info("bandwidth %.2f; before %s; after %s", report["bandwidth"],
                {k: round(before[k], 3) for k in REPORTED}, {k: round(after[k], 3) for k in REPORTED})
    summary = refit_summary(
        args, run, banked, "fit_latent_bank.py",
        f"mapping replaced by a latent bank of {report['bank_size']} inverted training poses, kernel bandwidth "
        f"{report['bandwidth']} chosen on the held-out split (examples/fit_latent_bank.py)",
        before, after, seconds, steps=0, batch_size=512, training_poses=len(train_kp), latent_bank=report)
    write_generator_folder(banked, run.base_dir, args.output_dir, summary, "latent-bank.png")
    print(json.dumps({"bandwidth": report["bandwidth"], "before": {k: round(before[k], 4) for k in REPORTED},
                      "after": {k: round(after[k], 4) for k in REPORTED}}))
    return summary


if __name__ == "__main__":
    try:
        main()
    except FlexPoseError as err:
        sys.exit(f"error: {err}")
