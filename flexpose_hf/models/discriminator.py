"""The source discriminator: a small convolutional critic on skeleton images beside an MLP critic
on the decoded coordinates. Both accept a joint mask so that adaptation to a target skeleton with
fewer joints judges only the joints the target has."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path

import torch
from huggingface_hub import PyTorchModelHubMixin, constants
from torch import nn

from ..utils import save_safetensors
from .layers import MinibatchStdDev


@dataclass
class PoseDiscriminatorConfig:
    in_channels: int = 31
    num_joints: int = 16
    resolution: int = 32
    channels: list[int] = field(default_factory=lambda: [32, 64, 64])
    coord_hidden: int = 256
    limbs: list[list[int]] = field(default_factory=list)  # limb joint pairs, to mask limb channels

    def to_dict(self) -> dict:
        return asdict(self)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.2),
                         nn.Conv2d(cout, cout, 3, padding=1, stride=2), nn.LeakyReLU(0.2))


class PoseDiscriminator(nn.Module, PyTorchModelHubMixin, library_name="flexpose_hf"):
    """``forward(images, coords, joint_mask=None) -> (image_logits, coord_logits)``.

    ``coords`` are N x J x 2 in unit pose coordinates; ``joint_mask`` (J bools) hides joints that the
    data being judged does not have (their heatmap channels, limb channels and coordinates).
    """

    def __init__(self, config: PoseDiscriminatorConfig | dict | None = None) -> None:
        super().__init__()
        config = PoseDiscriminatorConfig(**config) if isinstance(config, dict) else config or PoseDiscriminatorConfig()
        self.config = config
        self._hub_mixin_config = config
        chans = [config.in_channels, *config.channels]
        self.blocks = nn.ModuleList(_block(a, b) for a, b in pairwise(chans))
        final = config.resolution // 2 ** len(config.channels)
        self.stddev = MinibatchStdDev()
        self.image_head = nn.Sequential(
            nn.Conv2d(chans[-1] + 1, chans[-1], 3, padding=1), nn.LeakyReLU(0.2), nn.Flatten(),
            nn.Linear(chans[-1] * final * final, chans[-1]), nn.LeakyReLU(0.2), nn.Linear(chans[-1], 1),
        )
        j2 = 2 * config.num_joints
        self.coord_net = nn.Sequential(
            nn.Linear(j2 + config.num_joints, config.coord_hidden), nn.LeakyReLU(0.2),
            nn.Linear(config.coord_hidden, config.coord_hidden), nn.LeakyReLU(0.2),
        )
        self.coord_stddev = MinibatchStdDev()
        self.coord_head = nn.Linear(config.coord_hidden + 1, 1)
        self.register_buffer("limbs", torch.tensor(config.limbs, dtype=torch.long).reshape(-1, 2), persistent=False)

    def _save_pretrained(self, save_directory: Path) -> None:
        save_safetensors(self, Path(save_directory) / constants.SAFETENSORS_SINGLE_FILE)

    @classmethod
    def for_generator(cls, generator: nn.Module, **overrides: object) -> PoseDiscriminator:
        """A discriminator shaped for ``generator``'s skeleton images."""
        codec = generator.codec
        return cls(PoseDiscriminatorConfig(
            in_channels=codec.num_channels, num_joints=codec.num_joints, resolution=codec.resolution,
            limbs=[list(limb) for limb in codec.skeleton.limbs] if codec.limb_channels else [], **overrides))

    def judge_images(self, images: torch.Tensor, joint_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of the convolutional critic on N x C x R x R skeleton images."""
        if joint_mask is not None:
            images = images * self.channel_mask(joint_mask).view(1, -1, 1, 1).to(images.dtype)
        x = images
        for block in self.blocks:
            x = block(x)
        return self.image_head(self.stddev(x)).squeeze(1)

    def judge_coords(self, coords: torch.Tensor, joint_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of the MLP critic on N x J x 2 unit pose coordinates."""
        mask = torch.ones(coords.shape[1], device=coords.device) if joint_mask is None else joint_mask.float()
        flat = (coords * mask.view(1, -1, 1)).flatten(1)
        h = self.coord_net(torch.cat([flat, mask.expand(coords.shape[0], -1)], dim=1))
        return self.coord_head(self.coord_stddev(h)).squeeze(1)

    def channel_mask(self, joint_mask: torch.Tensor) -> torch.Tensor:
        """Image channels to keep for a joint mask: the joints' heatmaps and limbs between two kept joints."""
        limbs = self.limbs.to(joint_mask.device)
        keep_limbs = joint_mask[limbs[:, 0]] & joint_mask[limbs[:, 1]] if len(limbs) else joint_mask[:0]
        return torch.cat([joint_mask, keep_limbs])[: self.config.in_channels]

    def forward(
        self,
        images: torch.Tensor | None = None,
        coords: torch.Tensor | None = None,
        joint_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """``(image_logits, coord_logits)``; either input may be None to skip its critic."""
        image_logits = self.judge_images(images, joint_mask) if images is not None else None
        coord_logits = self.judge_coords(coords, joint_mask) if coords is not None else None
        return image_logits, coord_logits


def load_discriminator(directory: str) -> PoseDiscriminator:
    """Load a discriminator saved beside a generator (``<generator>/discriminator``), strictly."""
    import json
    from pathlib import Path

    from ..errors import CheckpointError
    from .generator import load_strict

    path = Path(directory)
    try:
        config = PoseDiscriminatorConfig(**json.loads((path / "config.json").read_text()))
    except (OSError, json.JSONDecodeError, TypeError) as exc:
        raise CheckpointError(f"{path}: no usable discriminator config ({exc})") from None
    model = PoseDiscriminator(config)
    load_strict(model, path / "model.safetensors")
    return model
