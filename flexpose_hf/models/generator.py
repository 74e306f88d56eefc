"""FlexPoseGenerator: g(z) = phi(A(f(z))), a StyleGAN2-style generator of skeleton images.

``f`` maps noise to the intermediate latent w, ``A`` holds one plain ``nn.Linear`` affine "style"
layer per synthesis layer (so PEFT methods can target ``A.<i>`` by name), and ``phi`` runs
modulated, demodulated convolutions from a learned constant to per-joint heatmap logits. The
heatmaps pass a keypoint bottleneck (spatial soft-argmax) and are re-drawn by the
``SkeletonImageCodec``, so every output is a sharp skeleton image that decodes exactly. A generator
may also carry a fitted point distribution model after the bottleneck (``shape_model.py``).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin, constants, hf_hub_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
)
from torch import nn

from ..codec import DEFAULT_MARGIN, SkeletonImageCodec, canvas_to_unit, unit_to_canvas
from ..errors import CheckpointError
from ..skeletons import get_skeleton
from ..utils import read_safetensors, save_safetensors
from .layers import ModulatedConv2d, spatial_soft_argmax
from .mapping import LatentBankMapping, MappingNetwork
from .shape_model import ShapeModel


@dataclass
class FlexPoseGeneratorConfig:
    """Everything needed to rebuild a generator; stored as ``config.json``."""

    skeleton: str = "mpii16"
    resolution: int = 32
    z_dim: int = 32
    w_dim: int = 64
    mapping_layers: int = 4
    channels: list[int] = field(default_factory=lambda: [64, 64, 32])  # at 4x4, 8x8, 16x16
    margin: float = DEFAULT_MARGIN
    limb_channels: bool = True
    sigma: float | None = None
    mapping: str = "mlp"  # f: "mlp" (MappingNetwork) or "bank" (LatentBankMapping over bank_size w codes)
    bank_size: int = 0
    shape_components: int = 0  # > 0: decoded keypoints pass a fitted point distribution model (shape_model.py)

    def __post_init__(self) -> None:
        get_skeleton(self.skeleton)  # raises a clear error for an unknown skeleton
        if self.mapping not in ("mlp", "bank"):
            raise CheckpointError(f"config 'mapping' must be 'mlp' or 'bank', got {self.mapping!r}")
        if self.mapping == "bank" and (self.bank_size < 1 or self.z_dim < 2):
            raise CheckpointError(f"config: a 'bank' mapping needs bank_size >= 1 and z_dim >= 2, got "
                                  f"bank_size {self.bank_size}, z_dim {self.z_dim}")
        if self.shape_components < 0:
            raise CheckpointError(f"config 'shape_components' must be >= 0, got {self.shape_components}")
        if len(self.channels) < 2:
            raise CheckpointError("config 'channels' needs at least two stages (4x4 and 8x8)")
        if self.heatmap_resolution > self.resolution:
            raise CheckpointError(
                f"config: {len(self.channels)} stages give {self.heatmap_resolution}x{self.heatmap_resolution} "
                f"heatmaps, larger than the {self.resolution}px canvas"
            )

    @property
    def heatmap_resolution(self) -> int:
        return 4 * 2 ** (len(self.channels) - 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FlexPoseGeneratorConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CheckpointError(f"config.json has unknown fields {unknown}")
        return cls(**data)


class SynthesisNetwork(nn.Module):
    """phi: per-layer styles -> per-joint heatmap logits at ``heatmap_resolution``.

    Layers: a 3x3 conv at 4x4, then per stage an upsampling 3x3 conv and a 3x3 conv, then a
    modulated (not demodulated) 1x1 conv to one logit map per joint.
    """

    def __init__(self, channels: list[int], num_joints: int) -> None:
        super().__init__()
        self.const = nn.Parameter(torch.randn(1, channels[0], 4, 4))
        convs = [ModulatedConv2d(channels[0], channels[0], 3)]
        for prev, cur in pairwise(channels):
            convs += [ModulatedConv2d(prev, cur, 3, upsample=True), ModulatedConv2d(cur, cur, 3)]
        self.convs = nn.ModuleList(convs)
        self.to_heatmaps = ModulatedConv2d(channels[-1], num_joints, 1, demodulate=False)
        self.activation = nn.LeakyReLU(0.2)

    @property
    def style_dims(self) -> list[int]:
        """Input channels of each layer: the size of the style code it takes."""
        return [conv.weight.shape[1] for conv in (*self.convs, self.to_heatmaps)]

    def forward(self, styles: list[torch.Tensor]) -> torch.Tensor:
        # Channels-last: oneDNN's convolutions and the bilinear upsampling run 1.2x (one thread) to
        # 1.35x (two threads) faster on CPU than in the default layout (BENCHMARKS.md); same values.
        x = self.const.expand(styles[0].shape[0], -1, -1, -1).contiguous(memory_format=torch.channels_last)
        for conv, style in zip(self.convs, styles):
            x = self.activation(conv(x, style))
        return self.to_heatmaps(x, styles[-1])


class FlexPoseGenerator(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="flexpose_hf",
    tags=["flexpose", "pose-generation", "stylegan2"],
    repo_url="https://github.com/flexpose-hf/flexpose_hf",
    license="apache-2.0",
):
    """StyleGAN2-style skeleton-image generator with the f / A / phi decomposition FlexPose adapts.

    ``FlexPoseGenerator.from_pretrained("mpii-body")`` loads the bundled MPII body generator;
    any local directory in Hub layout, HF cache entry or Hub repo id works too.
    """

    def __init__(self, config: FlexPoseGeneratorConfig | dict | None = None) -> None:
        super().__init__()
        if config is None:
            config = FlexPoseGeneratorConfig()
        elif isinstance(config, dict):
            config = FlexPoseGeneratorConfig.from_dict(config)
        self.config = config
        self._hub_mixin_config = config
        self.name_or_path = ""
        skeleton = get_skeleton(config.skeleton)
        self.codec = SkeletonImageCodec(skeleton, config.resolution, config.sigma, config.limb_channels)
        self.f = (LatentBankMapping(config.z_dim, config.w_dim, config.bank_size) if config.mapping == "bank"
                  else MappingNetwork(config.z_dim, config.w_dim, config.mapping_layers))
        self.phi = SynthesisNetwork(config.channels, skeleton.num_joints)
        self.A = nn.ModuleList(nn.Linear(config.w_dim, dim) for dim in self.phi.style_dims)
        for affine in self.A:
            nn.init.ones_(affine.bias)  # styles start at 1: plain convolutions at initialization
        # Soft-argmax sharpness, learned.
        self.heatmap_log_temperature = nn.Parameter(torch.tensor(1.5))
        self.register_buffer("w_avg", torch.zeros(config.w_dim))
        self.shape_model = ShapeModel(skeleton.num_joints, config.shape_components) if config.shape_components else None

    # --- the decomposition -----------------------------------------------------------------------
    @property
    def num_style_layers(self) -> int:
        return len(self.A)

    @property
    def device(self) -> torch.device:
        """Where the weights are (as diffusers models report it; ``DiffusionPipeline.to`` reads it)."""
        return self.w_avg.device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def mapping(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        """f: z (N x z_dim) -> w (N x w_dim), optionally truncated toward the running mean."""
        w = self.f(z)
        if truncation != 1.0:
            w = self.w_avg + truncation * (w - self.w_avg)
        return w

    def styles(self, w: torch.Tensor) -> list[torch.Tensor]:
        """A: w -> one style code per synthesis layer."""
        return [affine(w) for affine in self.A]

    def keypoints_from_styles(self, styles: list[torch.Tensor]) -> torch.Tensor:
        """phi up to the keypoint bottleneck: N x J x 2 canvas-pixel coordinates."""
        logits = self.phi(styles) * self.heatmap_log_temperature.exp()
        grid = spatial_soft_argmax(logits)  # pixel units of the heatmap grid
        factor = self.config.resolution / self.config.heatmap_resolution
        keypoints = (grid + 0.5) * factor - 0.5
        return keypoints if self.shape_model is None else self.shape_model(keypoints)

    def synthesis(self, styles: list[torch.Tensor]) -> torch.Tensor:
        """phi: styles -> N x C x R x R skeleton images."""
        return self.codec.encode(self.keypoints_from_styles(styles))

    def forward(self, z: torch.Tensor, truncation: float = 1.0, output: str = "images") -> torch.Tensor:
        """z -> skeleton images (``output="images"``) or canvas keypoints (``output="keypoints"``)."""
        keypoints = self.keypoints_from_styles(self.styles(self.mapping(z, truncation)))
        if output == "keypoints":
            return keypoints
        if output != "images":
            raise ValueError(f"output must be 'images' or 'keypoints', got {output!r}")
        return self.codec.encode(keypoints)

    def generate_keypoints(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        """z -> N x J x 2 canvas keypoints (what the skeleton images decode to, without drawing them)."""
        return self.keypoints_from_styles(self.styles(self.mapping(z, truncation)))

    # --- user-facing sampling --------------------------------------------------------------------
    @torch.inference_mode()
    def sample(
        self,
        num_samples: int,
        seed: int | None = None,
        truncation: float = 1.0,
        return_images: bool = False,
        batch_size: int = 512,
    ) -> dict[str, np.ndarray | torch.Tensor]:
        """Draw poses: ``keypoints`` (N x J x 2 pose coordinates: centred, longer side 1),
        ``confidence`` (N x J) and, with ``return_images``, the ``images`` (N x C x R x R)."""
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        device = self.w_avg.device
        z = torch.randn(num_samples, self.config.z_dim, generator=generator).to(device)
        canvas, images = [], []
        for chunk in z.split(batch_size):
            kp = self.generate_keypoints(chunk, truncation)
            canvas.append(kp.float().cpu())
            if return_images:
                images.append(self.codec.encode(kp).cpu())
        canvas_kp = torch.cat(canvas).numpy() if canvas else np.zeros((0, self.codec.num_joints, 2), np.float32)
        out: dict[str, np.ndarray | torch.Tensor] = {
            "keypoints": canvas_to_unit(canvas_kp, self.config.resolution, self.config.margin).astype(np.float32),
            "canvas_keypoints": canvas_kp,
            "confidence": np.ones(canvas_kp.shape[:2], np.float32),
        }
        if return_images:
            out["images"] = torch.cat(images)
            _, out["confidence"] = self.codec.decode(out["images"])
        return out

    def to_canvas(self, unit_keypoints: np.ndarray) -> np.ndarray:
        return unit_to_canvas(unit_keypoints, self.config.resolution, self.config.margin)

    # --- hub ---------------------------------------------------------------------------------------
    def _save_pretrained(self, save_directory: Path) -> None:
        save_safetensors(self, Path(save_directory) / constants.SAFETENSORS_SINGLE_FILE,
                         metadata={"format": "pt", "skeleton": self.config.skeleton})

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> FlexPoseGenerator:
        """Load from a bundled short name (``mpii-body``, ``helen-face``), a local directory in Hub
        layout, or a Hub repo id (cache first; ``HF_HUB_OFFLINE=1`` works). Loading is strict."""
        from ..hub import BUNDLED, HUB_IDS, resolve_pretrained

        resolved = resolve_pretrained(pretrained_model_name_or_path)
        try:
            model = super().from_pretrained(resolved, **kwargs)
        except (EntryNotFoundError, LocalEntryNotFoundError, OfflineModeIsEnabled, HFValidationError,
                HfHubHTTPError) as exc:  # only a Hub repo id gets here; bundled names and local dirs do not
            raise CheckpointError(
                f"{pretrained_model_name_or_path}: not a bundled generator ({', '.join(BUNDLED)}), not a local "
                f"directory, and not a Hub repo found in the local cache or on the Hub ({type(exc).__name__})"
            ) from None
        # bundled generators go by their Hub id, so adapters record a base the Hub (and peft) accept
        model.name_or_path = HUB_IDS.get(str(pretrained_model_name_or_path), str(pretrained_model_name_or_path))
        model._source_dir = resolved if os.path.isdir(resolved) else None
        return model

    def generate_model_card(self, *args: Any, **kwargs: Any) -> ModelCard:
        """The card saved by ``save_pretrained``/``push_to_hub``: the loaded folder's own card when it has
        one (it records data, command and measured metrics), else one rendered from the config."""
        from ..hub import generator_card_data, hub_id, mapping_sentence, picture, render_card, shape_sentence

        source = getattr(self, "_source_dir", None)
        if source and (Path(source) / "README.md").exists():
            return ModelCard((Path(source) / "README.md").read_text(encoding="utf-8"))
        unknown = "not recorded"
        repo = hub_id(self.name_or_path) if self.name_or_path else None
        return render_card(
            "generator", generator_card_data(), picture=picture("samples.png", "samples", None),
            name=self.name_or_path or "flexpose-generator", repo=repo or "YOUR-NAME/flexpose-generator",
            skeleton=self.config.skeleton, num_joints=self.codec.num_joints, data=unknown,
            mapping_sentence=mapping_sentence(self.config.to_dict()),
            shape_sentence=shape_sentence(self.config.to_dict()), training_poses=unknown,
            held_out_poses=unknown, flips=unknown, steps=unknown, batch_size=unknown, wall_minutes=unknown,
            hardware=unknown, parameters=f"{sum(p.numel() for p in self.parameters()):,}", command=unknown,
            samples_vs_held_out=0, eval_joints=unknown, metrics_table="(no metrics recorded)",
            data_terms="see the training data's terms.", quality_note="No quality was measured for these weights.")

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision: str | None = None,
        cache_dir: str | Path | None = None,
        force_download: bool = False,
        local_files_only: bool = False,
        token: str | bool | None = None,
        map_location: str = "cpu",
        config: FlexPoseGeneratorConfig | dict | None = None,
        **unused: Any,
    ) -> FlexPoseGenerator:
        if config is None:
            raise CheckpointError(f"{model_id}: no config.json; is this a FlexPoseGenerator directory?")
        model = cls(config)
        if os.path.isdir(model_id):
            weights = os.path.join(model_id, constants.SAFETENSORS_SINGLE_FILE)
            if not os.path.exists(weights):
                raise CheckpointError(f"{model_id}: no {constants.SAFETENSORS_SINGLE_FILE} (weights are read only "
                                      "from safetensors)")
        else:
            try:
                weights = hf_hub_download(model_id, constants.SAFETENSORS_SINGLE_FILE, revision=revision,
                                          cache_dir=cache_dir, force_download=force_download, token=token,
                                          local_files_only=local_files_only)
            except (EntryNotFoundError, LocalEntryNotFoundError, HfHubHTTPError) as exc:
                raise CheckpointError(f"{model_id}: cannot get {constants.SAFETENSORS_SINGLE_FILE} ({exc})") from None
        load_strict(model, weights)
        return model.to(map_location)


def load_strict(model: nn.Module, weights_file: str | os.PathLike) -> None:
    """Load safetensors weights into ``model``; any truncation, missing, unexpected or mis-shaped
    tensor is a ``CheckpointError`` naming the file and the tensors."""
    state = read_safetensors(weights_file)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        if mismatched:
            parts.append("shape mismatch " + ", ".join(
                f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in mismatched[:5]))
        raise CheckpointError(f"{weights_file}: weights do not fit the config: " + "; ".join(parts))
    model.load_state_dict(state, strict=True)
