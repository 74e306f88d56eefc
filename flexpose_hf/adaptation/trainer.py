"""The adaptation loop shared by every method, ``flexpose adapt`` and ``examples/adapt.py``.

One flow: shots -> augmented pool (mirror images; pose-mixup pairs on request) -> strength (prior-versus-evidence
weight, ``strength.py``; from 50 distinct shots chosen by held-out shots, ``selection.py``) -> fixed target
set -> train the method's parameters to minimise a two-sample divergence (by default a Gaussian-kernel MMD)
between the poses it decodes from fixed latents and the target set, plus the method's regularizer (tau's
Linear & Sparse, as a proximal L1 step) -> the adapted model. An adversarial critic is optional (``adv_weight``; FreezeD needs one and gets weight 1 by default).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from ..codec import canvas_to_unit
from ..errors import FlexPoseError
from ..models import FlexPoseGenerator, FlexPoseGeneratorConfig, PoseDiscriminator
from ..poses import origin_joints, recenter_on_box
from ..training.adversarial import discriminator_loss, generator_adversarial_loss
from ..training.checkpointing import TrainState, check_resume_config, make_accelerator, resolve_resume, save_checkpoint
from ..tuners.tau.config import TAU_FORMS
from ..utils import atomic_write_text
from .methods import AdaptedModel, MethodOptions, prepare_method
from .objective import DIVERGENCES, TargetSet, generated_vectors, make_divergence
from .pool import shot_pool
from .selection import (
    MIN_DISTINCT_SHOTS,
    SCORE_SAMPLES,
    HeldOutScore,
    Selection,
    can_select,
    candidates,
    one_standard_error_choice,
    split_held_out,
)
from .strength import DEFAULT_PRIOR_SHOTS, Strength, choose_strength

logger = logging.getLogger(__name__)

MIN_SHARED_JOINTS = 6

# Per method, measured on the harness (BENCHMARKS.md): tau's full map moves with 3e-3 in 200 steps.
DEFAULT_LR = {"tau": 3e-3, "adaptor": 3e-3, "lora": 3e-3, "lora_all": 1e-3, "finetune": 2e-4, "freezed": 2e-4}
# Methods defined by their critic: FreezeD freezes the critic's lower layers, so it trains adversarially.
DEFAULT_ADV_WEIGHT = {"freezed": 1.0}


@dataclass
class AdaptConfig:
    """Hyper-parameters of one adaptation run (defaults: 10 shots in well under a minute on 2 CPU cores)."""

    method: str = "tau"
    divergence: str = "mmd"  # the two-sample loss (objective.DIVERGENCES): "mmd", "energy" or "sinkhorn"
    steps: int = 200
    latents: int = 256  # fixed latents decoded every step (the generated side of the loss)
    pool_draws: int = 2048  # fixed draws from the augmented shot pool (the evidence side of the target)
    # alpha: the source prior's weight, in shots (strength.py); None: chosen by held-out shots when there are
    # enough of them (selection.py), else DEFAULT_PRIOR_SHOTS
    prior_shots: float | None = None
    lr_generator: float | None = None  # default per method (DEFAULT_LR)
    pose_mixup: bool = False  # the paper's pose-mixup pairs in the pool; off: they raised nn1 in most measured cells
    mixup_share: float = 0.5  # share of the pool-drawn targets that are mixtures of two pool poses
    flip: bool = True
    adv_weight: float | None = None  # optional critic; default per method (DEFAULT_ADV_WEIGHT, else 0)
    lr_discriminator: float = 1e-3
    image_d_every: int = 2
    r1_gamma: float = 1.0
    r1_every: int = 8
    seed: int = 0
    checkpointing_steps: int = 100
    options: MethodOptions = field(default_factory=MethodOptions)

    def check(self) -> None:
        """Refuse settings that cannot run (called before any output is touched)."""
        for name in ("steps", "latents", "pool_draws", "checkpointing_steps"):
            if getattr(self, name) < 1:
                raise FlexPoseError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise FlexPoseError(f"seed must be >= 0, got {self.seed}")
        if self.prior_shots is not None and not (self.prior_shots >= 0 and np.isfinite(self.prior_shots)):
            raise FlexPoseError(f"prior_shots must be a finite number >= 0, got {self.prior_shots}")
        for name in ("pose_mixup", "flip"):
            if not isinstance(getattr(self, name), bool):
                raise FlexPoseError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not 0 <= self.mixup_share <= 1:
            raise FlexPoseError(f"mixup_share must be in [0, 1], got {self.mixup_share}")
        if self.adv_weight is not None and self.adv_weight < 0:
            raise FlexPoseError(f"adv_weight must be >= 0, got {self.adv_weight}")
        if self.lr_generator is not None and not (self.lr_generator > 0 and math.isfinite(self.lr_generator)):
            raise FlexPoseError(f"lr_generator (the learning rate) must be a finite number > 0, got {self.lr_generator}")
        if self.divergence not in DIVERGENCES:
            raise FlexPoseError(f"divergence must be one of {', '.join(DIVERGENCES)}, got {self.divergence!r}")
        if self.options.tau_form not in TAU_FORMS:
            raise FlexPoseError(f"tau form must be one of {', '.join(TAU_FORMS)}, got {self.options.tau_form!r}")
        rank = self.options.tau_rank
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
            raise FlexPoseError(f"tau rank must be an integer >= 1, got {rank!r}")
        if not isinstance(self.options.tau_mapping, bool):
            raise FlexPoseError(f"tau_mapping must be true or false, got {self.options.tau_mapping!r}")
        if self.options.sparsity_weight is not None and self.options.sparsity_weight < 0:
            raise FlexPoseError(f"sparsity_weight must be >= 0, got {self.options.sparsity_weight}")
        offdiagonal = self.options.tau_offdiagonal_weight
        if not (offdiagonal >= 0 and math.isfinite(offdiagonal)):
            raise FlexPoseError(f"tau off-diagonal weight must be a finite number >= 0, got {offdiagonal}")

    def learning_rate(self) -> float:
        return self.lr_generator if self.lr_generator is not None else DEFAULT_LR.get(self.method, 2e-3)

    def adversarial_weight(self) -> float:
        return self.adv_weight if self.adv_weight is not None else DEFAULT_ADV_WEIGHT.get(self.method, 0.0)


@dataclass
class AdaptResult:
    adapted: AdaptedModel
    joint_mask: np.ndarray
    seconds: float
    history: list[dict]
    strength: Strength
    config: AdaptConfig  # as trained: the strength chosen, the steps it took
    selection: Selection | None = None  # what the held-out shots chose, when they did


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
    unit_shots: np.ndarray,
    config: AdaptConfig,
    discriminator: PoseDiscriminator | None = None,
    checkpoint_dir: str | Path | None = None,
    resume_from_checkpoint: str | None = None,
    accelerator: Accelerator | None = None,
    progress: bool | Callable[[int, int], None] = True,
) -> AdaptResult:
    """Adapt ``base`` to the target poses ``unit_shots`` (K x J x 2 unit coordinates on the base
    skeleton; NaN where the target lacks a joint) with ``config.method``. ``discriminator`` is
    needed only when the adversarial weight is > 0. With ``config.prior_shots`` None the strength is
    first chosen by held-out shots (``selection.py``), then trained on every shot."""
    config.check()
    if len(unit_shots) < 1:
        raise FlexPoseError("no usable target pose (need at least one with the shared joints)")
    if config.adversarial_weight() > 0 and discriminator is None:
        raise FlexPoseError(f"method {config.method!r} with adversarial weight {config.adversarial_weight()} needs "
                            "the base's discriminator")
    mask = target_joint_mask(unit_shots, base.codec.skeleton.joints)
    start, selection = time.time(), None
    if config.prior_shots is None:
        config, selection = resolve_prior(base, unit_shots, mask, config, discriminator, checkpoint_dir,
                                          resume_from_checkpoint, progress)
    if selection is not None and not selection.reused:  # a progress callback counts the candidates' steps too
        chosen = sum(c.steps for c in selection.candidates)
        progress = offset_progress(progress, chosen, chosen + config.steps)
    result = train(base, unit_shots, mask, config, discriminator, checkpoint_dir, resume_from_checkpoint,
                   accelerator, progress)
    result.selection = selection
    result.seconds = time.time() - start  # the choice included
    return result


def offset_progress(progress: bool | Callable[[int, int], None], done: int,
                    total: int) -> bool | Callable[[int, int], None]:
    """A progress callback for one phase of a longer run: ``done`` steps before it, ``total`` in all."""
    if not callable(progress):
        return progress
    return lambda step, _steps: progress(done + step, total)


def shots_sha256(unit_shots: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(unit_shots, np.float32).tobytes()).hexdigest()


def resolve_prior(base: FlexPoseGenerator, unit_shots: np.ndarray, mask: np.ndarray, config: AdaptConfig,
                  discriminator: PoseDiscriminator | None, checkpoint_dir: str | Path | None,
                  resume_from_checkpoint: str | None,
                  progress: bool | Callable[[int, int], None]) -> tuple[AdaptConfig, Selection | None]:
    """``config`` with the strength filled in: chosen by held-out shots when there are enough distinct
    shots (kept in ``checkpoint_dir`` so a resumed run does not choose again), else the fixed prior."""
    if not can_select(unit_shots, mask):
        logger.info("fewer than %d distinct shots, too few to hold some out: the source prior is worth %g shots",
                    MIN_DISTINCT_SHOTS, DEFAULT_PRIOR_SHOTS)
        return dataclasses.replace(config, prior_shots=DEFAULT_PRIOR_SHOTS), None
    record = Path(checkpoint_dir) / "selection.json" if checkpoint_dir is not None else None
    key = {"shots_sha256": shots_sha256(unit_shots),
           "config": json.loads(json.dumps({k: v for k, v in asdict(config).items() if k != "checkpointing_steps"},
                                           default=str))}
    selection = None
    if record is not None and resume_from_checkpoint is not None and record.exists():
        saved = json.loads(record.read_text())
        if saved.get("key") == key:
            selection = Selection.from_dict(saved["selection"], reused=True)
            logger.info("resuming with the strength chosen before (%s)", record)
    if selection is None:
        selection = choose_by_held_out(base, unit_shots, mask, config, discriminator, progress)
        if record is not None:
            record.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(record, json.dumps({"key": key, "selection": selection.to_dict()}, indent=2))
    best = selection.best
    return dataclasses.replace(config, prior_shots=best.prior_shots, steps=best.steps), selection


def choose_by_held_out(base: FlexPoseGenerator, unit_shots: np.ndarray, mask: np.ndarray, config: AdaptConfig,
                       discriminator: PoseDiscriminator | None,
                       progress: bool | Callable[[int, int], None]) -> Selection:
    """Train each candidate strength on four fifths of the shots (copies of ``base``), score their samples
    against the held-out fifth (``selection.HeldOutScore``) and keep the prior unless the challenger
    is closer by more than one standard error (``selection.one_standard_error_choice``)."""
    kept, held = split_held_out(unit_shots, mask, config.seed)
    skeleton = base.codec.skeleton
    res, margin = base.config.resolution, base.config.margin
    z = torch.randn(SCORE_SAMPLES, base.config.z_dim, generator=torch.Generator().manual_seed(config.seed + 4243))
    score = HeldOutScore(z, held, skeleton.name, mask, config.flip, origin_joints(skeleton.name, mask),
                         lambda model, latents: canvas_to_unit(model(latents, output="keypoints"), res, margin),
                         config.seed)
    tried = candidates(config.steps)
    planned = sum(c.steps for c in tried) + max(c.steps for c in tried)  # until the choice is known
    done, scores = 0, []
    for i, candidate in enumerate(tried):
        trial = dataclasses.replace(config, prior_shots=candidate.prior_shots, steps=candidate.steps)
        result = train(copy.deepcopy(base), kept, mask, trial, copy.deepcopy(discriminator),
                       progress=offset_progress(progress, done, planned),
                       desc=f"choose strength {i + 1}/{len(tried)} (prior {candidate.prior_shots:g})")
        done += candidate.steps
        scores.append(score(result.adapted.model.eval()))
        candidate.score = float(scores[-1][0])
    chosen, difference, se = one_standard_error_choice(*scores)
    logger.info("held-out shots (%d of %d) chose a prior worth %g shots and %d steps (nn1 %s; difference %+.3f, "
                "standard error %.3f)", len(held), len(unit_shots), tried[chosen].prior_shots, tried[chosen].steps,
                " vs ".join(f"{c.score:.3f}" for c in tried), difference, se)
    return Selection(tried, chosen, len(held), len(kept), difference, se)


def train(
    base: FlexPoseGenerator,
    unit_shots: np.ndarray,
    mask_np: np.ndarray,
    config: AdaptConfig,
    discriminator: PoseDiscriminator | None = None,
    checkpoint_dir: str | Path | None = None,
    resume_from_checkpoint: str | None = None,
    accelerator: Accelerator | None = None,
    progress: bool | Callable[[int, int], None] = True,
    desc: str | None = None,
) -> AdaptResult:
    """Train ``config.method`` toward the shots at the strength ``config.prior_shots`` (a number)."""
    adv_weight = config.adversarial_weight()
    accelerator = accelerator or make_accelerator()
    torch.manual_seed(config.seed)
    skeleton = base.codec.skeleton
    res, margin = base.config.resolution, base.config.margin
    origin = origin_joints(skeleton.name, mask_np)
    strength = choose_strength(unit_shots, mask_np, config.prior_shots)
    pool = shot_pool(unit_shots, skeleton.name, mask_np, config.flip)
    # Deterministic from the seed, so a resumed run rebuilds the same latents and targets.
    z = torch.randn(config.latents, base.config.z_dim, generator=torch.Generator().manual_seed(config.seed + 7919))
    targets = TargetSet.build(base.eval(), z, pool, skeleton.name, mask_np, origin, config.pool_draws,
                              strength.target_weight, config.mixup_share if config.pose_mixup else 0.0, config.seed)

    adapted = prepare_method(config.method, base, discriminator, config.options)
    # The regularizers speak for the source prior, so they weigh as much as the prior's share of the targets.
    adapted.l1_weight *= strength.prior_share
    params = [adapted.model] + ([discriminator] if adv_weight > 0 else [])
    # eps 1e-4: gradients far below it (the pull of a pool weighted ~0) take proportionally small steps
    # instead of Adam's full-size ones; at the default strengths tau's gradients are 1e-3 to 1e-1.
    opt_g = torch.optim.Adam(adapted.trainable, lr=config.learning_rate(), betas=(0.9, 0.99), eps=1e-4)
    opt_d = None
    if adv_weight > 0:
        frozen = {id(p) for p in adapted.frozen_discriminator}
        for p in adapted.frozen_discriminator:
            p.requires_grad_(False)
        opt_d = torch.optim.Adam([p for p in discriminator.parameters() if id(p) not in frozen],
                                 lr=config.lr_discriminator, betas=(0.5, 0.99))
    # Cosine decay to 0: the energy distance is not smooth where samples coincide, and with any loss a
    # constant step keeps Adam oscillating about the optimum (by about the learning rate).
    schedule = torch.optim.lr_scheduler.LambdaLR(  # plain floats: numpy ones would not load weights-only
        opt_g, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, config.steps) / config.steps)))
    prepared = accelerator.prepare(*params, opt_g, schedule, *([opt_d] if opt_d else []))
    model, disc = prepared[0], (prepared[1] if adv_weight > 0 else None)
    opt_g, schedule = prepared[len(params)], prepared[len(params) + 1]
    opt_d = prepared[-1] if opt_d else None
    state = TrainState()
    accelerator.register_for_checkpointing(state)
    run_config = None
    if checkpoint_dir is not None:
        # What a checkpoint was trained as; more steps may be asked for on resume, nothing else may change.
        run_config = {**{k: v for k, v in asdict(config).items() if k not in ("steps", "checkpointing_steps")},
                      "base": base.config.to_dict(), "shots_sha256": shots_sha256(unit_shots)}
        resume = resolve_resume(checkpoint_dir, resume_from_checkpoint)
        if resume is not None:
            check_resume_config(resume, run_config, defaults={"base": FlexPoseGeneratorConfig().to_dict()})
            accelerator.load_state(str(resume))
            logger.info("resumed from %s at step %d", resume, state.step)

    device = accelerator.device
    mask = torch.from_numpy(mask_np).to(device)
    z, target_vectors = z.to(device), targets.vectors.to(device)
    divergence = make_divergence(config.divergence, target_vectors, targets.weights.to(device), targets.scale)
    history: list[dict] = []
    start = time.time()
    report = progress if callable(progress) else None  # a callback (steps done, total) instead of a bar
    bar = tqdm(range(state.step, config.steps), initial=state.step, total=config.steps,
               disable=report is not None or not (progress and accelerator.is_local_main_process),
               desc=desc or f"adapt ({config.method})")
    for _ in bar:
        step = state.step
        record = {"step": step + 1}
        if adv_weight > 0:
            record["loss_d"] = critic_step(disc, opt_d, model, base, targets, mask, config, step, accelerator)
        unit, vectors = generated_vectors(model, z, res, margin, mask, origin)
        loss_fit = divergence(vectors)
        reg = strength.prior_share * adapted.regularization().to(loss_fit.device)
        loss = loss_fit + reg
        if adv_weight > 0:
            adv = generator_adversarial_loss(disc, base.codec, recenter_on_box(unit, mask), margin,
                                             config.image_d_every > 0 and step % config.image_d_every == 0, mask)
            loss = loss + adv_weight * adv
            record["adv"] = adv.item()
        opt_g.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        lr = opt_g.param_groups[0]["lr"]
        opt_g.step()
        soft_threshold(opt_g, adapted.proximal_terms(), lr * adapted.l1_weight)
        schedule.step()
        state.step = step + 1
        record.update(divergence=loss_fit.item(), reg=float(reg.detach()) + adapted.proximal_penalty())
        history.append(record)
        bar.set_postfix(divergence=f"{loss_fit.item():.4f}")
        if report is not None:
            report(state.step, config.steps)
        if checkpoint_dir is not None and state.step % config.checkpointing_steps == 0 and state.step < config.steps:
            save_checkpoint(accelerator, checkpoint_dir, state.step, run_config=run_config)
    accelerator.wait_for_everyone()
    adapted.model = accelerator.unwrap_model(model)
    return AdaptResult(adapted, mask_np, time.time() - start, history, strength, config)


@torch.no_grad()
def soft_threshold(optimizer: torch.optim.Optimizer, terms: list[tuple[torch.nn.Parameter, torch.Tensor | float]],
                   strength: float) -> None:
    """The proximal step of an L1 penalty ``weight * sum(w * |p|)`` after an Adam step, for ``(p, w)`` in
    ``terms`` (``strength`` = learning rate x weight; ``w`` a float or a tensor of p's shape): each entry
    shrinks toward 0 by ``w`` times the step Adam gave it per unit gradient, and stops at 0.

    Unlike the L1 subgradient, which Adam rescales into steps of about the learning rate whatever the
    weight (so entries the data does not need jitter about 0), this leaves them exactly 0.
    """
    if not terms or strength <= 0:
        return
    inner = getattr(optimizer, "optimizer", optimizer)  # accelerate wraps the optimizer
    group = inner.param_groups[0]
    beta2, eps = group["betas"][1], group["eps"]
    for p, weight in terms:
        state = inner.state.get(p)
        if not state:  # no step taken yet
            continue
        denom = (state["exp_avg_sq"] / (1 - beta2 ** float(state["step"]))).sqrt() + eps
        p.copy_(p.sign() * (p.abs() - strength * weight / denom).clamp_min(0))


def critic_step(disc, opt_d, model, base: FlexPoseGenerator, targets: TargetSet, mask: torch.Tensor,
                config: AdaptConfig, step: int, accelerator: Accelerator) -> float:
    """One update of the optional critic: target-set poses against freshly generated ones."""
    rng = np.random.default_rng([config.seed, accelerator.process_index, step])
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    batch = min(config.latents, 64)
    device = accelerator.device
    rows = torch.multinomial(targets.weights, batch, replacement=True, generator=gen)
    real = recenter_on_box(targets.unit[rows].to(device), mask)
    with torch.no_grad():
        fake_kp = model(torch.randn(batch, base.config.z_dim, generator=gen).to(device), output="keypoints")
        fake_unit = canvas_to_unit(fake_kp, base.config.resolution, base.config.margin)
    do_r1 = config.r1_every > 0 and step % config.r1_every == 0
    r1_weight = 0.5 * config.r1_gamma * config.r1_every if do_r1 else 0.0
    use_images = config.image_d_every > 0 and step % config.image_d_every == 0
    loss_d = discriminator_loss(disc, base.codec, real, recenter_on_box(fake_unit, mask), base.config.margin,
                                use_images, r1_weight, mask)
    opt_d.zero_grad(set_to_none=True)
    accelerator.backward(loss_d)
    opt_d.step()
    return loss_d.item()
