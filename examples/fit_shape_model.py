"""Give a trained source generator a point distribution model: its decoded keypoints projected onto
the principal shape directions of its training poses that keep 99% of their variance.

    python examples/fit_shape_model.py --base helen-face --data ../shared/data/300w_helen/trainset \\
        --held_out 20 --output_dir runs/helen-face-shape
    python benchmarks/source_quality.py --base runs/helen-face-shape --base helen-face \\
        --data ../shared/data/300w_helen/trainset --reference ../shared/data/300w_helen/testset --seeds 0,1,2,3,4

The held-out poses are the seeded split ``examples/train_source.py`` kept out (size from the base's
training_summary.json unless ``--held_out``); the shape model is fitted to the training poses only
(and their mirror images). No weight changes: tau, LoRA and the style layers see the same generator,
whose keypoints pass the projection. See ``flexpose_hf/models/shape_model.py`` for why.
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
from flexpose_hf.training.data import flip_poses
from flexpose_hf.training.export import write_generator_folder
from flexpose_hf.training.shape_fit import with_shape_model

logger = logging.getLogger("fit_shape_model")
REPORTED = ("nn1", "precision", "recall", "coverage")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_base_arguments(p)
    p.add_argument("--variance", type=float, default=0.99,
                   help="share of the training shapes' variance the kept directions explain, in (0, 1)")
    p.add_argument("--no_flip", action="store_true", help="fit to the training poses without their mirror images")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if not 0 < args.variance < 1:
        raise FlexPoseError(f"--variance must be in (0, 1), got {args.variance}")
    run = load_base_run(args)
    generator, skeleton, train_kp, held_kp, joints = run.generator, run.skeleton, run.train, run.held_out, run.joints
    poses = train_kp if args.no_flip else np.concatenate([train_kp, flip_poses(train_kp, skeleton)])

    def measure(g: FlexPoseGenerator) -> dict:
        samples = g.sample(args.eval_samples, seed=1234)["keypoints"]
        return evaluate_poses(samples, skeleton, held_kp, skeleton, joints=joints)

    before = measure(generator)
    start = time.time()
    shaped, report = with_shape_model(generator, poses, args.variance)
    seconds = time.time() - start
    after = {**measure(shaped), "step": 0, "minutes": seconds / 60}
    logger.info("%d of %d shape directions (%.2f%% of the variance); before %s; after %s", report["components"],
                report["of"], 100 * report["variance_kept"], {k: round(before[k], 3) for k in REPORTED},
                {k: round(after[k], 3) for k in REPORTED})
    summary = refit_summary(
        args, run, shaped, "fit_shape_model.py",
        f"keypoints projected onto {report['components']} of {report['of']} principal shape directions of the "
        f"training poses ({100 * report['variance_kept']:.1f}% of their variance; examples/fit_shape_model.py)",
        before, after, seconds, steps=0, batch_size=0, shape_model=report)
    write_generator_folder(shaped, run.base_dir, args.output_dir, summary, "shape-model.png")
    print(json.dumps({**report, "before": {k: round(before[k], 4) for k in REPORTED},
                      "after": {k: round(after[k], 4) for k in REPORTED}}))
    return summary


if __name__ == "__main__":
    try:
        main()
    except FlexPoseError as err:
        sys.exit(f"error: {err}")
