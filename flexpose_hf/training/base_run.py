"""What every re-fit of a trained generator starts from: the base, its training poses and the held-out
split it was trained with, parsed from the same command-line options (``examples/refit_mapping.py``,
``examples/fit_latent_bank.py``)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FlexPoseError
from ..hub import generator_dir
from ..io import load_poses, pose_arrays, skeleton_of
from ..models.generator import FlexPoseGenerator
from .data import split_source


def add_base_arguments(parser: argparse.ArgumentParser) -> None:
    """``--base --data --format --output_dir --held_out --eval_samples --eval_joints --seed``."""
    parser.add_argument("--base", required=True, help="trained generator: bundled name, folder or Hub id")
    parser.add_argument("--data", required=True, help="the poses it was trained on (any format load_poses reads)")
    parser.add_argument("--format", default=None)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--held_out", type=int, default=None,
                        help="poses kept out (default: the base's training_summary.json held_out_poses)")
    parser.add_argument("--eval_samples", type=int, default=2000)
    parser.add_argument("--eval_joints", default="protocol",
                        help="'protocol' (default: limbs on bodies, every joint on faces), 'limbs' or 'shared'")
    parser.add_argument("--seed", type=int, default=0, help="the split's seed (train_source's --seed)")


@dataclass
class BaseRun:
    generator: FlexPoseGenerator
    base_dir: Path
    skeleton: str
    train: np.ndarray  # training poses, raw keypoints
    held_out: np.ndarray  # the split's held-out poses, raw keypoints
    joints: str  # what the metrics compare


def load_base_run(args: argparse.Namespace) -> BaseRun:
    """Load ``--base`` and split ``--data`` as its training did; data of another skeleton is refused."""
    generator = FlexPoseGenerator.from_pretrained(args.base)
    dataset = load_poses(args.data, format=args.format)
    skeleton = skeleton_of(dataset)
    if skeleton != generator.config.skeleton:
        raise FlexPoseError(f"--data {args.data} has skeleton {skeleton!r}; {args.base} generates "
                            f"{generator.config.skeleton!r}")
    base_dir = Path(generator_dir(args.base))
    held_out = args.held_out
    if held_out is None:  # the size the base's training kept out, from its summary
        summary_path = base_dir / "training_summary.json"
        if not summary_path.is_file():
            raise FlexPoseError(f"{args.base} has no training_summary.json to read its held-out split from; "
                                "pass --held_out")
        held_out = int(json.loads(summary_path.read_text())["held_out_poses"])
    train, held = split_source(pose_arrays(dataset)[0], held_out, args.seed)
    return BaseRun(generator, base_dir, skeleton, train, held, args.eval_joints)


def refit_summary(args: argparse.Namespace, run: BaseRun, generator: FlexPoseGenerator, script: str, refit: str,
                  before: dict, after: dict, seconds: float, steps: int, batch_size: int,
                  training_poses: int | None = None, **extra: object) -> dict:
    """The ``training_summary.json`` of a re-fit (``examples/<script>``): data, split, what changed and
    how (``refit``), metrics before and after on the held-out split, wall time and the command."""
    numbers = lambda metrics: {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    return {
        "data": str(args.data), "skeleton": run.skeleton,
        "training_poses": len(run.train) if training_poses is None else training_poses,
        "held_out_poses": len(run.held_out), "flip_augmentation": not args.no_flip, "steps": steps,
        "batch_size": batch_size, "init_from": args.base, "refit": refit, **extra,
        "wall_minutes_this_run": round(seconds / 60, 2),
        "parameters": sum(p.numel() for p in generator.parameters()),
        "metrics_before_refit": numbers(before), "final_metrics": numbers(after), "history": [after],
        "command": f"python examples/{script} " + " ".join(
            f"--{k} {v}" for k, v in vars(args).items() if v not in (None, False)),
    }
