"""Penn Action labels: one MATLAB file per video (``labels/0001.mat``) with ``x``, ``y`` and
``visibility`` arrays of frames x 13 joints and the video's ``action``; a folder of them or one file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from ..errors import PoseFormatError
from .records import PoseRecords, check_finite

PENN_KEYS = ("x", "y", "visibility")
PENN_JOINTS = 13


def is_penn_action_mat(path: Path) -> bool:
    """Whether a ``.mat`` file holds Penn Action's per-video arrays (read from its header only)."""
    try:
        names = {name for name, _, _ in scipy.io.whosmat(str(path))}
    except Exception:  # noqa: BLE001 - not a readable .mat: let the LSP reader name the problem
        return False
    return set(PENN_KEYS) <= names


def penn_label_files(path: Path) -> list[Path]:
    """The label files a Penn Action path names: the file itself, or a folder's ``.mat`` files in order."""
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".mat")
    if not files:
        raise PoseFormatError(path, "a Penn Action labels folder needs .mat files; found none")
    return files


def read_video(path: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """Keypoints (frames x 13 x 2), visibility flags and the action of one label file."""
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:  # noqa: BLE001 - scipy raises several unrelated types for a bad file
        raise PoseFormatError(path, f"not a readable MATLAB .mat file ({type(exc).__name__}: {exc})") from None
    missing = [k for k in PENN_KEYS if k not in mat]
    if missing:
        raise PoseFormatError(path, f"not a Penn Action label file: no array named {missing[0]!r}")
    x, y, vis = (np.asarray(mat[k], dtype=np.float64) for k in PENN_KEYS)
    if x.ndim != 2 or x.shape[1] != PENN_JOINTS or y.shape != x.shape or vis.shape != x.shape:
        raise PoseFormatError(path, f"'x', 'y' and 'visibility' must all be frames x {PENN_JOINTS}; got "
                                    f"{x.shape}, {y.shape} and {vis.shape}")
    keypoints = np.stack([x, y], axis=-1)
    check_finite(path, keypoints)
    action = mat.get("action")
    name = str(np.asarray(action).ravel()[0]) if action is not None and np.asarray(action).size else ""
    return keypoints, vis > 0, name


def read_penn_action(path: Path) -> PoseRecords:
    """Every frame of every video as a pose; the image name is ``<video>/<frame>.jpg`` as in Penn
    Action's ``frames`` folder (so ``flexpose adapt --shots K`` draws the K shots from K videos: ``SHOT_GROUPS``).

    Every joint carries coordinates in Penn Action (occluded ones are estimated by the annotators);
    ``visibility`` says which were seen and becomes ``visible``.
    """
    keypoints, visible, files, index, images, actions = [], [], [], [], [], []
    for file in penn_label_files(path):
        kp, vis, action = read_video(file)
        keypoints.append(kp)
        visible.append(vis)
        files += [str(file)] * len(kp)
        index += list(range(len(kp)))
        images += [f"{file.stem}/{frame + 1:06d}.jpg" for frame in range(len(kp))]
        actions += [action] * len(kp)
    return PoseRecords(
        skeleton="penn13",
        keypoints=np.concatenate(keypoints).astype(np.float32),
        visible=np.concatenate(visible),
        source_files=files,
        record_index=index,
        images=images,
        labels={"action": actions},
    )
