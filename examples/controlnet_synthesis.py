"""People in FlexPose-sampled poses with a ControlNet (OpenPose), each image with its keypoints.

    python examples/controlnet_synthesis.py --adapter outputs/demo --prompt "a dancer on a stage" \
        --num_images 4 --output_dir outputs/controlnet
    # SD 1.5 defaults; SDXL: --stable_diffusion stabilityai/stable-diffusion-xl-base-1.0 \
    #                         --controlnet thibaud/controlnet-openpose-sdxl-1.0 --sdxl

The diffusion weights come from the Hub (or the HF cache when HF_HUB_OFFLINE=1). Writes
image_XXXX.png, its conditioning drawing cond_XXXX.png, and keypoints.json (OpenPose format).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from flexpose_hf.export_openpose import openpose_json
from flexpose_hf.loading import load_generator
from flexpose_hf.pipelines import FlexPoseControlNetPipeline


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default=None)
    p.add_argument("--adapter", default=None)
    p.add_argument("--prompt", required=True)
    p.add_argument("--num_images", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--height", type=int, default=512)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--controlnet_conditioning_scale", type=float, default=1.0)
    p.add_argument("--stable_diffusion", default="stable-diffusion-v1-5/stable-diffusion-v1-5")
    p.add_argument("--controlnet", default="lllyasviel/control_v11p_sd15_openpose")
    p.add_argument("--sdxl", action="store_true", help="use StableDiffusionXLControlNetPipeline")
    p.add_argument("--approximate_head", action="store_true", help="approximate a nose for MPII/LSP skeletons")
    p.add_argument("--output_dir", required=True)
    args = p.parse_args()

    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline, StableDiffusionXLControlNetPipeline

    dtype = torch.float16 if torch.cuda.is_available() else torch.float32
    net = ControlNetModel.from_pretrained(args.controlnet, torch_dtype=dtype)
    cls = StableDiffusionXLControlNetPipeline if args.sdxl else StableDiffusionControlNetPipeline
    pipe = cls.from_pretrained(args.stable_diffusion, controlnet=net, torch_dtype=dtype)
    pipe.to("cuda" if torch.cuda.is_available() else "cpu")
    pipeline = FlexPoseControlNetPipeline(load_generator(args.base, args.adapter), pipe,
                                          approximate_head=args.approximate_head)
    out = pipeline(args.prompt, num_images=args.num_images, height=args.height, width=args.width, seed=args.seed,
                   num_inference_steps=args.steps, controlnet_conditioning_scale=args.controlnet_conditioning_scale)
    folder = Path(args.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for i, (image, cond) in enumerate(zip(out.images, out.conditioning_images)):
        image.save(folder / f"image_{i:04d}.png")
        cond.save(folder / f"cond_{i:04d}.png")
    annotations = [openpose_json(k, args.width, args.height) for k in out.keypoints]
    (folder / "keypoints.json").write_text(json.dumps(annotations, indent=1))
    print(f"wrote {len(out.images)} images with their OpenPose keypoints to {folder}")


if __name__ == "__main__":
    main()
