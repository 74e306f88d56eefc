"""The ``flexpose`` command: thin wrappers over the library."""

from __future__ import annotations

import argparse
import json
import logging
import os
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
        if args.joints:
            print(f"{'':12s} {', '.join(s.joints)}")
    print("COCO JSON files with another layout (other joints or order) are read by their joint names, which are "
          "matched to these" + ("" if args.joints else " (--joints lists them)"))
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from .codec import SkeletonImageCodec, fit_to_canvas
    from .drawing import pose_grid
    from .io import complete_mask, load_poses, pose_arrays, skeleton_of
    from .skeletons import get_skeleton

    ds = load_poses(args.input, format=args.format, skeleton=args.skeleton)
    skeleton = get_skeleton(skeleton_of(ds))
    keypoints, _ = pose_arrays(ds)
    keypoints = keypoints[: args.max_poses]
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
    from .io import load_poses, parse_where, pose_arrays, select_where, skeleton_of
    from .metrics import evaluate_poses, format_table
    from .utils import atomic_write_text

    where = parse_where(args.where)
    samples = load_poses(args.samples, format=args.format)
    reference = load_poses(args.reference, format=args.reference_format)
    if where:
        reference = select_where(reference, where, args.reference)
    shots = load_poses(args.shots) if args.shots else None
    joints = args.joints if args.joints in ("protocol", "shared", "limbs") else tuple(args.joints.split(","))
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


