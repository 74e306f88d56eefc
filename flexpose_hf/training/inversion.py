"""Invert poses to the generator's intermediate latent w: the code phi(A(w)) draws closest to each pose.

Used to build a latent bank (``flexpose_hf.models.mapping.LatentBankMapping``): the measured finding
behind it (BENCHMARKS.md, "Source generators") is that phi and A draw the real face variety when given
the right w, while an MLP f trained on the poses puts too little mass on part of it.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..codec import canvas_to_unit
from ..poses import pose_vectors


def decoded_vectors(generator: torch.nn.Module, w: torch.Tensor) -> torch.Tensor:
    """phi(A(w)) as ``pose_vectors`` of every joint (translation and scale removed)."""
    config = generator.config
    unit = canvas_to_unit(generator.keypoints_from_styles(generator.styles(w)), config.resolution, config.margin)
    joints = unit.shape[1]
    return pose_vectors(unit, torch.ones(joints, dtype=torch.bool), list(range(joints)))


@torch.no_grad()
def nearest_sampled_codes(generator: torch.nn.Module, targets: torch.Tensor, candidates: int, seed: int,
                          batch_size: int = 1024) -> torch.Tensor:
    """For each target pose vector, the w of the nearest of ``candidates`` prior samples."""
    z = torch.randn(candidates, generator.config.z_dim, generator=torch.Generator().manual_seed(seed))
    codes, vectors = [], []
    for chunk in z.split(batch_size):
        w = generator.mapping(chunk)
        codes.append(w)
        vectors.append(decoded_vectors(generator, w))
    codes_t, vectors_t = torch.cat(codes), torch.cat(vectors)
    nearest = torch.cat([torch.cdist(t, vectors_t).argmin(1) for t in targets.split(batch_size)])
    return codes_t[nearest].clone()


def invert_poses(generator: torch.nn.Module, unit_poses: np.ndarray, steps: int = 100, learning_rate: float = 0.1,
                 batch_size: int = 512, candidates: int = 8192, seed: int = 0,
                 progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Find w for each complete unit pose (N x J x 2): start from the nearest prior sample, then Adam
    on w against the squared error of the poses' ``pose_vectors`` (every joint; translation and scale
    removed). The generator stays frozen. Returns (codes N x w_dim, final error per pose)."""
    if steps < 0 or learning_rate <= 0 or batch_size < 1 or candidates < 1:
        raise ValueError("invert_poses: steps >= 0, a positive learning rate, batch_size and candidates >= 1")
    poses = torch.as_tensor(np.asarray(unit_poses, np.float32))
    if poses.ndim != 3 or torch.isnan(poses).any():
        raise ValueError("invert_poses: give complete poses, N x J x 2 without NaN")
    joints = poses.shape[1]
    targets = pose_vectors(poses, torch.ones(joints, dtype=torch.bool), list(range(joints)))
    was_training = generator.training
    generator.eval().requires_grad_(False)
    codes = nearest_sampled_codes(generator, targets, candidates, seed)
    errors = torch.empty(len(poses))
    chunks = list(zip(codes.split(batch_size), targets.split(batch_size), torch.arange(len(poses)).split(batch_size)))
    bar = tqdm(total=steps * len(chunks), desc="inverting poses", disable=not progress, leave=False)
    for w0, target, index in chunks:
        w = w0.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([w], lr=learning_rate)
        for _ in range(steps):
            loss = (decoded_vectors(generator, w) - target).pow(2).sum(1)
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()
            optimizer.step()
            bar.update()
        with torch.no_grad():
            errors[index] = (decoded_vectors(generator, w) - target).pow(2).sum(1)
        codes[index] = w.detach()
    bar.close()
    generator.train(was_training)
    return codes, errors
