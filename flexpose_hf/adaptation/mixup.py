"""Pose-mixup: new plausible target poses by mixing pairs of the few given ones.

A pose is re-expressed along a spanning tree of its skeleton as a root position plus, per bone, a
length and an angle. Mixing two poses interpolates each bone's length linearly and its angle along
the shorter arc, then rebuilds the pose by forward kinematics, so every mixed pose is a connected
skeleton whose bone lengths and joint angles lie between those of two real poses (a coordinate
average, by contrast, shrinks limbs whose directions differ).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ..codec import pose_extent
from ..errors import FlexPoseError
from ..skeletons import Skeleton, get_skeleton


def kinematic_tree(skeleton: str | Skeleton, joint_mask: np.ndarray | None = None) -> list[tuple[int, int]]:
    """(parent, child) bones of breadth-first spanning trees over the present joints.

    Each connected group of present joints gets a root, listed as ``(root, root)`` before its
    bones; a joint set that splits the skeleton (e.g. MPII joints without the thorax) gives several.
    """
    s = get_skeleton(skeleton)
    present = np.ones(s.num_joints, bool) if joint_mask is None else np.asarray(joint_mask, bool)
    adjacency: dict[int, list[int]] = {j: [] for j in range(s.num_joints)}
    for a, b in s.limbs:
        if present[a] and present[b]:
            adjacency[a].append(b)
            adjacency[b].append(a)
    remaining = [j for j in range(s.num_joints) if present[j]]
    if not remaining:
        raise FlexPoseError("pose-mixup needs at least one present joint")
    tree: list[tuple[int, int]] = []
    seen: set[int] = set()
    while remaining:
        # Root: the unvisited joint with most connections (a torso joint), lowest index on ties.
        root = max(remaining, key=lambda j: (len(adjacency[j]), -j))
        seen.add(root)
        tree.append((root, root))
        queue = deque([root])
        while queue:
            parent = queue.popleft()
            for child in sorted(adjacency[parent]):
                if child not in seen:
                    seen.add(child)
                    tree.append((parent, child))
                    queue.append(child)
        remaining = [j for j in remaining if j not in seen]
    return tree


def mix_poses(
    poses: np.ndarray,
    skeleton: str | Skeleton,
    num: int,
    rng: np.random.Generator,
    alpha: float = 1.0,
) -> np.ndarray:
    """``num`` poses, each a mixture of a random pair of ``poses`` (K x J x 2, unit coordinates).

    Joints missing from any input pose stay missing. The mixing weight is drawn from
    Beta(alpha, alpha) per mixed pose.
    """
    poses = np.asarray(poses, np.float64)
    if len(poses) < 2:
        return np.repeat(poses, num, axis=0).astype(np.float32)
    mask = ~np.isnan(poses).any(-1).any(0)
    tree = kinematic_tree(skeleton, mask)
    bones = [(p, c) for p, c in tree if p != c]
    roots = [p for p, c in tree if p == c]
    parents = np.array([p for p, _ in bones], dtype=int)
    children = np.array([c for _, c in bones], dtype=int)
    vectors = poses[:, children] - poses[:, parents]  # K x B x 2
    lengths = np.linalg.norm(vectors, axis=-1)
    angles = np.arctan2(vectors[..., 1], vectors[..., 0])

    i = rng.integers(len(poses), size=num)
    j = (i + rng.integers(1, len(poses), size=num)) % len(poses)  # a different pose
    lam = rng.beta(alpha, alpha, size=(num, 1))
    delta = np.angle(np.exp(1j * (angles[j] - angles[i])))  # shortest signed arc
    mixed_angle = angles[i] + lam * delta
    mixed_length = (1 - lam) * lengths[i] + lam * lengths[j]
    out = np.full((num, poses.shape[1], 2), np.nan)
    out[:, roots] = (1 - lam[:, :, None]) * poses[i][:, roots] + lam[:, :, None] * poses[j][:, roots]
    for b, (parent, child) in enumerate(bones):
        direction = np.stack([np.cos(mixed_angle[:, b]), np.sin(mixed_angle[:, b])], axis=-1)
        out[:, child] = out[:, parent] + mixed_length[:, b, None] * direction
    # Re-centre on the bounding box, as every unit pose is.
    center, extent = pose_extent(out)
    out = (out - center[:, None]) / np.maximum(extent, 1e-9)[:, None, None]
    return out.astype(np.float32)
