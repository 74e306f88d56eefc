"""Replace a trained generator's MLP mapping by a latent bank: its training poses inverted to w, drawn
through a Gaussian kernel whose bandwidth is chosen on held-out poses.

The rule for the bandwidth uses only the generator's held-out split: the widest kernel (most variety,
highest recall) whose samples are no less precise and no easier to tell from the held-out poses (nn1)
than the MLP mapping's samples. Phi, the style layers A (what tau and LoRA adapt) and the critic stay.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import replace

import numpy as np
import torch

from ..metrics import evaluate_poses
from ..models.generator import FlexPoseGenerator
from .inversion import invert_poses

logger = logging.getLogger(__name__)

DEFAULT_BANDWIDTHS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
COMPARED = ("nn1", "precision", "recall", "coverage")


def bank_generator(generator: FlexPoseGenerator, codes: torch.Tensor, bandwidth: float) -> FlexPoseGenerator:
    """A copy of ``generator`` (an MLP mapping) whose f draws from the w ``codes`` with the given kernel
    bandwidth."""
    if generator.config.mapping != "mlp":
        raise ValueError(f"bank_generator: the base needs an MLP mapping, it has a {generator.config.mapping!r} one")
    config = replace(generator.config, mapping="bank", bank_size=len(codes))
    banked = FlexPoseGenerator(config)
    own = {k: v for k, v in generator.state_dict().items() if not k.startswith("f.")}
    banked.load_state_dict(own, strict=False)  # all but f, which is the bank
    banked.f.set_bank(codes.to(banked.f.codes.dtype), bandwidth)
    with torch.no_grad():
        banked.w_avg.copy_(codes.mean(0))
    banked.name_or_path = generator.name_or_path
    return banked.eval()


def _measure(generator: FlexPoseGenerator, held_out: np.ndarray, joints: str, samples: int,
             seeds: tuple[int, ...]) -> dict[str, float]:
    skeleton = generator.config.skeleton
    rows = [evaluate_poses(generator.sample(samples, seed=s)["keypoints"], skeleton, held_out, skeleton, joints=joints)
            for s in seeds]
    return {k: float(np.mean([r[k] for r in rows])) for k in COMPARED}


def choose_bandwidth(generator: FlexPoseGenerator, codes: torch.Tensor, held_out: np.ndarray, joints: str,
                     bandwidths: tuple[float, ...] = DEFAULT_BANDWIDTHS, samples: int = 2000,
                     seeds: tuple[int, ...] = (0, 1, 2)) -> tuple[float, dict]:
    """The bandwidth with the highest held-out recall among those whose nn1 is no higher and precision no
    lower than the MLP mapping's (``generator`` as given); returns it and every measured row."""
    reference = _measure(generator, held_out, joints, samples, seeds)
    rows = {}
    for h in sorted(bandwidths):
        rows[h] = _measure(bank_generator(generator, codes, h), held_out, joints, samples, seeds)
        logger.info("bandwidth %.2f: %s", h, {k: round(v, 3) for k, v in rows[h].items()})
    admissible = [h for h, r in rows.items()
                  if r["nn1"] <= reference["nn1"] and r["precision"] >= reference["precision"]]
    if not admissible:
        raise ValueError("no bandwidth keeps the held-out nn1 and precision of the MLP mapping "
                         f"(MLP {reference}; bank {rows}); keep the MLP mapping")
    best = max(admissible, key=lambda h: (rows[h]["recall"], h))
    return best, {"mlp_mapping": reference, "bandwidths": {str(h): r for h, r in rows.items()}}


def fit_latent_bank(generator: FlexPoseGenerator, train_unit: np.ndarray, held_out: np.ndarray, joints: str,
                    steps: int = 100, learning_rate: float = 0.1, bandwidths: tuple[float, ...] = DEFAULT_BANDWIDTHS,
                    samples: int = 2000, seed: int = 0) -> tuple[FlexPoseGenerator, dict]:
    """Invert ``train_unit`` (the training poses, flips included, as unit poses), choose the bandwidth on
    ``held_out`` (raw keypoints) and return the banked generator with a report for its summary."""
    if generator.config.mapping != "mlp":  # refused before the inversion's minutes, not after
        raise ValueError(f"the base needs an MLP mapping to replace by a bank; it has a {generator.config.mapping!r} one")
    source = copy.deepcopy(generator).eval()
    codes, errors = invert_poses(source, train_unit, steps=steps, learning_rate=learning_rate, seed=seed)
    bandwidth, measured = choose_bandwidth(source, codes, held_out, joints, bandwidths, samples)
    report = {"bank_size": len(codes), "bandwidth": bandwidth, "inversion_steps": steps,
              "inversion_error_mean": float(errors.mean()), "inversion_error_median": float(errors.median()),
              **measured}
    return bank_generator(source, codes, bandwidth), report
