"""Dispersion calibration: tau's starting point, set from how spread out the shots are.

Pose datasets differ in how widely their poses vary (sports poses spread far wider than people in
street scenes), and the mean pairwise distance between target poses (``pose_spread``) is a statistic
ten shots already estimate well: ``factor = (shots' spread / samples' spread) ** pull`` (a small
pull shrinks the noisy 10-shot estimate toward the source; ``factor`` stays within
``FACTOR_RANGE``). The two directions are handled differently, as measured (BENCHMARKS.md):

* wider shots (``factor > 1``, "widen"): each sample's offset from the mean sample pose is scaled
  by ``factor`` in pose space, and tau (on every style layer it wraps) is fitted by seeded
  regression so that ``g_t(z)`` draws the transformed pose of ``g_s(z)``;
* narrower shots (``factor < 1``, "concentrate"): a narrow target is a region of the source's
  poses, not the source shrunk about its own mean pose (that hurt on Market-1501 pedestrians).
  The latents are drawn toward the shots' region, ``w -> c + factor (w - c)`` with ``c`` the mean
  latent of the source samples nearest to the shots; every style layer is affine in ``w``, so
  tau represents this exactly (scale ``factor - 1``, shift ``(1 - factor) A(c)``), no fit needed.

Both are seeded and deterministic, so a resumed run recomputes the same start.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..codec import canvas_to_unit
from ..loading import base_generator
from ..tuners.tau.layer import TauLayer
from .spread import pose_spread, renormalize

logger = logging.getLogger(__name__)

MIN_SHOTS = 5  # fewer shots say too little about the target's spread
FACTOR_RANGE = (0.5, 2.0)
FIT_STEPS = 100  # residual 12.4% of the start against 11.2% after 300 (bundled body generator)
FIT_BATCH = 128
FIT_LATENTS = 4096  # the latents the fit draws its batches from (and the spreads are measured on)
FIT_LR = 1e-2
CENTRE_NEIGHBOURS = 20  # source samples per shot whose latents define the shots' region


@dataclass
class Calibration:
    kind: str  # "widen" (pose-space scale about the mean pose, fitted) or "concentrate" (latents, exact)
    factor: float  # widen: the pose-space scale of offsets from the mean pose; concentrate: the latent one
    source_spread: float
    shots_spread: float
    target_spread: float  # widen: the spread of the transformed samples tau is fitted to
    reached_spread: float
    residual: float  # widen: mean squared distance to the transformed poses after the fit / before it

    def to_dict(self) -> dict[str, float | str]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def scale_about_mean(unit: torch.Tensor, mean: torch.Tensor, factor: float, mask: torch.Tensor) -> torch.Tensor:
    """Poses with their offsets from ``mean`` scaled by ``factor``, re-normalized on ``mask`` joints."""
    return renormalize(mean + factor * (unit - mean), mask)


def calibrate_dispersion(model: nn.Module, unit_shots: np.ndarray, mask: torch.Tensor, z_dim: int,
                         resolution: int, margin: float, pull: float, seed: int = 0,
                         adapter: str = "default", steps: int = FIT_STEPS) -> Calibration | None:
    """Fit ``model``'s tau layers of ``adapter`` (all of them, frozen or not) to the spread transform.

    ``unit_shots`` are the target poses (joints outside ``mask`` ignored). The transform is taken
    about the model's current samples; call it with tau at identity (as ``adapt`` does), since the
    narrow-shots branch sets tau outright. Returns ``None``, tau
    untouched, when the shots tell no spread (fewer than ``MIN_SHOTS``, or one pose repeated).
    """
    if len(unit_shots) < MIN_SHOTS or pull <= 0:
        if pull > 0:
            logger.info("dispersion calibration needs %d shots, got %d: skipped", MIN_SHOTS, len(unit_shots))
        return None
    params = model.tau_parameters(adapter, trained_only=False)  # a PeftModel / TauModel with tau layers
    if not params:
        raise ValueError(f"the model has no tau layers for adapter {adapter!r}")
    device = params[0].device
    mask = mask.to(device)
    gen = torch.Generator().manual_seed(seed + 104729)
    bank = torch.randn(FIT_LATENTS, z_dim, generator=gen).to(device)

    def poses(z: torch.Tensor) -> torch.Tensor:
        return renormalize(canvas_to_unit(model(z, output="keypoints"), resolution, margin), mask)

    @torch.no_grad()
    def bank_poses() -> torch.Tensor:
        return torch.cat([poses(chunk) for chunk in bank.split(512)])

    source = bank_poses()
    source_spread = float(pose_spread(source, mask))
    shots_spread = float(pose_spread(torch.from_numpy(np.nan_to_num(unit_shots).astype(np.float32)), mask.cpu()))
    if shots_spread < 1e-3 * source_spread:
        logger.warning("the shots are (nearly) one pose repeated: no spread to calibrate toward; skipped")
        return None
    factor = float(np.clip((shots_spread / source_spread) ** pull, *FACTOR_RANGE))
    if factor < 1:
        shots = renormalize(torch.from_numpy(np.nan_to_num(unit_shots).astype(np.float32)).to(device), mask)
        centre = shots_latent_centre(model, bank, source, shots, mask)
        concentrate_toward(model, adapter, centre, factor)
        reached = float(pose_spread(bank_poses(), mask))
        calibration = Calibration("concentrate", factor, source_spread, shots_spread, reached, reached, 0.0)
        logger.info("dispersion calibration: %s", calibration.to_dict())
        return calibration
    target = scale_about_mean(source, source.mean(0), factor, mask)

    def fit_error(z_index: torch.Tensor) -> torch.Tensor:
        return ((poses(bank[z_index]) - target[z_index]) ** 2).sum(-1).mean()

    probe = torch.arange(min(512, FIT_LATENTS), device=device)
    with torch.no_grad():
        before = float(fit_error(probe))
    flags = [p.requires_grad for p in params]
    for p in params:  # the calibration sets every wrapped layer, also those the adversarial phase keeps frozen
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=FIT_LR)
    try:
        for _ in range(steps):
            index = torch.randint(FIT_LATENTS, (FIT_BATCH,), generator=gen).to(device)
            loss = fit_error(index)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)
            p.grad = None
    with torch.no_grad():
        after = float(fit_error(probe))
        reached = float(pose_spread(bank_poses(), mask))
    calibration = Calibration("widen", factor, source_spread, shots_spread, float(pose_spread(target, mask)), reached,
                              after / max(before, 1e-12))
    logger.info("dispersion calibration: %s", calibration.to_dict())
    return calibration


@torch.no_grad()
def shots_latent_centre(model: nn.Module, bank: torch.Tensor, source: torch.Tensor, shots: torch.Tensor,
                        mask: torch.Tensor) -> torch.Tensor:
    """Mean ``w`` of the ``CENTRE_NEIGHBOURS`` source samples (latents ``bank``, poses ``source``)
    nearest to each shot: where in latent space the shots' poses lie."""
    distance = torch.cdist(shots[:, mask].flatten(1), source[:, mask].flatten(1))
    nearest = distance.topk(min(CENTRE_NEIGHBOURS, len(source)), dim=1, largest=False).indices.flatten()
    return base_generator(model).mapping(bank[nearest]).mean(0)


@torch.no_grad()
def concentrate_toward(model: nn.Module, adapter: str, centre: torch.Tensor, factor: float) -> None:
    """Set every tau layer of ``adapter`` so that styles are those of ``centre + factor (w - centre)``."""
    for module in model.modules():
        if isinstance(module, TauLayer) and adapter in module.tau_scale:
            styled_centre = module.get_base_layer()(centre[None].to(module.tau_shift[adapter]))[0]
            module.tau_scale[adapter].fill_(factor - 1)
            module.tau_shift[adapter].copy_((1 - factor) * styled_centre)