def _parse_layers(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise FlexPoseError(f"--layers wants comma-separated style-layer numbers such as 0,1,2, got {text!r}") from None


def adapt_from_args(args: argparse.Namespace, accelerator=None) -> dict:
    """Run ``flexpose adapt`` from parsed flags (shared with examples/adapt.py)."""
    from .adaptation.methods import MethodOptions
    from .adaptation.run import run_adaptation
    from .io import parse_where

    options = MethodOptions(layers=_parse_layers(args.layers) if args.layers else None, tau_form=args.tau_form,
                            tau_rank=args.tau_rank, tau_mapping=not args.no_tau_mapping,
                            sparsity_weight=args.sparsity_weight)
    if args.tau_offdiagonal_weight is not None:  # the flag's default lives in the tuner (not imported for --help)
        options.tau_offdiagonal_weight = args.tau_offdiagonal_weight
    overrides = {"pose_mixup": args.pose_mixup, "checkpointing_steps": args.checkpointing_steps,
                 "adv_weight": args.adv_weight, "divergence": args.divergence, "lr_generator": args.learning_rate}
    if args.prior_shots is not None:
        overrides["prior_shots"] = args.prior_shots
    return run_adaptation(
        target=args.target, output_dir=args.output_dir, base=args.base, format=args.format, shots=args.shots,
        shot_groups=args.shot_groups, where=parse_where(args.where), seed=args.seed, method=args.method, steps=args.steps, overwrite=args.overwrite,
        resume_from_checkpoint=args.resume_from_checkpoint, num_samples=args.num_samples,
        push_to_hub=args.push_to_hub, hub_model_id=args.hub_model_id, hub_dataset_id=args.hub_dataset_id,
        options=options,
        config_overrides=overrides,
        accelerator=accelerator,
    )


def describe_choice(metrics: dict) -> str:
    """How the strength was set: chosen by held-out shots, fixed by --prior-shots, or the few-shot fallback."""
    from .adaptation.selection import MIN_DISTINCT_SHOTS

    selection, strength = metrics.get("strength_selection"), metrics["strength"]
    if selection is not None:
        tried = ", ".join(f"prior {c['prior_shots']:g} / {c['steps']} steps {c['score']:.3f}"
                          for c in selection["candidates"])
        return (f"strength chosen by {selection['held_out_shots']} held-out shots (their nn1, lower is closer: "
                f"{tried}; difference {selection['difference']:+.3f}, standard error {selection['standard_error']:.3f}; "
                f"the second needs to be lower by more than one standard error), then trained on all {strength['shots']}")
    if metrics.get("prior_shots_requested") is not None:
        return "strength set by --prior-shots"
    return (f"strength: the fixed prior (fewer than {MIN_DISTINCT_SHOTS} distinct shots, too few to hold some out "
            "and let them choose)")


def choosing_steps(metrics: dict) -> str:
    selection = metrics.get("strength_selection")
    return "" if selection is None else f" (after {sum(c['steps'] for c in selection['candidates'])} choosing the strength)"


def adapt_summary(metrics: dict) -> str:
    """What ``flexpose adapt`` prints: the run in one line and, with held-out poses, source vs adapted."""
    strength = metrics["strength"]
    run = (f"{metrics['method']}: {strength['shots']} shots ({strength['distinct_shots']} distinct) against a "
           f"prior worth {strength['prior_shots']:g} -> pool weight {strength['target_weight']:.3f}; "
           f"{metrics['steps']} steps{choosing_steps(metrics)} in {metrics['adapt_seconds']:.1f} s, "
           f"{metrics['trainable_parameters']:,} trainable numbers\n{describe_choice(metrics)}")
    if "source" not in metrics:
        return (f"{run}\nnothing held out to compare with (fewer than 6 target poses left over after the shots): "
                "with --shots K well below the number of poses, source and adapted are scored on the rest")
    from .metrics import format_comparison

    held_out = (f"against the {metrics['held_out_poses']:,} target poses not used as shots "
                "(2,000 samples of each generator from the same noise):")
    lines = [run, "", held_out, format_comparison(metrics["source"], metrics["adapted"])]
    return "\n".join(lines)


def warn_if_worse(metrics: dict) -> None:
    """Say so when the adapted samples are further from the held-out poses than the source's."""
    from .metrics import worse_than_source

    if "source" in metrics and worse_than_source(metrics["source"], metrics["adapted"]):
        logging.getLogger("flexpose_hf.cli").warning(
            "the adapted samples are easier to tell from the held-out target poses than the source's (nn1 %.3f "
            "against %.3f): these shots are a worse guide to the target than the source already is. A larger "
            "--prior-shots (e.g. 100) pulls less toward them; more shots help.",
            metrics["adapted"]["nn1"], metrics["source"]["nn1"])


def _cmd_adapt(args: argparse.Namespace) -> int:
    metrics = adapt_from_args(args)
    print(adapt_summary(metrics))
    warn_if_worse(metrics)
    print(f"wrote {args.output_dir}: adapter, README.md, samples.json, shots.json, grid.png, metrics.json")
    return 0


def check_fits_in_memory(num_samples: int, floats_per_sample: int) -> None:
    """Refuse a sample count whose arrays would not fit in this machine's memory."""
    needed = num_samples * floats_per_sample * 4 * 2  # float32 arrays, plus a copy on the way out
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return
    if needed > total // 2:
        raise FlexPoseError(f"--num-samples {num_samples:,} needs about {needed / 2**30:,.0f} GiB, more than half "
                            f"of this machine's {total / 2**30:,.0f} GiB; sample in several runs with different --seed")


def _cmd_sample(args: argparse.Namespace) -> int:
    from .codec import unit_to_canvas
    from .io.export import write_coco
    from .io.npz import write_npz
    from .io.parquet import write_parquet
    from .loading import base_generator, iter_sample_poses, load_generator
    from .skeletons import convert_keypoints, get_skeleton

    if args.num_samples < 1:
        raise FlexPoseError(f"--num-samples must be >= 1, got {args.num_samples}")
    output = Path(args.output)
    kind = output.suffix.lower()
    if kind not in (".json", ".npz", ".parquet"):
        raise FlexPoseError(f"--output {output}: use a .json (COCO keypoints), .npz or .parquet file name")
    if not output.parent.is_dir():
        raise FlexPoseError(f"--output {output}: folder {output.parent} does not exist")
    model = load_generator(args.base, args.adapter)
    base = base_generator(model)
    if kind != ".parquet":  # Parquet is written chunk by chunk; the others are built in memory
        check_fits_in_memory(args.num_samples, base.config.z_dim + 4 * base.codec.num_joints)
    skeleton = base.config.skeleton
    out_skeleton = get_skeleton(args.skeleton or skeleton).name  # an unknown name fails before sampling
    first_unit: list[np.ndarray] = []
    openpose_written = 0

    def pixel_chunks():
        nonlocal openpose_written
        for unit in iter_sample_poses(model, args.num_samples, seed=args.seed, truncation=args.truncation):
            if not first_unit:
                first_unit.append(unit[:64])
            pixels = unit_to_canvas(unit, args.canvas + 1, margin=0.1)
            if args.openpose_dir:
                from .export_openpose import write_openpose_folder

                write_openpose_folder(args.openpose_dir, pixels, skeleton, args.canvas, args.canvas,
                                      approximate_head=args.approximate_head, start=openpose_written)
                openpose_written += len(pixels)
            yield convert_keypoints(pixels, None, skeleton, out_skeleton)[0]  # joints it lacks stay NaN (v=0)

    described = (f"{args.num_samples} poses from {args.base or 'mpii-body'}"
                 + (f" + {args.adapter}" if args.adapter else "") + f", seed {args.seed}")
    if kind == ".parquet":
        write_parquet(output, pixel_chunks(), out_skeleton, source=described)
    else:
        written = np.concatenate(list(pixel_chunks()))
        if kind == ".json":
            write_coco(output, written, out_skeleton, args.canvas, args.canvas, description=described)
        else:
            write_npz(output, written, out_skeleton, canvas=np.asarray([args.canvas, args.canvas]))
    if args.grid:
        from .drawing import pose_grid

        pose_grid(first_unit[0], skeleton, ncols=8, cell=96).save(args.grid)
    print(f"wrote {args.num_samples} {out_skeleton} poses on a {args.canvas}x{args.canvas} canvas to {output}")
    return 0


def add_adapt_arguments(p: argparse.ArgumentParser) -> None:
    """The `flexpose adapt` flags (also taken by examples/adapt.py; underscore spellings work too)."""
    _add(p, "--base", default=None, help="bundled name, local dir or Hub repo (default: mpii-body)")
    _add(p, "--target", required=True, help="target pose annotations (any supported format)")
    _add(p, "--format", default=None, help="format of --target (detected if omitted)")
    _add(p, "--shots", type=int, default=None, help="use K target poses (seeded); default: all of them")
    _add(p, "--shot-groups", default=None, metavar="REGEX",
         help="regular expression on the image name naming a pose's video or person (its first group if "
              "it has one, e.g. '^([^/]+)/' for a folder per video): the K shots come from K different groups "
              "and the held-out poses from the other groups; default: the video for Penn Action labels, the "
              "person for Market-1501 CSVs, none for other formats; 'none' turns it off")
    _add(p, "--where", action="append", default=None, metavar="COLUMN=VALUE",
         help="use only the poses whose text column equals the value (repeatable), e.g. 'action=tennis_serve' "
              "on Penn Action labels or 'activity=yoga, Power' on the MPII CSV")
    _add(p, "--seed", type=int, default=0, help="seed of the shot choice, latents and pool draws")
    _add(p, "--method", default="tau", choices=["tau", "lora", "lora_all", "freezed", "finetune", "adaptor"],
         help="what trains: tau (FlexPose) or a baseline, all with the same objective")
    _add(p, "--steps", type=int, default=None, help="training steps (default 200)")
    _add(p, "--learning-rate", type=float, default=None,
         help="Adam's learning rate, decayed to 0 over the steps (default per method: 3e-3 for tau, 2e-4 for "
              "finetune)")
    _add(p, "--layers", default=None, help="style layers for tau/lora, e.g. 0,1,2 (default: all)")
    _add(p, "--tau-form", default="full", choices=["full", "lowrank", "diagonal"],
         help="tau's map per layer: full ((I + D) h + b), lowrank (D = U V) or diagonal ((1 + d) * h + b)")
    _add(p, "--tau-rank", type=int, default=4, help="rank of D for --tau-form lowrank")
    _add(p, "--no-tau-mapping", action="store_true",
         help="tau on the style codes only (the paper's form); by default it also maps the outputs of "
              "the mapping network's linear layers")
    _add(p, "--divergence", default="mmd", choices=["mmd", "energy", "sinkhorn"],
         help="two-sample loss between decoded samples and the target set (all methods)")
    _add(p, "--sparsity-weight", type=float, default=None,
         help="tau's L1 weight before the prior's share alpha / (K + alpha) scales it "
              "(default 1e-4: 7.5e-5 applied at 10 shots; 0 turns it off)")
    _add(p, "--tau-offdiagonal-weight", type=float, default=None,
         help="L1 weight of the off-diagonal entries of tau's full map relative to its diagonal's "
              "(default 2: rescaling a channel is cheaper than mixing channels; 1: plain L1)")
    _add(p, "--prior-shots", type=float, default=None,
         help="the source prior's weight, in shots: K shots move K / (K + this) of the way. Default: with 50 or "
              "more distinct shots, a fifth of them held out choose between 30 (--steps) and 10 (3x --steps), "
              "then every shot trains the winner; with fewer, 30")
    _add(p, "--pose-mixup", action="store_true",
         help="add pose-mixup pairs of the shots to the target pool (the paper's regularizer; off by default: "
              "it raised nn1 in most measured settings, for tau and the baselines alike)")
    _add(p, "--adv-weight", type=float, default=None,
         help="weight of the optional adversarial critic (default 0; 1 for freezed)")
    _add(p, "--num-samples", type=int, default=200, help="samples written to samples.json")
    _add(p, "--output-dir", required=True, help="folder for the adapter, card, samples, grid and metrics")
    _add(p, "--overwrite", action="store_true", help="replace an existing output dir")
    _add(p, "--resume-from-checkpoint", default=None, help="'latest' or a checkpoint folder")
    _add(p, "--checkpointing-steps", type=int, default=100, help="save resumable state every N steps")
    _add(p, "--push-to-hub", action="store_true", help="upload the output folder to the Hub when done")
    _add(p, "--hub-model-id", default=None, help="Hub repo for --push-to-hub (default: the output folder name)")
    _add(p, "--hub-dataset-id", default=None,
         help="Hub dataset id of the target poses, listed under `datasets` in the adapter's card")


def _add(p: argparse.ArgumentParser, flag: str, *args, **kwargs) -> None:
    names = [flag] + (["--" + flag[2:].replace("-", "_")] if "-" in flag[2:] else [])
    p.add_argument(*names, *args, **kwargs)


def _cmd_complete(args: argparse.Namespace) -> int:
    from .completion import complete_poses
    from .io import load_poses, pose_arrays, skeleton_of
    from .io.export import write_coco
    from .io.npz import write_npz
    from .loading import base_generator, load_generator
    from .skeletons import convert_keypoints

    output = Path(args.output)
    if output.suffix.lower() not in (".json", ".npz"):
        raise FlexPoseError(f"--output {output}: write completed poses as .json (COCO keypoints) or .npz")
    if output.resolve() == Path(args.input).resolve():
        raise FlexPoseError("--output must not be the --input file (inputs are never modified)")
    model = load_generator(args.base, args.adapter)
    skeleton = base_generator(model).config.skeleton
    ds = load_poses(args.input, format=args.format)
    kp, vis = pose_arrays(ds)
    converted, conv_vis = convert_keypoints(kp, vis, skeleton_of(ds), skeleton)
    filled = complete_poses(model, converted, restarts=args.restarts, iters=args.iters, seed=args.seed,
                            estimate=args.estimate)
    labelled = ~np.isnan(converted).any(-1)
    visibility = np.where(labelled, np.where(conv_vis, 2, 1), 1)  # filled joints: COCO v=1
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() == ".json":
        write_coco(output, filled, skeleton, None, None, image_names=list(ds["image"]), visibility=visibility,
                   description=f"{args.input} completed on the {skeleton} skeleton (filled joints: v=1)")
    else:
        write_npz(output, filled.astype(np.float32), skeleton, labelled=labelled)
    print(f"completed {int((~labelled).sum())} missing joints in {len(filled)} poses; wrote {output}")
    return 0


def _cmd_grid(args: argparse.Namespace) -> int:
    from .drawing import pose_grid
    from .io import load_poses, pose_arrays, skeleton_of
    from .loading import base_generator, base_of, load_generator, sample_poses
    from .skeletons import convert_keypoints

    source = load_generator(args.base or (base_of(args.adapter[0]) if args.adapter else None))
    skeleton = base_generator(source).config.skeleton
    rows, labels = [sample_poses(source, args.num_samples, seed=args.seed)], ["source"]
    for adapter in args.adapter:
        rows.append(sample_poses(load_generator(args.base, adapter), args.num_samples, seed=args.seed))
        labels.append("adapted (same z)" if len(args.adapter) == 1 else f"{Path(adapter).name} (same z)")
    if args.target:
        ds = load_poses(args.target, format=args.format)
        kp, vis = pose_arrays(ds)
        converted, _ = convert_keypoints(kp, vis, skeleton_of(ds), skeleton)
        usable = converted[~np.isnan(converted).all(axis=(1, 2))]
        rows.append(usable[np.random.default_rng(args.seed).permutation(len(usable))[: args.num_samples]])
        labels.append("real target")
    pose_grid(rows, skeleton, cell=args.cell, row_labels=labels).save(args.output)
    print(f"wrote {args.output} ({', '.join(labels)})")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import launch

    launch(port=args.port, share=args.share, server_name=args.host)
    return 0


class _DefaultsFormatter(argparse.HelpFormatter):
    """Help that states each flag's default, unless it is unset (None / off) or the help says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, [], argparse.SUPPRESS) or "default" in text or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class ArgumentParser(argparse.ArgumentParser):
    """The flexpose parsers (CLI and examples): defaults in --help, hyphen and underscore spellings."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *names: str, **kwargs):
        """Every ``--a-b`` flag also answers to ``--a_b`` (the accelerate/diffusers scripts' spelling)."""
        aliases = ["--" + n[2:].replace("-", "_") for n in names if n.startswith("--") and "-" in n[2:]]
        return super().add_argument(*names, *[a for a in aliases if a not in names], **kwargs)


def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("flexpose-hf")
    except PackageNotFoundError:
        installed = "unknown (not installed)"
    parser = argparse.ArgumentParser(prog="flexpose", description="FlexPose pose generation and adaptation.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--version", action="version", version=f"flexpose {installed}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    p = sub.add_parser("skeletons", help="list the registered skeletons")
    p.add_argument("--joints", action="store_true", help="also list each skeleton's joint names")
    p.set_defaults(func=_cmd_skeletons)

    p = sub.add_parser("render", help="draw poses as skeleton images, decode them back, write pictures")
    p.add_argument("--input", default=str(DEMO_TARGET), help="annotation file or .pts folder (default: bundled demo)")
    p.add_argument("--format", default=None, help="coco, mpii, lsp, pts, openpose or npz (detected if omitted)")
    p.add_argument("--skeleton", default=None, help="convert to this skeleton by joint name")
    p.add_argument("--resolution", type=int, default=32, help="skeleton-image side in pixels")
    p.add_argument("--max-poses", type=int, default=64, help="draw at most this many poses")
    p.add_argument("--output-dir", required=True, help="folder for the pictures")
    p.set_defaults(func=_cmd_render)
    p = sub.add_parser("adapt", help="adapt a source generator to a few target poses")
    add_adapt_arguments(p)
    p.set_defaults(func=_cmd_adapt)

    p = sub.add_parser("sample", help="sample poses from a generator (optionally adapted)")
    p.add_argument("--base", default=None, help="bundled name, local dir or Hub repo (default: mpii-body)")
    p.add_argument("--adapter", default=None,
                   help="adapter folder or Hub repo id written by flexpose adapt (its recorded base is loaded)")
    p.add_argument("--num-samples", type=int, required=True, help="how many poses to draw")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--truncation", type=float, default=1.0, help="pull latents toward the mean (1 = none)")
    p.add_argument("--canvas", type=int, default=256, help="square canvas side in pixels for the output")
    p.add_argument("--output", required=True,
                   help=".json (COCO person keypoints), .npz, or .parquet (a Hugging Face dataset, written in chunks)")
    p.add_argument("--skeleton", default=None,
                   help="write this registered skeleton (e.g. coco17; joints the generator lacks get v=0); "
                        "default: the generator's own")
    p.add_argument("--openpose-dir", default=None, help="also write OpenPose JSON + conditioning PNGs here")
    p.add_argument("--approximate-head", action="store_true",
                   help="in the OpenPose output, place a nose 40%% of the way from upper neck to head top "
                        "(MPII/LSP skeletons have no face joints)")
    p.add_argument("--grid", default=None, help="also write a pose-grid PNG here")
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("complete", help="fill in missing joints of partial annotations (latent inversion)")
    p.add_argument("--base", default=None, help="bundled name, local dir or Hub repo (default: mpii-body)")
    p.add_argument("--adapter", default=None,
                   help="adapter folder or Hub repo id (e.g. adapted to the annotation's domain; its base is loaded)")
    p.add_argument("--input", required=True, help="partial annotations (any supported format)")
    p.add_argument("--format", default=None, help="input format (detected if omitted)")
    p.add_argument("--output", required=True, help=".json (COCO keypoints, base skeleton) or .npz")
    p.add_argument("--restarts", type=int, default=8, help="latent inversions per pose")
    p.add_argument("--estimate", choices=("mean", "best"), default="mean",  # completion.ESTIMATES (torch-free start-up)
                   help="fill with the restarts' average (default; less error) or with the best-fitting restart")
    p.add_argument("--iters", type=int, default=150, help="optimization steps per inversion")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.set_defaults(func=_cmd_complete)

    p = sub.add_parser("grid", help="picture: source samples, adapted samples from the same noise, real targets")
    p.add_argument("--base", default=None, help="bundled name, local dir or Hub repo (default: mpii-body)")
    p.add_argument("--adapter", action="append", default=[],
                   help="an adapter folder or Hub repo id (repeat to compare several; one row each)")
    p.add_argument("--target", default=None, help="real target poses for the last row")
    p.add_argument("--format", default=None, help="input format (detected if omitted)")
    p.add_argument("--num-samples", type=int, default=8, help="poses per row (sampled, or the first real ones)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--cell", type=int, default=128, help="pixels per pose in the picture")
    p.add_argument("--output", required=True, help="PNG file")
    p.set_defaults(func=_cmd_grid)

    p = sub.add_parser("evaluate", help="compare generated poses with real reference poses")
    p.add_argument("--samples", required=True, help="generated poses (any supported format)")
    p.add_argument("--reference", required=True, help="real poses (any supported format)")
    p.add_argument("--shots", default=None, help="the shots used for adaptation: adds memorization")
    p.add_argument("--format", default=None, help="format of --samples (detected if omitted)")
    p.add_argument("--reference-format", default=None, help="format of --reference (detected if omitted)")
    p.add_argument("--where", action="append", default=None, metavar="COLUMN=VALUE",
                   help="compare with only the reference poses whose text column equals the value (repeatable), "
                        "as flexpose adapt --where")
    p.add_argument("--joints", default="protocol",
                   help="'protocol' (default: the 12 limb joints on bodies, every shared joint on faces, as the "
                        "evaluation protocol compares them), 'shared', 'limbs' or comma-separated names")
    p.add_argument("--max-poses", type=int, default=2000, help="subsample each set to this many (seeded)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--output", default=None, help="write the metrics as JSON here")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("demo", help="serve the browser demo (Gradio): upload poses, adapt, look, download")
    p.add_argument("--port", type=int, default=7860, help="local port to serve on")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    p.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    p.set_defaults(func=_cmd_demo)
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
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"flexpose {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
