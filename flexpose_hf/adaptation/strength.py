"""How far to move toward the shots: a prior-versus-evidence weighting that grows with the shots.

The adapted generator is trained toward the posterior predictive of a Dirichlet process whose base
measure is the source generator: ``(alpha * p_source + sum_i delta_shot_i) / (alpha + K)``, with the
shots' atoms smoothed by their mirror images (and pose-mixup pairs, when asked for). ``alpha`` (``prior_shots``) says how many
shots' worth of evidence the source prior is worth; the target pool's weight ``K / (K + alpha)``
grows with every distinct shot and reaches 1 only in the limit. Duplicated shots count once.

The prior's share ``alpha / (K + alpha)`` also weighs the regularizers that speak for the source
(Linear & Sparse's L1 pull of tau toward the identity), so they yield to the evidence at the same rate.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_PRIOR_SHOTS = 30.0


@dataclass
class Strength:
    shots: int  # poses given
    distinct_shots: int  # after removing repeats (equal on the judged joints)
    prior_shots: float  # alpha: the source prior's weight in shots
    target_weight: float  # K / (K + alpha): share of the training targets drawn from the shot pool

    @property
    def prior_share(self) -> float:
        """alpha / (K + alpha): the source prior's share, which also scales the regularizers toward it."""
        return 1.0 - self.target_weight

    def to_dict(self) -> dict:
        return {**asdict(self), "prior_share": self.prior_share}


def distinct_pose_ids(unit_shots: np.ndarray, mask: np.ndarray, tolerance: float = 1e-4) -> np.ndarray:
    """Per shot, the index of its distinct pose on the ``mask`` joints (coordinates equal within ``tolerance``)."""
    flat = np.round(np.nan_to_num(unit_shots[:, mask]).reshape(len(unit_shots), -1) / tolerance)
    return np.unique(flat, axis=0, return_inverse=True)[1].reshape(-1)


def count_distinct(unit_shots: np.ndarray, mask: np.ndarray) -> int:
    """Number of distinct poses on the ``mask`` joints."""
    return int(distinct_pose_ids(unit_shots, mask).max()) + 1 if len(unit_shots) else 0


def choose_strength(unit_shots: np.ndarray, mask: np.ndarray, prior_shots: float = DEFAULT_PRIOR_SHOTS) -> Strength:
    """The target pool's weight for these shots (see the module docstring)."""
    distinct = count_distinct(unit_shots, mask)
    if distinct < len(unit_shots):
        logger.warning("%d of the %d shots repeat another shot; each distinct pose counts once (%d)",
                       len(unit_shots) - distinct, len(unit_shots), distinct)
    weight = distinct / (distinct + prior_shots) if distinct + prior_shots > 0 else 1.0
    return Strength(len(unit_shots), distinct, float(prior_shots), float(weight))
