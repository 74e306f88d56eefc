"""Skeleton definitions as data, and conversion between skeletons by joint name.

A skeleton is an ordered list of joint names (COCO spellings where COCO has the joint), the limbs
joining them, the left/right pairs swapped by a horizontal flip, and drawing colours. Downstream
code never guesses a skeleton: datasets and checkpoints carry its registered name.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from .errors import SkeletonError

RGB = tuple[int, int, int]

# OpenPose's 18 part colours, also used for its 17 limbs (limb i takes colour i).
OPENPOSE_COLORS: tuple[RGB, ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)

_SIDE_COLORS: dict[str, RGB] = {"left": (40, 120, 255), "right": (255, 70, 40), "center": (60, 200, 60)}


@dataclass(frozen=True)
class Skeleton:
    """One skeleton: joint names in storage order, limbs as index pairs, flip pairs, colours."""

    name: str
    joints: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...] = ()
    limb_colors: tuple[RGB, ...] = field(default=())
    description: str = ""

    def __post_init__(self) -> None:
        n = len(self.joints)
        if len(set(self.joints)) != n:
            raise SkeletonError(f"skeleton {self.name!r} has duplicate joint names")
        for a, b in (*self.limbs, *self.flip_pairs):
            if not (0 <= a < n and 0 <= b < n):
                raise SkeletonError(f"skeleton {self.name!r}: joint index out of range in ({a}, {b})")
        if not self.limb_colors:
            object.__setattr__(self, "limb_colors", tuple(self._side_color(a, b) for a, b in self.limbs))
        elif len(self.limb_colors) < len(self.limbs):
            raise SkeletonError(f"skeleton {self.name!r}: fewer limb colours than limbs")

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        try:
            return self.joints.index(joint)
        except ValueError:
            raise SkeletonError(f"skeleton {self.name!r} has no joint {joint!r}") from None

    def flip_permutation(self) -> np.ndarray:
        """Joint permutation that swaps left and right (apply after mirroring x)."""
        perm = np.arange(self.num_joints)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    def _side_color(self, a: int, b: int) -> RGB:
        names = self.joints[a] + self.joints[b]
        side = "left" if "left" in names else "right" if "right" in names else "center"
        return _SIDE_COLORS[side]


_REGISTRY: dict[str, Skeleton] = {}
CUSTOM_PREFIX = "custom"  # names of the skeletons made from a file's joint names (``skeleton_from_joint_names``)


def register_skeleton(skeleton: Skeleton, overwrite: bool = False) -> Skeleton:
    """Add a skeleton to the registry so loaders, codecs and checkpoints can name it."""
    if skeleton.name in _REGISTRY and not overwrite:
        raise SkeletonError(f"a skeleton named {skeleton.name!r} is already registered")
    _REGISTRY[skeleton.name] = skeleton
    return skeleton


def get_skeleton(skeleton: str | Skeleton) -> Skeleton:
    """Look a skeleton up by name (a Skeleton passes through)."""
    if isinstance(skeleton, Skeleton):
        return skeleton
    try:
        return _REGISTRY[skeleton]
    except KeyError:
        raise SkeletonError(
            f"unknown skeleton {skeleton!r}; registered: {', '.join(sorted(_REGISTRY))}"
        ) from None


def list_skeletons(include_read: bool = False) -> list[str]:
    """Registered skeleton names; with ``include_read`` also those made for files read in this process."""
    return sorted(n for n in _REGISTRY if include_read or not n.startswith(CUSTOM_PREFIX))


def canonical_joint_name(name: str) -> str:
    """A joint name in this registry's spelling: lower case, words joined by ``_``, ``l_``/``r_``
    prefixes spelt out (``"Left Shoulder"``, ``"l_shoulder"`` -> ``"left_shoulder"``)."""
    words = "_".join(str(name).strip().lower().replace("-", " ").replace("_", " ").split())
    for short, side in (("l_", "left_"), ("r_", "right_")):
        if words.startswith(short):
            return side + words[len(short):]
    return words


def skeleton_from_joint_names(names: list[str] | tuple[str, ...],
                              limbs: list[tuple[int, int]] | None = None) -> Skeleton:
    """The registered skeleton with exactly these joints in this order, or else a new one registered for
    them (another dataset's layout, e.g. CrowdPose's 14 joints or PoseTrack's 17), so its poses convert
    to a base by joint name. ``limbs`` are 0-based joint pairs; without them, the pairs that are limbs of
    a registered skeleton. Refused when fewer than 3 names are joints some registered skeleton knows."""
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise SkeletonError(f"joint names must be a non-empty list of strings, got {names!r}")
    joints = tuple(canonical_joint_name(n) for n in names)
    builtin = [_REGISTRY[n] for n in list_skeletons()]
    for skeleton in builtin:
        if skeleton.joints == joints:
            return skeleton
    if len(set(joints)) != len(joints):
        raise SkeletonError(f"joint names repeat: {sorted({j for j in joints if joints.count(j) > 1})}")
    known = {j for s in builtin for j in s.joints}
    if len([j for j in joints if j in known]) < 3:
        raise SkeletonError(f"no registered skeleton has the joints {list(names)}, and fewer than 3 of them are "
                            "joints one has (such as left_shoulder or right_knee; `flexpose skeletons --joints` lists them), "
                            "so they cannot be matched to a base by name")
    if limbs is None:
        pairs = {frozenset((s.joints[a], s.joints[b])) for s in builtin for a, b in s.limbs}
        limbs = [(a, b) for a in range(len(joints)) for b in range(a + 1, len(joints))
                 if frozenset((joints[a], joints[b])) in pairs]
    limbs = tuple((int(a), int(b)) for a, b in limbs)
    name = f"{CUSTOM_PREFIX}{len(joints)}_{zlib.crc32(repr((joints, limbs)).encode()):08x}"  # same layout, same name
    skeleton = Skeleton(name, joints, limbs, _lr_flip_pairs(joints),
                        description=f"read from a file's joint names: {', '.join(joints)}")
    return register_skeleton(skeleton, overwrite=True)


def _pairs_by_name(joints: tuple[str, ...], pairs: list[tuple[str, str]]) -> tuple[tuple[int, int], ...]:
    return tuple((joints.index(a), joints.index(b)) for a, b in pairs)


def _lr_flip_pairs(joints: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    pairs = []
    for i, name in enumerate(joints):
        if name.startswith("left_"):
            mirror = "right_" + name[len("left_"):]
            if mirror in joints:
                pairs.append((i, joints.index(mirror)))
    return tuple(pairs)


def _body(name: str, joints: list[str], limbs: list[tuple[str, str]], description: str, **kw) -> Skeleton:
    j = tuple(joints)
    return Skeleton(name, j, _pairs_by_name(j, limbs), _lr_flip_pairs(j), description=description, **kw)


_LEGS = [
    ("left_ankle", "left_knee"), ("left_knee", "left_hip"),
    ("right_ankle", "right_knee"), ("right_knee", "right_hip"),
]
_ARMS = [
    ("left_wrist", "left_elbow"), ("left_elbow", "left_shoulder"),
    ("right_wrist", "right_elbow"), ("right_elbow", "right_shoulder"),
]

COCO17 = _body(
    "coco17",
    ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
     "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
     "left_knee", "right_knee", "left_ankle", "right_ankle"],
    _LEGS + [("left_hip", "right_hip"), ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
             ("left_shoulder", "right_shoulder")] + _ARMS
    + [("left_eye", "right_eye"), ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"),
       ("right_eye", "right_ear"), ("left_ear", "left_shoulder"), ("right_ear", "right_shoulder")],
    "COCO person keypoints (17 joints, COCO order and skeleton).",
)

MPII16 = _body(
    "mpii16",
    ["right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
     "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder",
     "left_elbow", "left_wrist"],
    _LEGS + [("left_hip", "pelvis"), ("right_hip", "pelvis"), ("pelvis", "thorax"), ("thorax", "upper_neck"),
             ("upper_neck", "head_top"), ("left_shoulder", "thorax"), ("right_shoulder", "thorax")] + _ARMS,
    "MPII Human Pose (16 joints, MPII order).",
)

LSP14 = _body(
    "lsp14",
    ["right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist",
     "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "upper_neck", "head_top"],
    _LEGS + [("left_hip", "right_hip"), ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
             ("left_shoulder", "upper_neck"), ("right_shoulder", "upper_neck"), ("upper_neck", "head_top")]
    + _ARMS,
    "Leeds Sports Pose / LSP-Extended (14 joints, LSP order; 'neck' is MPII's upper neck).",
)

PENN13 = _body(
    "penn13",
    ["head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
     "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"],
    _LEGS + [("left_hip", "right_hip"), ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"),
             ("left_shoulder", "right_shoulder"), ("head", "left_shoulder"), ("head", "right_shoulder")] + _ARMS,
    "Penn Action (13 joints, its order; 'head' is the head's centre, none of MPII's head joints).",
)

_OPENPOSE_JOINTS = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)
# OpenPose's drawn limb sequence (17 limbs), 0-based, in its drawing order.
_OPENPOSE_LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
    (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
OPENPOSE18 = Skeleton(
    "openpose18",
    _OPENPOSE_JOINTS,
    _OPENPOSE_LIMBS,
    _lr_flip_pairs(_OPENPOSE_JOINTS),
    limb_colors=OPENPOSE_COLORS[:17],
    description="OpenPose BODY-18 (COCO-18) order, as ControlNet's OpenPose annotator draws it.",
)


def _face68() -> Skeleton:
    groups = [
        ("jaw", 17, False), ("right_eyebrow", 5, False), ("left_eyebrow", 5, False),
        ("nose_bridge", 4, False), ("nose_base", 5, False), ("right_eye", 6, True),
        ("left_eye", 6, True), ("outer_lip", 12, True), ("inner_lip", 8, True),
    ]
    joints, limbs, start = [], [], 0
    for group, n, closed in groups:
        joints += [f"{group}_{k}" for k in range(n)]
        limbs += [(start + k, start + k + 1) for k in range(n - 1)]
        if closed:
            limbs.append((start + n - 1, start))
        start += n
    # Mirror map of the iBUG 68-point scheme (0-based).
    mirror = [(k, 16 - k) for k in range(8)] + [(17 + k, 26 - k) for k in range(5)]
    mirror += [(31, 35), (32, 34), (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    mirror += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)]
    return Skeleton(
        "face68", tuple(joints), tuple(limbs), tuple(mirror),
        description="iBUG 300-W 68 facial landmarks (iBUG order; 'right' is the subject's right).",
    )


FACE68 = _face68()

for _s in (COCO17, MPII16, LSP14, PENN13, OPENPOSE18, FACE68):
    register_skeleton(_s)

# Joints that may be derived from others when the source skeleton lacks them: the midpoint of two
# joints, and only where that is the definition (OpenPose's neck is the shoulder midpoint).
DERIVED_JOINTS: dict[str, tuple[str, str]] = {
    "neck": ("left_shoulder", "right_shoulder"),
    "pelvis": ("left_hip", "right_hip"),
}


def mirrored_limb_names(
    limbs: list[tuple[str, str]] | tuple[tuple[str, str], ...], joints: tuple[str, ...] | list[str]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The limbs with both ends ``left_*`` and their ``right_*`` mirror images (same order), kept
    where the mirror's joints are among ``joints``."""
    left = [(a, b) for a, b in limbs if a.startswith("left_") and b.startswith("left_")]
    right = [("right_" + a[5:], "right_" + b[5:]) for a, b in left]
    keep = [i for i, (a, b) in enumerate(right) if a in joints and b in joints]
    return [left[i] for i in keep], [right[i] for i in keep]


def shared_joints(a: str | Skeleton, b: str | Skeleton) -> list[str]:
    """Joint names present in both skeletons, in ``a``'s order."""
    a, b = get_skeleton(a), get_skeleton(b)
    return [j for j in a.joints if j in b.joints]


def convert_keypoints(
    keypoints: np.ndarray,
    visible: np.ndarray | None,
    source: str | Skeleton,
    target: str | Skeleton,
    derive: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Re-express ``(..., J_src, 2)`` keypoints on another skeleton by joint name.

    Joints the target has and the source lacks are NaN (missing, never invented), except the
    ``DERIVED_JOINTS`` when ``derive`` is true and both parents are present.
    """
    src, dst = get_skeleton(source), get_skeleton(target)
    keypoints = np.asarray(keypoints, dtype=np.float32)
    if keypoints.shape[-2:] != (src.num_joints, 2):
        raise SkeletonError(
            f"keypoints of shape {keypoints.shape} do not fit skeleton {src.name!r} "
            f"({src.num_joints} joints x 2)"
        )
    if visible is None:
        visible = ~np.isnan(keypoints).any(-1)
    lead = keypoints.shape[:-2]
    out = np.full((*lead, dst.num_joints, 2), np.nan, dtype=np.float32)
    vis = np.zeros((*lead, dst.num_joints), dtype=bool)
    for j, name in enumerate(dst.joints):
        if name in src.joints:
            i = src.joints.index(name)
            out[..., j, :] = keypoints[..., i, :]
            vis[..., j] = visible[..., i]
        elif derive and name in DERIVED_JOINTS and all(p in src.joints for p in DERIVED_JOINTS[name]):
            a, b = (src.joints.index(p) for p in DERIVED_JOINTS[name])
            out[..., j, :] = 0.5 * (keypoints[..., a, :] + keypoints[..., b, :])  # NaN if a parent is
            vis[..., j] = visible[..., a] & visible[..., b]
    vis &= ~np.isnan(out).any(-1)
    return out, vis


# Per-joint OKS sigmas (COCO keypoint evaluation) by joint name. Joints COCO does not annotate get
# 0.026, the value mmpose's MPII metainfo uses for pelvis, thorax, upper neck and head top (and COCO
# for the nose; Penn Action's head centre gets it too).
_COCO_SIGMAS = {"nose": 0.026, "eye": 0.025, "ear": 0.035, "shoulder": 0.079, "elbow": 0.072, "wrist": 0.062,
                "hip": 0.107, "knee": 0.087, "ankle": 0.089}
_EXTRA_SIGMAS = {"pelvis": 0.026, "thorax": 0.026, "upper_neck": 0.026, "head_top": 0.026, "neck": 0.026,
                 "head": 0.026}


def oks_sigmas(skeleton: str | Skeleton) -> list[float] | None:
    """OKS sigmas for each joint of a body skeleton, by joint name; None when a joint has none (faces)."""
    sigmas = []
    for joint in get_skeleton(skeleton).joints:
        kind = joint.removeprefix("left_").removeprefix("right_")
        value = _COCO_SIGMAS.get(kind, _EXTRA_SIGMAS.get(joint))
        if value is None:
            return None
        sigmas.append(value)
    return sigmas
