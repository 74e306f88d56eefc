"""Pose-conditioned image synthesis: FlexPose samples -> OpenPose drawings -> diffusers ControlNet.

Each returned image comes with the OpenPose keypoints that conditioned it, so every image is
annotated by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..drawing import draw_openpose
from ..export_openpose import fit_unit_poses, to_openpose18
from ..loading import base_generator, sample_poses


@dataclass
class PoseControlNetOutput:
    images: list[Image.Image]
    keypoints: np.ndarray  # N x 18 x 2 OpenPose pixels on the output canvas (NaN = joint left out)
    conditioning_images: list[Image.Image]


class FlexPoseControlNetPipeline:
    """Sample poses from a (possibly adapted) FlexPose generator and render people in them.

    Args:
        generator: a FlexPoseGenerator, or a PeftModel / adaptor wrapping one.
        controlnet_pipeline: a diffusers ``StableDiffusionControlNetPipeline`` (or SDXL's) whose
            ControlNet was trained on OpenPose drawings, e.g. ``lllyasviel/control_v11p_sd15_openpose``.
        approximate_head: approximate a nose from head-top/upper-neck for skeletons without face
            joints (an explicit approximation; off by default, so no face keypoints are invented).
        margin: share of the canvas left free on each side when fitting a pose (aspect kept).
    """

    def __init__(self, generator: nn.Module, controlnet_pipeline, approximate_head: bool = False,
                 margin: float = 0.1) -> None:
        self.generator = generator
        self.pipe = controlnet_pipeline
        self.skeleton = base_generator(generator).config.skeleton
        self.approximate_head = approximate_head
        self.margin = margin

    def poses(self, num_poses: int, width: int, height: int, seed: int | None = 0) -> np.ndarray:
        """N x 18 x 2 OpenPose pixel keypoints of freshly sampled poses."""
        unit = sample_poses(self.generator, num_poses, seed=seed)
        return to_openpose18(fit_unit_poses(unit, width, height, self.margin), self.skeleton, self.approximate_head)

    def __call__(
        self,
        prompt: str | list[str],
        num_images: int = 1,
        height: int = 512,
        width: int = 512,
        seed: int | None = 0,
        controlnet_conditioning_scale: float = 1.0,
        num_inference_steps: int = 30,
        guidance_scale: float = 7.5,
        keypoints: np.ndarray | None = None,
        **pipeline_kwargs,
    ) -> PoseControlNetOutput:
        """Images of ``prompt`` in ``num_images`` sampled poses (or the given OpenPose ``keypoints``)."""
        if keypoints is None:
            keypoints = self.poses(num_images, width, height, seed)
        conditioning = [draw_openpose(k, height, width) for k in keypoints]
        prompts = [prompt] * len(conditioning) if isinstance(prompt, str) else list(prompt)
        generator = torch.Generator(device="cpu").manual_seed(seed) if seed is not None else None
        result = self.pipe(
            prompt=prompts, image=conditioning, height=height, width=width, num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale, controlnet_conditioning_scale=controlnet_conditioning_scale,
            generator=generator, **pipeline_kwargs,
        )
        return PoseControlNetOutput(list(result.images), np.asarray(keypoints), conditioning)

    @classmethod
    def from_pretrained(cls, base: str | None = None, adapter: str | None = None,
                        stable_diffusion: str = "stable-diffusion-v1-5/stable-diffusion-v1-5",
                        controlnet: str = "lllyasviel/control_v11p_sd15_openpose", torch_dtype=None,
                        **kwargs) -> FlexPoseControlNetPipeline:
        """Load the FlexPose generator (+ adapter) and an SD 1.5 OpenPose ControlNet pipeline."""
        from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

        from ..loading import load_generator

        net = ControlNetModel.from_pretrained(controlnet, torch_dtype=torch_dtype)
        pipe = StableDiffusionControlNetPipeline.from_pretrained(stable_diffusion, controlnet=net,
                                                                 torch_dtype=torch_dtype)
        return cls(load_generator(base, adapter), pipe, **kwargs)
