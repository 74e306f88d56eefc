"""Refit the mapping network f as the decoder of a Wasserstein autoencoder over the training poses' codes.

Why (BENCHMARKS.md, "Source generators"): the face's synthesis network draws the real face variety from
inverted codes (recall 0.92), but an f refit by a pose MMD alone does not reach those codes (recall
0.88), and a bank of the codes repeats them (nn1 0.634). Here each training pose i is inverted to w_i
once; an encoder E: w -> z is learned with f so that

- f(E(w_i)) decodes to pose i again (reconstruction, on the decoded poses): f's range reaches every
  training pose continuously, with no repeats;
- E(w_i), pixel-normalized as f normalizes z, is distributed like pixel-normalized z ~ N(0, I) (a
  Gaussian-kernel MMD in z): prior draws land where the codes are;
- prior draws f(z) decode like the real poses (the pose MMD of ``refit_mapping``).

By default only f (and E, discarded afterwards) trains; ``modules`` may add the style layers ``A`` and the
synthesis network ``phi`` (phi's own reach limits the face: inverted codes decode the training faces with
an error of 0.09 of their variance). f keeps its MLP form and A its affine layers, so tau still adapts the
same layers; the critic stays.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..models.layers import PixelNorm
from ..poses import pose_vectors
from .inversion import decoded_vectors, invert_poses
from .losses import gaussian_mmd, median_distance

AUTOENCODER_MODULES = ("f", "A", "phi")  # f always trains; A and phi may join it


def _latent_encoder(w_dim: int, z_dim: int, hidden: int = 256) -> nn.Module:
    return nn.Sequential(nn.Linear(w_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                         nn.Linear(hidden, z_dim))


def refit_mapping_autoencoded(generator: torch.nn.Module, unit_poses: np.ndarray, steps: int = 3000,
                              learning_rate: float = 1e-3, batch_size: int = 256, real_batch_size: int = 1024,
                              reconstruction_weight: float = 3.0, inversion_steps: int = 100, seed: int = 0,
                              modules: tuple[str, ...] = ("f",), progress: bool = True) -> dict[str, list[float]]:
    """Train ``generator.f`` (and the other ``modules``) in place on ``unit_poses`` (complete unit poses, flips included if wanted, N x J
    x 2); returns the per-step losses (``reconstruction`` relative to the poses' variance, ``latent_mmd``,
    ``pose_mmd``). ``w_avg`` is re-estimated at the end."""
    if steps < 1 or batch_size < 2 or real_batch_size < 2 or learning_rate <= 0 or reconstruction_weight < 0:
        raise ValueError("refit_mapping_autoencoded: steps >= 1, batch sizes >= 2, a positive learning rate and "
                         "reconstruction_weight >= 0 are required")
    if "f" not in modules or any(m not in AUTOENCODER_MODULES for m in modules):
        raise ValueError(f"refit_mapping_autoencoded: modules must include 'f' and come from {AUTOENCODER_MODULES}, "
                         f"got {modules}")
    config = generator.config
    if config.mapping != "mlp":
        raise ValueError(f"refit_mapping_autoencoded: the base needs an MLP mapping, it has a {config.mapping!r} one")
    poses = torch.as_tensor(np.asarray(unit_poses, np.float32))
    codes, _ = invert_poses(generator, unit_poses, steps=inversion_steps, seed=seed, progress=progress)
    joints = poses.shape[1]
    real = pose_vectors(poses, torch.ones(joints, dtype=torch.bool), list(range(joints)))
    real_variance = real.var(0).sum()
    widest = 2 * float(median_distance(real))
    latent_widest = 2 * math.sqrt(2 * config.z_dim)  # twice the distance between two independent normal z
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():  # a seeded initialisation that leaves the caller's global RNG alone
        torch.manual_seed(seed)
        encoder = _latent_encoder(config.w_dim, config.z_dim)
    normalize = PixelNorm()
    generator.eval().requires_grad_(False)
    trained = [p for m in dict.fromkeys(modules) for p in getattr(generator, m).parameters()]
    for p in trained:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam([*trained, *encoder.parameters()], lr=learning_rate, betas=(0.5, 0.99))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    history: dict[str, list[float]] = {"reconstruction": [], "latent_mmd": [], "pose_mmd": []}
    for _ in tqdm(range(steps), desc=f"refit {'+'.join(modules)} (autoencoder)", disable=not progress, leave=False):
        index = torch.randint(len(codes), (batch_size,), generator=gen)
        z_codes = encoder(codes[index])
        reconstruction = (decoded_vectors(generator, generator.f(z_codes)) - real[index]).pow(2).sum(1).mean()
        reconstruction = reconstruction / real_variance
        z_prior = torch.randn(batch_size, config.z_dim, generator=gen)
        latent_mmd = gaussian_mmd(normalize(z_codes), normalize(z_prior), latent_widest)
        fake = decoded_vectors(generator, generator.f(torch.randn(batch_size, config.z_dim, generator=gen)))
        pose_mmd = gaussian_mmd(fake, real[torch.randint(len(real), (real_batch_size,), generator=gen)], widest)
        loss = reconstruction_weight * reconstruction + latent_mmd + pose_mmd
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        for key, value in (("reconstruction", reconstruction), ("latent_mmd", latent_mmd), ("pose_mmd", pose_mmd)):
            history[key].append(value.item())
    generator.requires_grad_(False)
    with torch.no_grad():
        generator.w_avg.copy_(generator.f(torch.randn(8192, config.z_dim, generator=gen)).mean(0))
    return history
