"""Refit a trained generator's mapping network f to the real poses, the rest of the generator frozen.

Why (BENCHMARKS.md, "Source generators"): the reconstruction path of source training is a VAE, and
its KL term lets the encoder switch off most latent dimensions (6 of 32 carried information in the
face generator). f then spreads w along few directions, so prior samples vary in fewer ways than
real poses (face recall 0.32), although the synthesis network reproduces held-out-like faces from
inverted w codes (recall 0.86). Refitting f alone to the data, with fresh latents and fresh real
poses every step and a Gaussian-kernel MMD on the decoded poses, spreads the samples without
touching what phi and the style layers learned. ``modules=("f", "A")`` also trains the per-layer style
affines (the layers tau and LoRA adapt, so adapters still target them); measured in BENCHMARKS.md.
"""

from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

from ..codec import canvas_to_unit
from ..poses import pose_vectors
from .data import PoseSampler
from .losses import gaussian_mmd, median_distance

REFIT_MODULES = ("f", "A")  # the mapping network and the per-layer style affines


def refit_mapping(generator: torch.nn.Module, sampler: PoseSampler, steps: int = 600, learning_rate: float = 1e-3,
                  batch_size: int = 256, real_batch_size: int = 1024, seed: int = 0,
                  modules: tuple[str, ...] = ("f",)) -> list[float]:
    """Train ``generator.f`` (and the other ``modules``, e.g. ``("f", "A")``) in place toward the
    poses ``sampler`` draws; returns the loss per step.

    Both sides are compared as ``pose_vectors`` of every joint (translation and scale removed), with
    kernel bandwidths from the real poses' median distance. Adam with a cosine decay to 0; ``w_avg``
    is re-estimated at the end (truncation pulls toward the new mean).
    """
    if steps < 1 or batch_size < 2 or real_batch_size < 2 or learning_rate <= 0:
        raise ValueError("refit_mapping: steps >= 1, batch sizes >= 2 and a positive learning rate are required")
    unknown = [m for m in modules if m not in REFIT_MODULES]
    if unknown or not modules:
        raise ValueError(f"refit_mapping: modules must be a non-empty subset of {REFIT_MODULES}, got {modules}")
    config = generator.config
    joints = sampler.poses.shape[1]
    mask, origin = torch.ones(joints, dtype=torch.bool), list(range(joints))
    real_all = pose_vectors(sampler.poses, mask, origin)
    widest = 2 * float(median_distance(real_all))
    gen = torch.Generator().manual_seed(seed)
    generator.requires_grad_(False)
    trained = [p for m in modules for p in getattr(generator, m).parameters()]
    for p in trained:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(trained, lr=learning_rate, betas=(0.5, 0.99))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    losses: list[float] = []
    for _ in tqdm(range(steps), desc=f"refit {'+'.join(modules)}", leave=False):
        z = torch.randn(batch_size, config.z_dim, generator=gen)
        unit = canvas_to_unit(generator(z, output="keypoints"), config.resolution, config.margin)
        real = pose_vectors(sampler.sample(real_batch_size), mask, origin)
        loss = gaussian_mmd(pose_vectors(unit, mask, origin), real, widest)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    generator.requires_grad_(False)
    with torch.no_grad():
        generator.w_avg.copy_(generator.f(torch.randn(8192, config.z_dim, generator=gen)).mean(0))
    return losses
