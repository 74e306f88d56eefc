"""Pose-conditioned image synthesis: FlexPose samples -> OpenPose drawings -> diffusers ControlNet.

``FlexPoseControlNetPipeline`` is a ``DiffusionPipeline``: its components are the pose generator
(a FlexPose generator, adapted or not) and the components of a Stable Diffusion 1.5 or SDXL
ControlNet pipeline, so ``to()``, CPU offload, progress bars and ``save_pretrained`` behave as in
diffusers. Every image comes with the OpenPose keypoints that conditioned it: annotated by
construction.
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
import torch
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from torch import nn

from ..drawing import draw_openpose
from ..errors import FlexPoseError
from ..export_openpose import fit_unit_poses, to_openpose18
from ..loading import base_generator, decode_latents
from ..models import FlexPoseGenerator

SD15_OPENPOSE = ("stable-diffusion-v1-5/stable-diffusion-v1-5", "lllyasviel/control_v11p_sd15_openpose")
SDXL_OPENPOSE = ("stabilityai/stable-diffusion-xl-base-1.0", "thibaud/controlnet-openpose-sdxl-1.0")


@dataclass
class FlexPoseControlNetOutput(BaseOutput):
    """Images, and for each image the OpenPose keypoints (pixels, NaN = joint left out) and drawing."""

    images: list[PIL.Image.Image] | np.ndarray
    keypoints: np.ndarray  # N x 18 x 2
    conditioning_images: list[PIL.Image.Image]


class FlexPoseControlNetPipeline(DiffusionPipeline):
    """Sample poses from a (possibly adapted) FlexPose generator and render people in them.

    Args:
        pose_generator: a ``FlexPoseGenerator``, or a PeftModel / adaptor wrapping one.
        vae, text_encoder, tokenizer, unet, controlnet, scheduler: a Stable Diffusion ControlNet
            pipeline's components; the ControlNet must be trained on OpenPose drawings.
        text_encoder_2, tokenizer_2: given for SDXL, left out for SD 1.5.
        approximate_head: place a nose between upper neck and head top for skeletons without face
            joints (MPII, LSP); an explicit approximation, off by default.
        margin: share of the canvas left free on each side when a pose is fitted (aspect kept).
    """

    model_cpu_offload_seq = "text_encoder->text_encoder_2->unet->vae"
    _optional_components = ["text_encoder_2", "tokenizer_2"]  # noqa: RUF012 (diffusers' class attribute)

    def __init__(self, pose_generator: nn.Module, vae, text_encoder, tokenizer, unet, controlnet, scheduler,
                 text_encoder_2=None, tokenizer_2=None, approximate_head: bool = False, margin: float = 0.1) -> None:
        super().__init__()
        self.register_modules(pose_generator=pose_generator, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                              unet=unet, controlnet=controlnet, scheduler=scheduler, text_encoder_2=text_encoder_2,
                              tokenizer_2=tokenizer_2)
        self.register_to_config(approximate_head=approximate_head, margin=margin)

    @property
    def is_sdxl(self) -> bool:
        return self.text_encoder_2 is not None

    def diffusion_pipeline(self) -> DiffusionPipeline:
        """The plain diffusers ControlNet pipeline over the same component objects (nothing copied)."""
        from diffusers import StableDiffusionControlNetPipeline, StableDiffusionXLControlNetPipeline

        shared = {"vae": self.vae, "text_encoder": self.text_encoder, "tokenizer": self.tokenizer, "unet": self.unet,
                  "controlnet": self.controlnet, "scheduler": self.scheduler}
        if self.is_sdxl:
            pipe = StableDiffusionXLControlNetPipeline(**shared, text_encoder_2=self.text_encoder_2,
                                                       tokenizer_2=self.tokenizer_2, add_watermarker=False)
        else:
            pipe = StableDiffusionControlNetPipeline(**shared, safety_checker=None, feature_extractor=None,
                                                     requires_safety_checker=False)
        pipe.set_progress_bar_config(**getattr(self, "_progress_bar_config", {}))
        return pipe

    @torch.no_grad()
    def sample_keypoints(self, num_poses: int, width: int, height: int,
                         generator: torch.Generator | list[torch.Generator] | None = None) -> np.ndarray:
        """N x 18 x 2 OpenPose pixel keypoints of freshly sampled poses (latents drawn from ``generator``)."""
        base = base_generator(self.pose_generator)
        device = next(base.parameters()).device
        z = randn_tensor((num_poses, base.config.z_dim), generator=generator, device=device, dtype=torch.float32)
        unit = decode_latents(self.pose_generator, z)
        pixels = fit_unit_poses(unit, width, height, self.config.margin)
        return to_openpose18(pixels, base.config.skeleton, self.config.approximate_head)

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        num_images_per_prompt: int = 1,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 30,
        guidance_scale: float = 7.5,
        negative_prompt: str | list[str] | None = None,
        controlnet_conditioning_scale: float = 1.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        keypoints: np.ndarray | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        **kwargs,
    ) -> FlexPoseControlNetOutput | tuple:
        """Images of each prompt in ``num_images_per_prompt`` sampled poses, one pose per image.

        ``keypoints`` (N x 18 x 2 OpenPose pixels, N = prompts x images per prompt) replaces the
        sampled poses. ``generator`` seeds both the poses and the diffusion noise. Other keyword
        arguments go to the diffusers ControlNet pipeline.
        """
        default = 1024 if self.is_sdxl else 512
        height, width = height or default, width or default
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        if not prompts:
            raise FlexPoseError("prompt: give at least one prompt")
        if num_images_per_prompt < 1:
            raise FlexPoseError(f"num_images_per_prompt must be >= 1, got {num_images_per_prompt}")
        count = len(prompts) * num_images_per_prompt
        if keypoints is None:
            keypoints = self.sample_keypoints(count, width, height, generator)
        keypoints = np.asarray(keypoints, np.float64)
        if keypoints.shape != (count, 18, 2):
            raise FlexPoseError(f"keypoints: expected {count} x 18 x 2 OpenPose pixels (prompts x images per "
                                f"prompt), got {' x '.join(map(str, keypoints.shape))}")
        conditioning = [draw_openpose(k, height, width) for k in keypoints]
        per_image = [p for p in prompts for _ in range(num_images_per_prompt)]
        negatives = None
        if negative_prompt is not None:
            neg = [negative_prompt] * len(prompts) if isinstance(negative_prompt, str) else list(negative_prompt)
            negatives = [n for n in neg for _ in range(num_images_per_prompt)]
        result = self.diffusion_pipeline()(
            prompt=per_image, negative_prompt=negatives, image=conditioning, height=height, width=width,
            num_images_per_prompt=1, num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
            controlnet_conditioning_scale=controlnet_conditioning_scale, generator=generator,
            output_type=output_type, **kwargs)
        self.maybe_free_model_hooks()
        if not return_dict:
            return result.images, keypoints, conditioning
        return FlexPoseControlNetOutput(images=result.images, keypoints=keypoints, conditioning_images=conditioning)

    def save_pretrained(self, save_directory: str | os.PathLike, push_to_hub: bool = False, **kwargs) -> None:
        """diffusers' folder layout, with the pose generator in ``pose_generator/`` (Hub layout too).

        A PEFT-wrapped generator is merged first (``merge_and_unload``) so the folder stands alone.
        """
        pose = self.pose_generator
        if not isinstance(pose, FlexPoseGenerator):
            if not hasattr(pose, "merge_and_unload"):
                raise FlexPoseError(f"save_pretrained: cannot save a {type(pose).__name__} pose generator; "
                                    "save its adapter with its own save_pretrained")
            pose = copy.deepcopy(pose).merge_and_unload()
        repo_id = kwargs.pop("repo_id", None)
        private, token = kwargs.pop("private", None), kwargs.pop("token", None)
        kwargs.pop("commit_message", None)
        saved = logging.getLogger("diffusers.pipelines.pipeline_utils")
        level = saved.level
        saved.setLevel(logging.ERROR)  # diffusers warns it cannot save the pose generator: saved below
        try:
            super().save_pretrained(save_directory, **kwargs)
        finally:
            saved.setLevel(level)
        # model_index.json keeps diffusers' [null, null] for it (diffusers cannot type-check a class of
        # another library); from_pretrained below loads pose_generator/ itself
        pose.save_pretrained(Path(save_directory) / "pose_generator")
        if push_to_hub:
            from ..hub import push_folder

            push_folder(save_directory, repo_id or Path(save_directory).name, "Upload FlexPose ControlNet pipeline",
                        private=private, token=token)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | None = None, *, controlnet: str | None = None,
                        pose_generator: str | nn.Module | None = None, adapter: str | None = None,
                        approximate_head: bool = False, torch_dtype: torch.dtype | None = None,
                        **kwargs) -> FlexPoseControlNetPipeline:
        """A saved FlexPose ControlNet pipeline, or one assembled from Hub ids (or local folders).

        With a folder saved by ``save_pretrained`` this is diffusers' loader. Otherwise
        ``pretrained_model_name_or_path`` is a Stable Diffusion 1.5 or SDXL base (told apart by its
        ``model_index.json``) and ``controlnet`` an OpenPose ControlNet for it (defaults: SD 1.5
        with ``lllyasviel/control_v11p_sd15_openpose``; SDXL with ``thibaud/controlnet-openpose-sdxl-1.0``);
        ``pose_generator``/``adapter`` are what ``flexpose sample --base/--adapter`` take.
        """
        base_repo = pretrained_model_name_or_path or SD15_OPENPOSE[0]
        index = DiffusionPipeline.load_config(base_repo, **{k: kwargs[k] for k in ("cache_dir", "token", "revision",
                                                                                   "local_files_only") if k in kwargs})
        if index.get("_class_name") == cls.__name__:
            from huggingface_hub import snapshot_download

            folder = base_repo if os.path.isdir(base_repo) else snapshot_download(base_repo)
            pose = pose_generator if isinstance(pose_generator, nn.Module) else \
                FlexPoseGenerator.from_pretrained(str(Path(folder) / "pose_generator"))
            return super().from_pretrained(folder, pose_generator=pose, torch_dtype=torch_dtype, **kwargs)
        from diffusers import ControlNetModel

        from ..loading import load_generator

        sdxl = "XL" in str(index.get("_class_name", ""))
        net_repo = controlnet or (SDXL_OPENPOSE if sdxl else SD15_OPENPOSE)[1]
        net = ControlNetModel.from_pretrained(net_repo, torch_dtype=torch_dtype)
        names = ["vae", "text_encoder", "tokenizer", "unet", "scheduler"] + (["text_encoder_2", "tokenizer_2"]
                                                                             if sdxl else [])
        base = DiffusionPipeline.from_pretrained(base_repo, torch_dtype=torch_dtype, **kwargs)
        components = {name: base.components[name] for name in names}
        if pose_generator is None or isinstance(pose_generator, str):
            pose_generator = load_generator(pose_generator, adapter)
        return cls(pose_generator=pose_generator, controlnet=net, approximate_head=approximate_head, **components)
