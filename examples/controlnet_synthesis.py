"""People in FlexPose-sampled poses with a ControlNet (OpenPose), each image with its keypoints.

    python examples/controlnet_synthesis.py --adapter outputs/demo --prompt "a dancer on a stage" \
        --num-samples 4 --output-dir outputs/controlnet
    # SDXL: --stable-diffusion stabilityai/stable-diffusion-xl-base-1.0 (its OpenPose ControlNet,
    #       thibaud/controlnet-openpose-sdxl-1.0, is then the default)

Needs `pip install 'flexpose-hf[controlnet]'`. The diffusion weights come from the Hub (or the HF
cache when HF_HUB_OFFLINE=1). Writes image_XXXX.png, its conditioning drawing cond_XXXX.png, and
keypoints.json (OpenPose format), one pose per image.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from flexpose_hf.cli import ArgumentParser
from flexpose_hf.export_openpose import openpose_json
from flexpose_hf.pipelines import FlexPoseControlNetPipeline


def main() -> None:
    p = ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default=None, help="FlexPose generator: bundled name, local dir or Hub repo")
    p.add_argument("--adapter", default=None, help="adapter folder or Hub repo id (its recorded base is loaded)")
    p.add_argument("--prompt", required=True, help="what to draw in the poses")
    p.add_argument("--num-samples", type=int, default=4, help="images to make, one sampled pose each")
    p.add_argument("--seed", type=int, default=0, help="seeds the poses and the diffusion noise")
    p.add_argument("--height", type=int, default=None, help="pixels (default: 512 for SD 1.5, 1024 for SDXL)")
    p.add_argument("--width", type=int, default=None, help="pixels (default: 512 for SD 1.5, 1024 for SDXL)")
    p.add_argument("--num-inference-steps", type=int, default=30, help="diffusion denoising steps")
    p.add_argument("--controlnet-conditioning-scale", type=float, default=1.0, help="how strongly poses steer")
    p.add_argument("--stable-diffusion", default="stable-diffusion-v1-5/stable-diffusion-v1-5",
                   help="SD 1.5 or SDXL base (Hub id or folder)")
    p.add_argument("--controlnet", default=None, help="OpenPose ControlNet for that base (default: the usual one)")
    p.add_argument("--approximate-head", action="store_true", help="approximate a nose for MPII/LSP skeletons")
    p.add_argument("--output-dir", required=True, help="folder for images, drawings and keypoints.json")
    args = p.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.float16 if device == "cuda" else torch.float32
    pipeline = FlexPoseControlNetPipeline.from_pretrained(
        args.stable_diffusion, controlnet=args.controlnet, pose_generator=args.base, adapter=args.adapter,
        approximate_head=args.approximate_head, torch_dtype=dtype).to(device)
    out = pipeline(args.prompt, num_images_per_prompt=args.num_samples, height=args.height, width=args.width,
                   num_inference_steps=args.num_inference_steps,
                   controlnet_conditioning_scale=args.controlnet_conditioning_scale,
                   generator=torch.Generator(device).manual_seed(args.seed))
    folder = Path(args.output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    height, width = out.conditioning_images[0].height, out.conditioning_images[0].width
    for i, (image, cond) in enumerate(zip(out.images, out.conditioning_images)):
        image.save(folder / f"image_{i:04d}.png")
        cond.save(folder / f"cond_{i:04d}.png")
    annotations = [openpose_json(k, width, height) for k in out.keypoints]
    (folder / "keypoints.json").write_text(json.dumps(annotations, indent=1))
    print(f"wrote {len(out.images)} images with their OpenPose keypoints to {folder}")


if __name__ == "__main__":
    main()
