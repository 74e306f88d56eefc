"""Refit a trained source generator's mapping network f to its training poses (the rest frozen).

    python examples/refit_mapping.py --base helen-face --data ../shared/data/300w_helen/trainset \\
        --output_dir runs/helen-face-refit
    python scripts/bundle_checkpoint.py runs/helen-face-refit helen-face --after flexpose_hf/checkpoints/helen-face

The held-out poses are the same seeded split ``examples/train_source.py`` kept out (its size read from
the base's training_summary.json unless ``--held_out`` is given), so they stay unseen; metrics on
them are printed before and after. Writes a generator folder like train_source's: weights, config,
the base's critic, training_summary.json (``init_from`` the base, so bundling counts its steps after
the base's), a sample grid and a card. See ``flexpose_hf/training/refit.py`` for why and how.

``--objective autoencoder`` (the bundled face's last refit) trains f as the decoder of an autoencoder
over the training poses inverted to w, beside the pose MMD (``flexpose_hf/training/autoencoded_refit.py``):

    python examples/refit_mapping.py --base helen-face --data ../shared/data/300w_helen/trainset \\
        --objective autoencoder --steps 3000 --output_dir runs/helen-face-autoencoded

With it, ``--modules f,phi`` (or ``f,A,phi``) lets the synthesis network (and the style layers) train with f
toward the same three terms, for a phi that cannot draw the training poses from any code.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import numpy as np
import torch

from flexpose_hf.errors import FlexPoseError
from flexpose_hf.metrics import evaluate_poses
from flexpose_hf.training.autoencoded_refit import AUTOENCODER_MODULES, refit_mapping_autoencoded
from flexpose_hf.training.base_run import add_base_arguments, load_base_run, refit_summary
from flexpose_hf.training.data import PoseSampler, flip_poses, to_unit_poses
from flexpose_hf.training.export import write_generator_folder
from flexpose_hf.training.refit import REFIT_MODULES, refit_mapping

logger = logging.getLogger("refit_mapping")
REPORTED = ("nn1", "precision", "recall", "coverage")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_base_arguments(p)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--learning_rate", type=float, default=1e-3)
    p.add_argument("--batch_size", type=int, default=256, help="generated poses per step")
    p.add_argument("--real_batch_size", type=int, default=1024, help="real poses per step")
    p.add_argument("--no_flip", action="store_true", help="no horizontal-flip augmentation")
    p.add_argument("--modules", default="f", help="what trains: 'f' (the mapping network) or 'f,A' (and the style layers); "
                        "--objective autoencoder also takes 'phi' (the synthesis network)")
    p.add_argument("--objective", choices=("mmd", "autoencoder"), default="mmd",
                   help="'mmd': a pose MMD on prior draws; 'autoencoder': also reconstruct the inverted training "
                        "poses through a learned encoder")
    p.add_argument("--reconstruction_weight", type=float, default=3.0, help="autoencoder: weight of the reconstruction")
    p.add_argument("--inversion_steps", type=int, default=100, help="autoencoder: Adam steps per inverted pose")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.steps < 1 or args.batch_size < 2 or args.real_batch_size < 2 or args.learning_rate <= 0:
        raise FlexPoseError("--steps must be >= 1, the batch sizes >= 2 and --learning_rate positive")
    modules = tuple(m.strip() for m in args.modules.split(",") if m.strip())
    allowed = AUTOENCODER_MODULES if args.objective == "autoencoder" else REFIT_MODULES
    if not modules or any(m not in allowed for m in modules) or (args.objective == "autoencoder" and "f" not in modules):
        raise FlexPoseError(f"--modules {args.modules!r}: with --objective {args.objective}, give a comma-separated "
                            f"subset of {', '.join(allowed)}" + (" that includes f" if args.objective == "autoencoder" else ""))
    if args.objective == "autoencoder" and (args.reconstruction_weight < 0 or args.inversion_steps < 0):
        raise FlexPoseError("--objective autoencoder needs --reconstruction_weight and --inversion_steps >= 0")
    run = load_base_run(args)
    generator, skeleton, train_kp, held_kp, joints = run.generator, run.skeleton, run.train, run.held_out, run.joints
    unit = to_unit_poses(train_kp)

    def measure() -> dict:
        generator.eval()
        with torch.no_grad():
            samples = generator.sample(args.eval_samples, seed=1234)["keypoints"]
        return evaluate_poses(samples, skeleton, held_kp, skeleton, joints=joints)

    before = measure()
    logger.info("before: %s", {k: round(before[k], 3) for k in REPORTED})
    start = time.time()
    if args.objective == "autoencoder":
        poses = unit if args.no_flip else np.concatenate([unit, flip_poses(unit, skeleton)])
        try:  # a base without an MLP mapping (a latent bank) is refused before the inversion
            history = refit_mapping_autoencoded(generator, poses, steps=args.steps, learning_rate=args.learning_rate,
                                                batch_size=args.batch_size, real_batch_size=args.real_batch_size,
                                                reconstruction_weight=args.reconstruction_weight,
                                                inversion_steps=args.inversion_steps, seed=args.seed,
                                                modules=modules)
        except ValueError as err:
            raise FlexPoseError(str(err)) from None
        losses = history["pose_mmd"]
        tenth = max(1, args.steps // 10)  # per-step losses are noisy: the means of the first and last tenths
        extra = {"autoencoder_losses_first_last_tenth": {k: [float(np.mean(v[:tenth])), float(np.mean(v[-tenth:]))]
                                                         for k, v in history.items()},
                 "reconstruction_weight": args.reconstruction_weight, "inversion_steps": args.inversion_steps}
    else:
        extra = {}
        sampler = PoseSampler(unit, skeleton, flip=not args.no_flip, seed=args.seed)
        losses = refit_mapping(generator, sampler, steps=args.steps, learning_rate=args.learning_rate,
                               batch_size=args.batch_size, real_batch_size=args.real_batch_size, seed=args.seed,
                               modules=modules)
    seconds = time.time() - start
    after = {**measure(), "step": args.steps, "minutes": seconds / 60}
    logger.info("after %d steps (%.1f min): %s", args.steps, seconds / 60, {k: round(after[k], 3) for k in REPORTED})

    refit = (f"{'+'.join(modules)} as an autoencoder's decoder over the inverted training poses"
             if args.objective == "autoencoder" else
             "mapping network only" if modules == ("f",) else "mapping network and style layers")
    summary = refit_summary(args, run, generator, "refit_mapping.py", refit + " (examples/refit_mapping.py)",
                            before, after, seconds, steps=args.steps, batch_size=args.batch_size,
                            loss_first_last=[losses[0], losses[-1]], **extra)
    write_generator_folder(generator, run.base_dir, args.output_dir, summary, f"step-{args.steps:06d}.png")
    print(json.dumps({"before": {k: round(before[k], 4) for k in REPORTED},
                      "after": {k: round(after[k], 4) for k in REPORTED}}))
    return summary


if __name__ == "__main__":
    try:
        main()
    except FlexPoseError as err:
        sys.exit(f"error: {err}")
