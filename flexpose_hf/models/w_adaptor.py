"""The AdaGAN/GenDA-style baseline's model: a per-channel affine on w in front of a frozen generator."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError
from ..utils import read_safetensors, save_safetensors
from .generator import FlexPoseGenerator


class WAdaptedGenerator(nn.Module):
    """AdaGAN/GenDA-style adaptor: a trainable per-channel affine on w, source weights frozen."""

    ADAPTOR_FILE = "adaptor_model.safetensors"
    CONFIG_FILE = "adaptor_config.json"

    def __init__(self, base: FlexPoseGenerator) -> None:
        super().__init__()
        self.base = base.requires_grad_(False)
        self.w_scale = nn.Parameter(torch.zeros(base.config.w_dim))
        self.w_shift = nn.Parameter(torch.zeros(base.config.w_dim))

    def forward(self, z: torch.Tensor, truncation: float = 1.0, output: str = "images") -> torch.Tensor:
        w = (1 + self.w_scale) * self.base.mapping(z, truncation) + self.w_shift
        keypoints = self.base.keypoints_from_styles(self.base.styles(w))
        return keypoints if output == "keypoints" else self.base.codec.encode(keypoints)

    def generate_keypoints(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        return self(z, truncation, output="keypoints")

    def save_pretrained(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_safetensors({"w_scale": self.w_scale.detach().contiguous(), "w_shift": self.w_shift.detach().contiguous()},
                         path / self.ADAPTOR_FILE)
        (path / self.CONFIG_FILE).write_text(json.dumps(
            {"adaptor_type": "w_affine", "w_dim": self.base.config.w_dim,
             "base_model_name_or_path": self.base.name_or_path}, indent=2))

    @classmethod
    def from_pretrained(cls, base: FlexPoseGenerator, path: str | Path) -> WAdaptedGenerator:
        """The adaptor saved in ``path`` on ``base`` (shapes checked)."""
        model = cls(base)
        state = read_safetensors(Path(path) / cls.ADAPTOR_FILE)
        if set(state) != {"w_scale", "w_shift"} or state["w_scale"].shape != model.w_scale.shape:
            raise CheckpointError(f"{path}: adaptor weights do not fit base {base.name_or_path!r}")
        with torch.no_grad():
            model.w_scale.copy_(state["w_scale"])
            model.w_shift.copy_(state["w_shift"])
        return model
