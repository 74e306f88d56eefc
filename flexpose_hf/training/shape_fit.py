"""Give a trained generator a point distribution model fitted to its training poses
(``flexpose_hf/models/shape_model.py`` says what it does and why)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..models.generator import FlexPoseGenerator
from ..models.shape_model import fit_shape_basis


def with_shape_model(generator: FlexPoseGenerator, keypoints: np.ndarray,
                     variance: float = 0.99) -> tuple[FlexPoseGenerator, dict]:
    """A copy of ``generator`` whose decoded keypoints are projected onto the principal shape directions
    of ``keypoints`` (its training poses) that keep ``variance`` of their variance; every weight is
    shared with the base (a model that already has a shape model gets a new one). Returns the copy and
    a report (components, variance kept, poses)."""
    mean, basis, kept = fit_shape_basis(keypoints, variance)
    shaped = FlexPoseGenerator(replace(generator.config, shape_components=len(basis)))
    own = {k: v for k, v in generator.state_dict().items() if not k.startswith("shape_model.")}
    shaped.load_state_dict({**shaped.state_dict(), **own}, strict=True)
    with torch.no_grad():
        shaped.shape_model.mean.copy_(torch.from_numpy(mean))
        shaped.shape_model.basis.copy_(torch.from_numpy(basis))
    shaped.name_or_path = generator.name_or_path
    report = {"components": len(basis), "of": basis.shape[1], "variance_kept": round(kept, 5),
              "variance_asked": variance, "poses": int((~np.isnan(keypoints).any(axis=(1, 2))).sum())}
    return shaped.eval(), report
