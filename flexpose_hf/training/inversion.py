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


@torch.no_grad()
def nearest_sampled_codes(generator: torch.nn.Module, targets: torch.Tensor, candidates: int, seed: int,
                          batch_size: int = 1024) -> torch.Tensor:
    """For each target pose vector, the w of the nearest of ``candidates`` prior samples."""
    config = generator.config
    z = torch.randn(candidates, config.z_dim, generator=torch.Generator().manual_seed(seed))
    codes, vectors = [], []
    joints = targets.shape[1] // 2
    mask, origin = torch.ones(joints, dtype=torch.bool), list(range(joints))
    for chunk in z.split(batch_size):
        w = generator.mapping(chunk)
        unit = canvas_to_unit(generator.keypoints_from_styles(generator.styles(w)), config.resolution, config.margin)
        codes.append(w)
        vectors.append(pose_vectors(unit, mask, origin))
    codes_t, vectors_t = torch.cat(codes), torch.cat(vectors)
    nearest = torch.cat([torch.cdist(t, vectors_t).argmin(1) for t in targets.split(batch_size)])
    return codes_t[nearest].clone()


def invert_poses(generator: torch.nn.Module, unit_poses: np.ndarray, steps: int = 200, learning_rate: float = 0.02,
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
    config = generator.config
    joints = poses.shape[1]
    mask, origin = torch.ones(joints, dtype=torch.bool), list(range(joints))
    targets = pose_vectors(poses, mask, origin)
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
            unit = canvas_to_unit(generator.keypoints_from_styles(generator.styles(w)), config.resolution,
                                  config.margin)
            loss = (pose_vectors(unit, mask, origin) - target).pow(2).sum(1)
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()
            optimizer.step()
            bar.update()
        with torch.no_grad():
            unit = canvas_to_unit(generator.keypoints_from_styles(generator.styles(w)), config.resolution,
                                  config.margin)
            errors[index] = (pose_vectors(unit, mask, origin) - target).pow(2).sum(1)
        codes[index] = w.detach()
    bar.close()
    generator.train(was_training)
    return codes, errors
