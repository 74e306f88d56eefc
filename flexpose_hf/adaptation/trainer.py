"""The adaptation loop shared by every method, ``flexpose adapt`` and ``examples/adapt.py``.

The source discriminator is fine-tuned to tell the target poses (the shots, their mirror images
and, with pose-mixup, mixtures of pairs of them) from generated ones, judging only the joints the
target has; the generator side trains only what the method exposes, plus the method's regularizer
(tau's Linear & Sparse penalty). A divergence guard (on by default for tau) stops training and
keeps the last good state when the spread of generated poses drifts away from the source's.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from ..codec import canvas_to_unit
from ..errors import FlexPoseError
from ..models import FlexPoseGenerator, PoseDiscriminator
from ..training.adversarial import discriminator_loss, generator_adversarial_loss
from ..training.checkpointing import TrainState, make_accelerator, resolve_resume, save_checkpoint
from ..training.data import flip_poses
from .calibration import calibrate_dispersion
from .methods import AdaptedModel, MethodOptions, prepare_method
from .mixup import mix_poses
from .spread import pose_spread, renormalize

logger = logging.getLogger(__name__)

MIN_SHARED_JOINTS = 6


@dataclass
class AdaptConfig:
    """Hyper-parameters of one adaptation run (defaults: 10 shots in well under a minute on 2 CPU cores)."""

    method: str = "tau"
    steps: int = 300
    batch_size: int = 32
    lr_generator: float | None = None  # default per method (see DEFAULT_LR)
    lr_discriminator: float = 1e-3
    pose_mixup: bool = True
    mixup_share: float = 0.5  # share of each real batch made of mixed poses
    flip: bool = True
    image_d_every: int = 2
    adv_weight: float = 1.0
    mmd_weight: float = 0.0  # kernel MMD between generated and target (shots + mixup) coordinates
    r1_gamma: float = 1.0
    r1_every: int = 8
    seed: int = 0
    checkpointing_steps: int = 100
    # Divergence guard: every ``guard_every`` steps a fixed batch of samples is compared with the one
    # training started from, for t = ``spread_tolerance`` (default per method, DEFAULT_SPREAD_TOLERANCE;
    # 0 disables it). When their spread leaves [1 / (1 + t), 1 + t] times the start's, the mean distance
    # from each shot to its nearest sample grows beyond (1 + t) times the start's, or their mean pose
    # moves by more than t times the start's spread (ten shots cannot place the target's mean pose:
    # BENCHMARKS.md), the last passing state is restored and training stops. It sees only generated
    # poses and the shots, never held-out data.
    spread_tolerance: float | None = None
    guard_every: int = 25
    options: MethodOptions = field(default_factory=MethodOptions)

    def check(self) -> None:
        """Refuse settings that cannot run (called before any output is touched)."""
        if self.steps < 1:
            raise FlexPoseError(f"steps must be >= 1, got {self.steps}")
        if self.batch_size < 1:
            raise FlexPoseError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.seed < 0:
            raise FlexPoseError(f"seed must be >= 0, got {self.seed}")
        if self.checkpointing_steps < 1:
            raise FlexPoseError(f"checkpointing_steps must be >= 1, got {self.checkpointing_steps}")

    def learning_rate(self) -> float:
        return self.lr_generator if self.lr_generator is not None else DEFAULT_LR.get(self.method, 2e-3)

    def tolerance(self) -> float:
        if self.spread_tolerance is not None:
            return self.spread_tolerance
        return DEFAULT_SPREAD_TOLERANCE.get(self.method, 0.0)


# tau is meant to stay near identity: measured, its sample spread stays within 1% of the source's over
# a normal run, while a diverging run drifted past 2% well before its poses broke (BENCHMARKS.md).
DEFAULT_SPREAD_TOLERANCE = {"tau": 0.02}
# tau: 1e-2 after its dispersion calibration measured better than 5e-2 and 3e-3 (BENCHMARKS.md).
DEFAULT_LR = {"tau": 1e-2, "adaptor": 1e-2, "lora": 2e-3, "lora_all": 2e-3, "finetune": 2e-4, "freezed": 2e-4}


@dataclass
class AdaptResult:
    adapted: AdaptedModel
    joint_mask: np.ndarray
    steps: int  # steps whose updates the result keeps (fewer than asked when the guard stopped it)
    seconds: float
    history: list[dict]
    calibration: dict | None = None  # tau's dispersion calibration (factor, spreads, fit residual), when it ran


def target_joint_mask(unit_shots: np.ndarray, skeleton_joints: tuple[str, ...]) -> np.ndarray:
    """Joints present in every shot; too few shared joints is an error."""
    mask = ~np.isnan(unit_shots).any(-1).any(0)
    if mask.sum() < MIN_SHARED_JOINTS:
        raise FlexPoseError(
            f"the target poses share only {int(mask.sum())} joints with the base skeleton "
            f"({', '.join(j for j, m in zip(skeleton_joints, mask) if m) or 'none'}); need {MIN_SHARED_JOINTS}"
        )
    return mask


def adapt(
    base: FlexPoseGenerator,
    discriminator: PoseDiscriminator,
    unit_shots: np.ndarray,
    config: AdaptConfig,
    checkpoint_dir: str | Path | None = None,
    resume_from_checkpoint: str | None = None,
    accelerator: Accelerator | None = None,
    progress: bool = True,
) -> AdaptResult:
    """Adapt ``base`` to the target poses ``unit_shots`` (K x J x 2 unit coordinates on the base
    skeleton; NaN where the target lacks a joint) with ``config.method``."""
    config.check()
    if len(unit_shots) < 1:
        raise FlexPoseError("no usable target pose (need at least one with the shared joints)")
    accelerator = accelerator or make_accelerator()
    torch.manual_seed(config.seed)
    skeleton = base.codec.skeleton
    mask_np = target_joint_mask(unit_shots, skeleton.joints)
    shots_full = renormalize_np(unit_shots, mask_np)
    shots_full[:, ~mask_np] = 0.0
    pool = np.concatenate([shots_full, flip_poses(shots_full, skeleton.name)]) if config.flip else shots_full
    if config.flip and not (mask_np == mask_np[skeleton.flip_permutation()]).all():
        pool = shots_full  # a one-sided joint set does not mirror onto itself

    adapted = prepare_method(config.method, base, discriminator, config.options)
    frozen = {id(p) for p in adapted.frozen_discriminator}
    d_params = [p for p in discriminator.parameters() if id(p) not in frozen]
    for p in adapted.frozen_discriminator:
        p.requires_grad_(False)
    opt_g = torch.optim.Adam(adapted.trainable, lr=config.learning_rate(), betas=(0.5, 0.99))
    opt_d = torch.optim.Adam(d_params, lr=config.lr_discriminator, betas=(0.5, 0.99))
    guard_z = torch.randn(256, base.config.z_dim, generator=torch.Generator().manual_seed(config.seed + 7919))
    mask = torch.from_numpy(mask_np)
    calibration: dict | None = None
    if config.method == "tau" and config.options.spread_pull > 0:
        # Deterministic, so a resumed run recomputes the same starting point before loading its state.
        fitted = calibrate_dispersion(adapted.model, shots_full, mask, base.config.z_dim, base.config.resolution,
                                      base.config.margin, config.options.spread_pull, seed=config.seed)
        calibration = fitted.to_dict() if fitted else None
        adapted.model.set_tau_anchor()
    if config.adv_weight == 0 and config.mmd_weight == 0:
        # Only the regularizers would act, and they are at their minimum (identity or the calibrated
        # anchor): the loop could not move the generator, so it is skipped.
        logger.info("adv_weight and mmd_weight are 0: no training steps (the calibration alone)")
        return AdaptResult(adapted, mask_np, 0, 0.0, [], calibration)
    # The guard's reference: the samples every method starts from (the source's, or tau's calibrated ones).
    guard_shots = torch.from_numpy(shots_full.astype(np.float32))
    start_spread, start_distance, start_mean = guard_statistics(adapted.model, guard_z, guard_shots, mask,
                                                                base.config.resolution, base.config.margin)
    model, disc, opt_g, opt_d = accelerator.prepare(adapted.model, discriminator, opt_g, opt_d)
    state = TrainState()
    accelerator.register_for_checkpointing(state)
    if checkpoint_dir is not None:
        resume = resolve_resume(checkpoint_dir, resume_from_checkpoint)
        if resume is not None:
            accelerator.load_state(str(resume))
            logger.info("resumed from %s at step %d", resume, state.step)

    device = accelerator.device
    mask, guard_z, guard_shots, start_mean = (t.to(device) for t in (mask, guard_z, guard_shots, start_mean))
    res, margin, z_dim = base.config.resolution, base.config.margin, base.config.z_dim
    codec = base.codec
    batch = config.batch_size
    n_mix = round(batch * config.mixup_share) if config.pose_mixup and len(unit_shots) > 1 else 0
    history: list[dict] = []
    tolerance = config.tolerance()
    if tolerance > 0 and state.snapshot is None:  # a resumed run keeps the snapshot its checkpoint saved
        state.snapshot = [p.detach().clone() for p in adapted.trainable]
    trained_steps = config.steps
    start = time.time()
    bar = tqdm(range(state.step, config.steps), initial=state.step, total=config.steps,
               disable=not (progress and accelerator.is_local_main_process), desc=f"adapt ({config.method})")
    for _ in bar:
        step = state.step
        # Per-step seeded draws so a resumed run continues exactly as an uninterrupted one.
        step_rng = np.random.default_rng([config.seed, accelerator.process_index, step])
        gen = torch.Generator().manual_seed(int(step_rng.integers(2**31)))
        real_np = pool[step_rng.integers(len(pool), size=batch - n_mix)]
        if n_mix:
            real_np = np.concatenate([real_np, mix_target_poses(pool, mask_np, skeleton.name, n_mix, step_rng)])
        real = torch.from_numpy(real_np.astype(np.float32)).to(device)
        use_images = config.image_d_every > 0 and step % config.image_d_every == 0
        do_r1 = config.r1_every > 0 and step % config.r1_every == 0

        with torch.no_grad():
            fake_kp = model(torch.randn(batch, z_dim, generator=gen).to(device), output="keypoints")
        fake_unit = renormalize(canvas_to_unit(fake_kp, res, margin), mask)
        r1_weight = 0.5 * config.r1_gamma * config.r1_every if do_r1 else 0.0
        loss_d = discriminator_loss(disc, codec, real, fake_unit, margin, use_images, r1_weight, mask)
        opt_d.zero_grad(set_to_none=True)
        accelerator.backward(loss_d)
        opt_d.step()

        z = torch.randn(batch, z_dim, generator=gen).to(device)
        fake_unit = renormalize(canvas_to_unit(model(z, output="keypoints"), res, margin), mask)
        adv = generator_adversarial_loss(disc, codec, fake_unit, margin, use_images, mask)
        reg = adapted.regularization()
        loss_g = config.adv_weight * adv + reg.to(adv.device)
        if config.mmd_weight > 0:
            loss_g = loss_g + config.mmd_weight * kernel_mmd(fake_unit[:, mask].flatten(1), real[:, mask].flatten(1))
        opt_g.zero_grad(set_to_none=True)
        accelerator.backward(loss_g)
        opt_g.step()
        state.step = step + 1
        history.append({"step": state.step, "loss_d": loss_d.item(), "adv": adv.item(), "reg": float(reg.detach())})
        bar.set_postfix(d=f"{loss_d.item():.3f}", g=f"{adv.item():.3f}")
        if config.guard_every > 0 and state.step % config.guard_every == 0:
            spread, distance, mean = guard_statistics(model, guard_z, guard_shots, mask, res, margin)
            ratio, drift = spread / start_spread, distance / start_distance
            moved = float((mean - start_mean).norm()) / start_spread
            history[-1].update(spread_ratio=ratio, shot_distance_ratio=drift, mean_pose_moved=moved)
            passing = 1 / (1 + tolerance) <= ratio <= 1 + tolerance and drift <= 1 + tolerance and moved <= tolerance
            if tolerance > 0 and not passing:
                with torch.no_grad():
                    for p, good in zip(adapted.trainable, state.snapshot):
                        p.copy_(good.to(p.device))
                logger.warning("adaptation stopped at step %d: sample spread %.3f x, distance to the shots %.3f x "
                               "the start's, mean pose moved %.3f spreads (tolerance %.2f); kept the state of step %d",
                               state.step, ratio, drift, moved, tolerance, state.step - config.guard_every)
                history[-1]["stopped"] = True
                trained_steps = state.step - config.guard_every
                break
            if tolerance > 0:
                state.snapshot = [p.detach().clone() for p in adapted.trainable]
        if checkpoint_dir is not None and (state.step % config.checkpointing_steps == 0) and state.step < config.steps:
            save_checkpoint(accelerator, checkpoint_dir, state.step)
    accelerator.wait_for_everyone()
    adapted.model = accelerator.unwrap_model(model)
    return AdaptResult(adapted, mask_np, trained_steps, time.time() - start, history, calibration)


@torch.no_grad()
def guard_statistics(model: torch.nn.Module, z: torch.Tensor, unit_shots: torch.Tensor, mask: torch.Tensor,
                     resolution: int, margin: float) -> tuple[float, float, torch.Tensor]:
    """The guard's view of the poses generated from ``z`` (re-normalized, ``mask`` joints): their
    spread, the mean distance from each shot to its nearest generated pose, and their mean pose."""
    samples = renormalize(canvas_to_unit(model(z, output="keypoints"), resolution, margin), mask)
    shots = renormalize(unit_shots, mask)[:, mask].flatten(1)
    distance = torch.cdist(shots, samples[:, mask].flatten(1)).min(dim=1).values.mean()
    return float(pose_spread(samples, mask)), float(distance), samples[:, mask].mean(0)


def kernel_mmd(x: torch.Tensor, y: torch.Tensor, bandwidths: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0)) -> torch.Tensor:
    """Biased squared MMD between two batches of pose vectors, RBF kernels at several bandwidths."""
    xy = torch.cat([x, y])
    d2 = torch.cdist(xy, xy).pow(2)
    k = sum(torch.exp(-d2 / (2 * b**2 * x.shape[1] / 2)) for b in bandwidths)
    n = len(x)
    return k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean()


def mix_target_poses(pool: np.ndarray, mask: np.ndarray, skeleton: str, num: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Pose-mixup over the target's joints (``mask``); the other joints come back as zeros."""
    masked = pool.astype(np.float64).copy()
    masked[:, ~mask] = np.nan
    return np.nan_to_num(mix_poses(masked, skeleton, num, rng), nan=0.0).astype(np.float32)


def renormalize_np(unit: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return renormalize(torch.from_numpy(np.nan_to_num(unit).astype(np.float32)), torch.from_numpy(mask)).numpy()
