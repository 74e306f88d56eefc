"""Strength chosen by held-out shots: with enough shots, let some of them say how far to move.

A fixed prior weight (``strength.py``) serves targets near the source well and far ones poorly: where
the source draws nothing like the target, a weaker prior and longer training ended about 0.05-0.06
lower in nn1, and dropping the prior so cost 0.03-0.11 on targets near the source (BENCHMARKS.md, "Far,
narrow targets"). Which case a target is cannot be read off the source alone, but with
``MIN_DISTINCT_SHOTS`` or more distinct shots it can be measured: hold out a fifth of them, train each
candidate strength on the rest, and score each by how well the protocol's two-sample test (nn1) tells
its samples from the held-out shots and their mirror images. The challenger (a third of the prior,
three times the steps) replaces the prior only where it scores lower by more than one standard error
of the difference (jackknifed over the held-out shots: the one-standard-error rule of
cross-validation, which keeps the more regular model unless the evidence is clear). The challenger
keeps some prior so that a wrong choice, which ten held-out shots cannot always avoid, costs little
where the source already draws the target. The chosen strength is then trained on every shot. With
fewer shots the held-out part is too small to judge by, and the fixed weight is used (the documented
fallback).

The score is the nn1 test on purpose: distances from the held-out shots to their nearest samples, and
kernel MMDs whose kernels are wider than the shots' spacing, reward a generator that piles its samples
near the shots, which a weakly held candidate does on targets near the source (BENCHMARKS.md, "Held-out
shots choosing the strength"); in the nn1 test such samples are told apart by their neighbours.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..errors import FlexPoseError
from ..metrics import leave_one_out_nn1
from ..poses import pose_vectors
from .pool import shot_pool
from .strength import DEFAULT_PRIOR_SHOTS, count_distinct, distinct_pose_ids

MIN_DISTINCT_SHOTS = 50  # distinct shots needed before a fifth of them (10) can judge the candidates
HELD_OUT_SHARE = 0.2
CHALLENGER_PRIOR_SHOTS = 10.0  # the challenger's prior weight: a third of the default (strength.DEFAULT_PRIOR_SHOTS)
CHALLENGER_STEPS_FACTOR = 3  # the challenger trains this many times longer (it has further to go)
SCORE_SAMPLES = 2048
SCORE_ROUNDS = 200  # draws of generated poses the nn1 on the held-out shots is averaged over


@dataclass
class Candidate:
    """One strength to try: the prior's weight in shots and the training steps."""

    prior_shots: float
    steps: int
    score: float | None = None  # nn1 against the held-out shots (lower is closer; 0.5 = indistinguishable)


@dataclass
class Selection:
    """What the held-out shots chose, for ``metrics.json`` and the card."""

    candidates: list[Candidate]  # the prior first, then the challenger
    chosen: int  # index into candidates
    held_out_shots: int
    trained_on: int
    difference: float  # challenger's score minus the prior's (negative: the challenger is closer)
    standard_error: float  # of that difference, jackknifed over the held-out shots
    reused: bool = False  # read back from a checkpoint folder rather than chosen in this run

    @property
    def best(self) -> Candidate:
        return self.candidates[self.chosen]

    def to_dict(self) -> dict:
        return {"candidates": [asdict(c) for c in self.candidates], "chosen": self.chosen,
                "held_out_shots": self.held_out_shots, "trained_on": self.trained_on,
                "difference": self.difference, "standard_error": self.standard_error}

    @classmethod
    def from_dict(cls, record: dict, reused: bool = False) -> Selection:
        return cls([Candidate(**c) for c in record["candidates"]], record["chosen"], record["held_out_shots"],
                   record["trained_on"], record["difference"], record["standard_error"], reused)


def candidates(steps: int) -> list[Candidate]:
    """The strengths compared: the default prior weight, and the challenger's with ``CHALLENGER_STEPS_FACTOR`` x the steps."""
    return [Candidate(DEFAULT_PRIOR_SHOTS, steps), Candidate(CHALLENGER_PRIOR_SHOTS, CHALLENGER_STEPS_FACTOR * steps)]


def can_select(unit_shots: np.ndarray, mask: np.ndarray) -> bool:
    return count_distinct(unit_shots, mask) >= MIN_DISTINCT_SHOTS


def split_held_out(unit_shots: np.ndarray, mask: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training shots, held-out shots): a seeded fifth of the distinct poses held out, repeats kept together."""
    pose_id = distinct_pose_ids(unit_shots, mask)
    distinct = int(pose_id.max()) + 1
    if distinct < MIN_DISTINCT_SHOTS:
        raise FlexPoseError(f"choosing the strength needs {MIN_DISTINCT_SHOTS} distinct shots, got {distinct}")
    rng = np.random.default_rng([seed, 31])
    held = rng.permutation(distinct)[: max(1, round(HELD_OUT_SHARE * distinct))]
    is_held = np.isin(pose_id, held)
    return unit_shots[~is_held], unit_shots[is_held]


class HeldOutScore:
    """The protocol's two-sample test on the held-out shots: the leave-one-out 1-nearest-neighbour accuracy
    (nn1; 0.5 = indistinguishable) between the held-out shot pool (shots and mirror images) and as many of
    a model's decoded poses, averaged over ``SCORE_ROUNDS`` seeded draws of those poses. Lower is closer.
    Scored on every held-out shot and, for the jackknife, with each one (and its mirror image) left out;
    every model sees the same draws, so differences between models are paired."""

    def __init__(self, z: torch.Tensor, held_shots: np.ndarray, skeleton: str, mask: np.ndarray, flip: bool,
                 origin: list[int], decode, seed: int) -> None:
        self.z, self.decode, self.seed = z, decode, seed
        self.mask, self.origin = torch.from_numpy(mask), origin
        everyone = np.arange(len(held_shots))
        self.pools = [self.vectors(shot_pool(held_shots[np.delete(everyone, i) if i >= 0 else everyone], skeleton,
                                             mask, flip))
                      for i in range(-1, len(held_shots))]

    def vectors(self, unit: np.ndarray | torch.Tensor) -> np.ndarray:
        unit = torch.as_tensor(unit, dtype=torch.float32)
        return pose_vectors(unit, self.mask, self.origin).double().numpy()

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module) -> np.ndarray:
        """Scores with every held-out shot, then with each left out in turn (1 + held-out shots values)."""
        x = self.vectors(self.decode(model, self.z))
        return np.array([two_sample_nn1(x, pool, SCORE_ROUNDS, np.random.default_rng([self.seed, 53, i]))
                         for i, pool in enumerate(self.pools)])


def two_sample_nn1(x: np.ndarray, y: np.ndarray, rounds: int, rng: np.random.Generator) -> float:
    """Mean one-round nn1 (``metrics.leave_one_out_nn1``) between ``rounds`` random subsets of ``x`` of
    ``y``'s size and ``y``."""
    return float(np.mean([leave_one_out_nn1(x[rng.choice(len(x), len(y), replace=False)], y)
                          for _ in range(rounds)]))


def one_standard_error_choice(prior: np.ndarray, challenger: np.ndarray) -> tuple[int, float, float]:
    """(chosen index, difference, its jackknife standard error) from both candidates' ``HeldOutScore`` values:
    the challenger (1) only where it is closer by more than one standard error, else the prior (0)."""
    diff = challenger - prior
    leave_one_out = diff[1:]
    k = len(leave_one_out)
    se = float(np.sqrt((k - 1) / k * ((leave_one_out - leave_one_out.mean()) ** 2).sum())) if k > 1 else 0.0
    return int(diff[0] < -se), float(diff[0]), se
