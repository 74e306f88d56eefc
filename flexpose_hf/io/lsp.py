"""LSP / LSP-Extended ``joints.mat`` (MATLAB v5 array ``joints``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from ..errors import PoseFormatError
from .records import PoseRecords, check_finite


def read_lsp_mat(path: Path) -> PoseRecords:
    """Read ``joints`` of shape 14 x 3 x N (LSP-Extended) or 3 x 14 x N (original LSP).

    LSP-Extended flags unlabelled joints with 0 and gives them meaningless coordinates (all at or
    below zero), so flag 0 reads as missing. The original LSP labels every joint and its third row
    flags occlusion (1 = occluded): all joints are kept and ``visible`` is the inverse flag.
    """
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:  # noqa: BLE001 - scipy raises several unrelated types for a bad file
        raise PoseFormatError(path, f"not a readable MATLAB .mat file ({type(exc).__name__}: {exc})") from None
    if "joints" not in mat:
        raise PoseFormatError(path, f"no array named 'joints' (found: {sorted(k for k in mat if not k.startswith('__'))})")
    joints = np.asarray(mat["joints"], dtype=np.float64)
    if joints.ndim != 3:
        raise PoseFormatError(path, f"'joints' has shape {joints.shape}; expected 14 x 3 x N or 3 x 14 x N")
    if joints.shape[:2] == (14, 3):
        per_person = joints.transpose(2, 0, 1)
        present = per_person[..., 2] > 0
        visible = present
    elif joints.shape[:2] == (3, 14):
        per_person = joints.transpose(2, 1, 0)
        present = np.ones(per_person.shape[:2], dtype=bool)
        visible = per_person[..., 2] == 0
    else:
        raise PoseFormatError(path, f"'joints' has shape {joints.shape}; expected 14 x 3 x N or 3 x 14 x N")
    check_finite(path, per_person)
    keypoints = np.where(present[..., None], per_person[..., :2], np.nan).astype(np.float32)
    n = len(per_person)
    return PoseRecords(
        skeleton="lsp14",
        keypoints=keypoints,
        visible=visible,
        source_files=[str(path)] * n,
        record_index=list(range(n)),
        images=[f"im{i + 1:05d}.jpg" for i in range(n)],
    )
