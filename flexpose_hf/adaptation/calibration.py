"""Dispersion calibration: tau's closed-form starting point, set from how spread out the shots are.

Pose datasets differ in how widely their poses vary (sports poses spread far wider than people in
street scenes), and the mean pairwise distance between target poses is a statistic ten shots
already estimate well. Truncating (or extrapolating) the latent toward the mean,
``w' = w_avg + psi (w - w_avg)``, widens or narrows the generated poses, and because each style
affine ``A_l`` is linear it is exactly a tau: ``A_l(w') = psi A_l(w) + (1 - psi) A_l(w_avg)``, i.e.
``scale = psi - 1`` and ``shift = (1 - psi) A_l(w_avg)`` on every style layer. ``psi`` is chosen by
bisection so that the generated spread moves ``pull`` of the way (log scale) from the source's to the
shots'; a small pull shrinks the noisy 10-shot estimate toward the source (BENCHMARKS.md measures it).
``psi`` stays within ``PSI_RANGE``: a target spread beyond it is approached, not reached.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..codec import canvas_to_unit
from ..tuners.tau.layer import TauLayer
from .spread import pose_spread

logger = logging.getLogger(__name__)

MIN_SHOTS = 5  # fewer shots say too little about the target's spread
PSI_RANGE = (0.5, 2.0)


@dataclass
class Calibration:
    psi: float
    source_spread: float
    shots_spread: float
    target_spread: float
    reached_spread: float

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in asdict(self).items()}


def _tau_layers(model: nn.Module, adapter: str) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, TauLayer) and adapter in m.tau_scale]


@torch.no_grad()
def set_truncation(model: nn.Module, w_avg: torch.Tensor, psi: float, adapter: str = "default") -> None:
    """Set every tau layer of ``adapter`` to the style-space image of latent truncation ``psi``."""
    for module in _tau_layers(model, adapter):
        mean_style = module.get_base_layer()(w_avg[None].to(module.tau_shift[adapter]))[0]
        module.tau_scale[adapter].fill_(psi - 1.0)
        module.tau_shift[adapter].copy_((1.0 - psi) * mean_style)


@torch.no_grad()
def calibrate_dispersion(model: nn.Module, w_avg: torch.Tensor, unit_shots: np.ndarray, mask: torch.Tensor,
                         z: torch.Tensor, resolution: int, margin: float, pull: float,
                         adapter: str = "default", iterations: int = 12) -> Calibration | None:
    """Set ``model``'s tau layers (they should cover every style layer) to the calibrated truncation.

    ``unit_shots`` are the target poses (joints outside ``mask`` ignored), ``z`` the latents whose
    samples measure the generated spread. Returns ``None`` when the shots tell no spread (fewer than
    ``MIN_SHOTS``, or one pose repeated); tau is then left at (or reset to) the identity.
    """
    if len(unit_shots) < MIN_SHOTS or pull <= 0:
        if pull > 0:
            logger.info("dispersion calibration needs %d shots, got %d: skipped", MIN_SHOTS, len(unit_shots))
        return None

    def spread_at(psi: float) -> float:
        set_truncation(model, w_avg, psi, adapter)
        keypoints = model(z, output="keypoints")
        return float(pose_spread(canvas_to_unit(keypoints, resolution, margin), mask))

    source = spread_at(1.0)
    shots = float(pose_spread(torch.from_numpy(np.nan_to_num(unit_shots).astype(np.float32)), mask.cpu()))
    if shots < 1e-3 * source:
        logger.warning("the shots are (nearly) one pose repeated: no spread to calibrate toward; skipped")
        set_truncation(model, w_avg, 1.0, adapter)
        return None
    target = source * (shots / source) ** pull
    lo, hi = (1.0, PSI_RANGE[1]) if target > source else (PSI_RANGE[0], 1.0)
    for _ in range(iterations):  # spread grows with psi (measured); bisection on the crossing
        mid = (lo + hi) / 2
        if spread_at(mid) < target:
            lo = mid
        else:
            hi = mid
    psi = (lo + hi) / 2
    calibration = Calibration(psi, source, shots, target, spread_at(psi))
    logger.info("dispersion calibration: %s", calibration.to_dict())
    return calibration
