"""A tiny Stable Diffusion + ControlNet pipeline built from configs with random weights (no download)."""

from __future__ import annotations

import json
from pathlib import Path

import torch


def write_clip_tokenizer(directory: Path) -> Path:
    """A byte-level CLIP tokenizer with single-character tokens only (no merges)."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "merges.txt").write_text("#version: 0.2\n")
    return directory


def tiny_controlnet_pipeline(tmp: Path):
    from diffusers import (
        AutoencoderKL,
        ControlNetModel,
        DDIMScheduler,
        StableDiffusionControlNetPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16, norm_num_groups=4, attention_head_dim=2,
    )
    controlnet = ControlNetModel(
        block_out_channels=(8, 16), layers_per_block=1, in_channels=4, down_block_types=(
            "CrossAttnDownBlock2D", "DownBlock2D"), cross_attention_dim=16, norm_num_groups=4, attention_head_dim=2,
        conditioning_embedding_out_channels=(4, 8),
    )
    vae = AutoencoderKL(block_out_channels=(8, 16), in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), norm_num_groups=4)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=2, vocab_size=600,
        projection_dim=16, max_position_embeddings=77, bos_token_id=514, eos_token_id=515, pad_token_id=515))
    tokenizer = CLIPTokenizer.from_pretrained(str(write_clip_tokenizer(tmp)), model_max_length=77)
    pipe = StableDiffusionControlNetPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, controlnet=controlnet,
        scheduler=DDIMScheduler(), safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_tiny_sd15(pipe, folder: Path) -> tuple[Path, Path]:
    """``pipe``'s SD 1.5 base and its ControlNet saved as the Hub would serve them: (base, controlnet)."""
    from diffusers import StableDiffusionPipeline

    parts = {k: pipe.components[k] for k in ("vae", "text_encoder", "tokenizer", "unet", "scheduler")}
    StableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=None,
                            requires_safety_checker=False).save_pretrained(folder / "sd15")
    pipe.controlnet.save_pretrained(folder / "sd15-openpose")
    return folder / "sd15", folder / "sd15-openpose"


def tiny_sdxl_components(tmp: Path) -> dict:
    """SDXL ControlNet components (two text encoders, text-time embedding) with random weights."""
    from diffusers import AutoencoderKL, ControlNetModel, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(0)
    sdxl = {"addition_embed_type": "text_time", "addition_time_embed_dim": 8, "cross_attention_dim": 32,
            "projection_class_embeddings_input_dim": 6 * 8 + 16, "use_linear_projection": True}
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=4, attention_head_dim=2, **sdxl)
    controlnet = ControlNetModel(
        block_out_channels=(8, 16), layers_per_block=1, in_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), norm_num_groups=4, attention_head_dim=2,
        conditioning_embedding_out_channels=(4, 8), **sdxl)
    vae = AutoencoderKL(block_out_channels=(8, 16), in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), norm_num_groups=4)
    text = {"hidden_size": 16, "intermediate_size": 32, "num_attention_heads": 2, "num_hidden_layers": 2,
            "vocab_size": 600, "projection_dim": 16, "max_position_embeddings": 77, "bos_token_id": 514,
            "eos_token_id": 515, "pad_token_id": 515, "hidden_act": "gelu"}
    tokenizer = CLIPTokenizer.from_pretrained(str(write_clip_tokenizer(tmp)), model_max_length=77)
    return {"vae": vae, "unet": unet, "controlnet": controlnet, "scheduler": EulerDiscreteScheduler(),
            "text_encoder": CLIPTextModel(CLIPTextConfig(**text)), "tokenizer": tokenizer,
            "text_encoder_2": CLIPTextModelWithProjection(CLIPTextConfig(**text)), "tokenizer_2": tokenizer}
