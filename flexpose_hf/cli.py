"""The ``flexpose`` command: thin wrappers over the library."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from .errors import FlexPoseError

DEMO_TARGET = Path(__file__).parent / "data" / "coco_demo_10.json"


def _cmd_skeletons(args: argparse.Namespace) -> int:
    from .skeletons import get_skeleton, list_skeletons

    for name in list_skeletons():
        s = get_skeleton(name)
        print(f"{name:12s} {s.num_joints:3d} joints {len(s.limbs):3d} limbs  {s.description}")
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from .codec import SkeletonImageCodec, fit_to_canvas
    from .drawing import pose_grid
    from .io import complete_mask, load_poses, pose_arrays, skeleton_of
    from .skeletons import get_skeleton

    ds = load_poses(args.input, format=args.format, skeleton=args.skeleton)
    skeleton = get_skeleton(skeleton_of(ds))
    keypoints, _ = pose_arrays(ds)
    keypoints = keypoints[: args.num]
    usable = ~np.isnan(keypoints).all(axis=(1, 2))
    keypoints = keypoints[usable]
    if len(keypoints) == 0:
        raise FlexPoseError(f"{args.input}: no pose with any labelled joint")
    codec = SkeletonImageCodec(skeleton, args.resolution)
    canvas, transform = fit_to_canvas(keypoints, args.resolution)
    images = codec.encode(canvas)
    decoded, _ = codec.decode(images)
    error = np.linalg.norm(decoded - canvas, axis=-1)
    both = ~np.isnan(error)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    pose_grid([keypoints[:8], transform.inverse(decoded)[:8]], skeleton, row_labels=["input", "decoded"]).save(
        out / "roundtrip.png"
    )
    heat = images[:8].amax(dim=1).numpy()  # N x R x R, strongest channel per pixel
    strip = np.concatenate(list(heat), axis=1)
    from PIL import Image

    Image.fromarray((strip * 255).astype(np.uint8)).resize((strip.shape[1] * 4, strip.shape[0] * 4), 0).save(
        out / "skeleton_images.png"
    )
    summary = {
        "input": str(args.input),
        "skeleton": skeleton.name,
        "poses": len(keypoints),
        "complete_poses": int(complete_mask(keypoints).sum()),
        "resolution": args.resolution,
        "channels": codec.num_channels,
        "roundtrip_error_px_mean": float(error[both].mean()),
        "roundtrip_error_px_max": float(error[both].max()),
        "missing_preserved": bool((np.isnan(decoded).any(-1) == np.isnan(canvas).any(-1)).all()),
    }
    (out / "render.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"wrote {out / 'roundtrip.png'}, {out / 'skeleton_images.png'}, {out / 'render.json'}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .io import load_poses, pose_arrays, skeleton_of
    from .metrics import evaluate_poses, format_table
    from .utils import atomic_write_text

    samples = load_poses(args.samples, format=args.format)
    reference = load_poses(args.reference, format=args.reference_format)
    shots = load_poses(args.shots) if args.shots else None
    joints = args.joints if args.joints in ("shared", "limbs") else tuple(args.joints.split(","))
    result = evaluate_poses(
        pose_arrays(samples)[0], skeleton_of(samples), pose_arrays(reference)[0], skeleton_of(reference),
        shots=pose_arrays(shots)[0] if shots is not None else None,
        shots_skeleton=skeleton_of(shots) if shots is not None else None,
        joints=joints, max_poses=args.max_poses, seed=args.seed,
    )
    print(format_table(result))
    if args.output:
        atomic_write_text(args.output, json.dumps(result, indent=2))
        print(f"wrote {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flexpose", description="FlexPose pose generation and adaptation.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("skeletons", help="list the registered skeletons")
    p.set_defaults(func=_cmd_skeletons)

    p = sub.add_parser("render", help="draw poses as skeleton images, decode them back, write pictures")
    p.add_argument("--input", default=str(DEMO_TARGET), help="annotation file or .pts folder (default: bundled demo)")
    p.add_argument("--format", default=None, help="coco, mpii, lsp, pts, openpose or npz (detected if omitted)")
    p.add_argument("--skeleton", default=None, help="convert to this skeleton by joint name")
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--num", type=int, default=64, help="at most this many poses")
    p.add_argument("--output-dir", required=True)
    p.set_defaults(func=_cmd_render)
    p = sub.add_parser("evaluate", help="compare generated poses with real reference poses")
    p.add_argument("--samples", required=True, help="generated poses (any supported format)")
    p.add_argument("--reference", required=True, help="real poses (any supported format)")
    p.add_argument("--shots", default=None, help="the shots used for adaptation: adds memorization")
    p.add_argument("--format", default=None, help="format of --samples (detected if omitted)")
    p.add_argument("--reference-format", default=None, help="format of --reference (detected if omitted)")
    p.add_argument("--joints", default="shared", help="'shared' (default), 'limbs' or comma-separated names")
    p.add_argument("--max-poses", type=int, default=2000, help="subsample each set to this many (seeded)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default=None, help="write the metrics as JSON here")
    p.set_defaults(func=_cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return args.func(args)
    except FlexPoseError as exc:
        print(f"flexpose {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"flexpose {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
