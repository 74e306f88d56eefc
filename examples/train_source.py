"""Train a FlexPose source generator on a large pose set (step 1 of FlexPose).

    accelerate launch examples/train_source.py --data mpii_dataset.csv --output_dir runs/mpii-body
    python examples/train_source.py --data mpii_dataset.csv --output_dir runs/mpii-body   # same thing

Recipe (measured in BENCHMARKS.md): the StyleGAN2-style generator is trained with
  * a reconstruction path: a pose encoder gives each real pose a Gaussian posterior over z, the
    generator reconstructs the pose from a sample of it, and a KL term keeps those latents
    distributed like the prior (coverage, fast);
  * non-saturating adversarial losses from a coordinate critic every step and a skeleton-image
    critic every ``--image_d_every`` steps, with lazy R1 (realism);
  * optionally (``--structure_weight``) a structure-matching term: the distributions of limb
    left/right asymmetry and bone-length ratios of prior samples match those of the real batch;
  * horizontal-flip augmentation (mirror x, swap left/right joints);
and an EMA copy of the generator is what gets evaluated and saved. Checkpoints are written every
``--checkpointing_steps``; ``--resume_from_checkpoint latest`` continues a killed run.
``--init_from GENERATOR`` starts a new run from a trained generator (and its critic, when saved beside
it) with a fresh encoder, which trains alone for ``--encoder_warmup_steps`` so its first random
latents do not pull the trained generator apart.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from flexpose_hf import FlexPoseGenerator, FlexPoseGeneratorConfig, PoseDiscriminator, load_poses, pose_arrays
from flexpose_hf.codec import canvas_to_unit
from flexpose_hf.drawing import pose_grid
from flexpose_hf.errors import FlexPoseError
from flexpose_hf.hub import generator_dir, write_generator_card
from flexpose_hf.io import skeleton_of
from flexpose_hf.metrics import evaluate_poses
from flexpose_hf.training.adversarial import discriminator_loss, generator_adversarial_loss
from flexpose_hf.training.checkpointing import (
    TrainState,
    check_resume_config,
    make_accelerator,
    resolve_resume,
    save_checkpoint,
)
from flexpose_hf.training.data import PoseSampler, split_source, to_unit_poses
from flexpose_hf.training.encoder import PoseEncoder, kl_to_standard_normal
from flexpose_hf.training.structure import StructureStatistics, sorted_w2

logger = logging.getLogger("train_source")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="source pose annotations (any format load_poses reads)")
    p.add_argument("--format", default=None)
    p.add_argument("--output_dir", required=True)
    p.add_argument("--held_out", type=int, default=1000, help="complete poses kept out of training for metrics")
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--channels", default="64,64,32", help="synthesis widths at 4x4, 8x8, 16x16, ...")
    p.add_argument("--z_dim", type=int, default=32)
    p.add_argument("--w_dim", type=int, default=64)
    p.add_argument("--mapping_layers", type=int, default=4)
    p.add_argument("--batch_size", type=int, default=128, help="per process")
    p.add_argument("--max_steps", type=int, default=6000)
    p.add_argument("--max_train_minutes", type=float, default=None,
                   help="also stop (checkpoint, save, card) after this much training wall time")
    p.add_argument("--learning_rate", type=float, default=2e-3)
    p.add_argument("--recon_sigma", type=float, default=0.02, help="reconstruction noise scale (pose units)")
    p.add_argument("--adv_weight", type=float, default=0.1)
    p.add_argument("--structure_weight", type=float, default=0.0,
                   help="weight of the structure-matching term (limb asymmetry, bone ratios; 0: off)")
    p.add_argument("--image_d_every", type=int, default=4, help="image critic every N steps (0: never)")
    p.add_argument("--r1_gamma", type=float, default=1.0)
    p.add_argument("--r1_every", type=int, default=16)
    p.add_argument("--ema_decay", type=float, default=0.995)
    p.add_argument("--no_flip", action="store_true", help="no horizontal-flip augmentation")
    p.add_argument("--checkpointing_steps", type=int, default=500)
    p.add_argument("--checkpoints_total_limit", type=int, default=2)
    p.add_argument("--resume_from_checkpoint", default=None, help="'latest' or a checkpoint folder")
    p.add_argument("--init_from", default=None,
                   help="start from this trained generator (Hub id or folder; its critic too when saved beside it)")
    p.add_argument("--encoder_warmup_steps", type=int, default=200,
                   help="with --init_from: steps in which only the fresh encoder (and the critics) train")
    p.add_argument("--eval_steps", type=int, default=1000, help="metrics and a pose grid every N steps")
    p.add_argument("--eval_samples", type=int, default=2000)
    p.add_argument("--eval_joints", default="protocol",
                   help="'protocol' (default: limbs on bodies, every joint on faces), 'limbs' or 'shared'")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--report_to", default="tensorboard", help="'tensorboard' (when installed) or 'none'")
    p.add_argument("--push_to_hub", action="store_true")
    p.add_argument("--hub_model_id", default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    out = Path(args.output_dir)
    report_to = args.report_to if args.report_to != "none" else None
    if report_to == "tensorboard":
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            report_to = None
    accelerator = make_accelerator(log_with=report_to, project_dir=str(out))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    set_seed(args.seed, device_specific=True)

    dataset = load_poses(args.data, format=args.format)
    skeleton = skeleton_of(dataset)
    train_kp, held_kp = split_source(pose_arrays(dataset)[0], args.held_out, args.seed)
    sampler = PoseSampler(to_unit_poses(train_kp), skeleton, flip=not args.no_flip,
                          seed=args.seed + accelerator.process_index)
    logger.info("%s: %d training poses (%s), %d held out", args.data, len(train_kp),
                "with flips" if not args.no_flip else "no flips", len(held_kp))

    config = FlexPoseGeneratorConfig(
        skeleton=skeleton, resolution=args.resolution, z_dim=args.z_dim, w_dim=args.w_dim,
        mapping_layers=args.mapping_layers, channels=[int(c) for c in args.channels.split(",")],
    )
    generator = FlexPoseGenerator(config)
    encoder = PoseEncoder(generator.codec.num_joints, config.z_dim)
    discriminator = PoseDiscriminator.for_generator(generator)
    if args.init_from:
        init_from_pretrained(args.init_from, generator, discriminator)
    generator_ema = copy.deepcopy(generator).eval().requires_grad_(False).to(accelerator.device)
    opt_g = torch.optim.Adam([*generator.parameters(), *encoder.parameters()], lr=args.learning_rate,
                             betas=(0.5, 0.99))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=args.learning_rate, betas=(0.5, 0.99))
    generator, encoder, discriminator, opt_g, opt_d = accelerator.prepare(
        generator, encoder, discriminator, opt_g, opt_d)
    state = TrainState(sampler.generator)
    accelerator.register_for_checkpointing(state, generator_ema)

    ckpt_dir = out / "checkpoints"
    run_config = config.to_dict()  # the architecture and the data's skeleton
    resume = resolve_resume(ckpt_dir, args.resume_from_checkpoint)
    if resume is not None:
        check_resume_config(resume, run_config, defaults=FlexPoseGeneratorConfig().to_dict())
        accelerator.load_state(str(resume))
        for opt in (opt_g, opt_d):  # the optimizer state restores the old rate; the flag wins
            for group in opt.param_groups:
                group["lr"] = args.learning_rate
        logger.info("resumed from %s at step %d", resume, state.step)
    if report_to:
        accelerator.init_trackers("train_source", config=vars(args))

    device = accelerator.device
    resolution, margin = config.resolution, config.margin
    codec = accelerator.unwrap_model(generator).codec
    batch = args.batch_size
    structure = StructureStatistics(skeleton).to(device)
    history: list[dict] = []
    progress = tqdm(range(state.step, args.max_steps), initial=state.step, total=args.max_steps,
                    disable=not accelerator.is_local_main_process, desc="train_source")
    start = time.time()
    for _ in progress:
        step = state.step
        real = sampler.sample(batch).to(device)
        use_images = args.image_d_every > 0 and step % args.image_d_every == 0
        do_r1 = args.r1_every > 0 and step % args.r1_every == 0

        # Discriminator: one call on [real; fake] (its minibatch-stddev groups never mix them).
        with torch.no_grad():
            fake_kp = generator(torch.randn(batch, config.z_dim, device=device), output="keypoints")
        fake_unit = canvas_to_unit(fake_kp, resolution, margin)
        r1_weight = 0.5 * args.r1_gamma * args.r1_every if do_r1 else 0.0
        loss_d = discriminator_loss(discriminator, codec, real, fake_unit, margin, use_images, r1_weight)
        opt_d.zero_grad(set_to_none=True)
        accelerator.backward(loss_d)
        opt_d.step()

        # Generator + encoder: reconstruct the real poses, fool the critics with prior samples.
        mean, logvar = encoder(real)
        z_post = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        z_prior = torch.randn(batch, config.z_dim, device=device)
        out_kp = generator(torch.cat([z_post, z_prior]), output="keypoints")
        out_unit = canvas_to_unit(out_kp, resolution, margin)
        recon = (out_unit[:batch] - real).pow(2).sum((1, 2)).mean() / (2 * args.recon_sigma**2)
        kl = kl_to_standard_normal(mean, logvar)
        adv = generator_adversarial_loss(discriminator, codec, out_unit[batch:], margin, use_images)
        loss_g = (recon + kl) / (2 * codec.num_joints) + args.adv_weight * adv
        struct = out_unit.new_zeros(())
        if args.structure_weight > 0:
            struct = sorted_w2(structure(out_unit[batch:]), structure(real))
            loss_g = loss_g + args.structure_weight * struct
        opt_g.zero_grad(set_to_none=True)
        accelerator.backward(loss_g)
        if args.init_from is not None and step < args.encoder_warmup_steps:
            for p in generator.parameters():  # Adam skips a None gradient: only the encoder moves
                p.grad = None
        opt_g.step()

        # EMA of the generator (with a warm-up so early averages do not lag far behind).
        decay = min(args.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            live = accelerator.unwrap_model(generator)
            for p_ema, p in zip(generator_ema.parameters(), live.parameters()):
                p_ema.lerp_(p, 1 - decay)
            generator_ema.w_avg.lerp_(live.f(torch.randn(256, config.z_dim, device=device)).mean(0), 1 - decay)
        state.step = step + 1

        logs = {"loss_d": loss_d.item(), "recon_mse": (recon * 2 * args.recon_sigma**2).item() / codec.num_joints,
                "kl": kl.item(), "adv": adv.item(), "structure": struct.item()}
        progress.set_postfix(recon=f"{logs['recon_mse']:.4f}", kl=f"{logs['kl']:.1f}")
        if report_to:
            accelerator.log(logs, step=state.step)
        out_of_time = args.max_train_minutes is not None and time.time() - start > 60 * args.max_train_minutes
        if accelerator.num_processes > 1:  # every rank stops at the same step
            flag = torch.tensor(float(out_of_time), device=device)
            out_of_time = bool(accelerator.reduce(flag, reduction="sum").item() > 0)
        last = state.step == args.max_steps or out_of_time
        if state.step % args.checkpointing_steps == 0 or last:
            save_checkpoint(accelerator, ckpt_dir, state.step, args.checkpoints_total_limit, run_config)
        if accelerator.is_main_process and (state.step % args.eval_steps == 0 or last):
            metrics = evaluate_ema(generator_ema, held_kp, skeleton, args.eval_joints, args.eval_samples, out, state.step)
            metrics.update(step=state.step, minutes=(time.time() - start) / 60)
            history.append(metrics)
            logger.info("step %d: %s", state.step, {k: round(v, 3) for k, v in metrics.items()
                                                    if isinstance(v, float)})
            if report_to:
                accelerator.log({f"eval/{k}": v for k, v in metrics.items() if isinstance(v, float)}, step=state.step)
        if out_of_time:
            logger.info("--max_train_minutes %s reached at step %d", args.max_train_minutes, state.step)
            break

    accelerator.wait_for_everyone()
    checksum = sum(float(p.detach().double().sum()) for p in accelerator.unwrap_model(generator).parameters())
    print(f"[rank {accelerator.process_index}/{accelerator.num_processes}] trained parameter checksum "
          f"{checksum:.10e}", flush=True)
    summary: dict = {}
    if accelerator.is_main_process:
        summary = finish(args, generator_ema.cpu(), accelerator.unwrap_model(discriminator).cpu(), history,
                         skeleton, state.step, len(train_kp), len(held_kp), time.time() - start)
    accelerator.end_training()
    return summary


def init_from_pretrained(name: str, generator: FlexPoseGenerator, discriminator: PoseDiscriminator) -> None:
    """Copy a trained generator's weights (and its critic's, when ``<dir>/discriminator`` exists) into
    this run's freshly built models, refusing another architecture or skeleton by name."""
    trained = FlexPoseGenerator.from_pretrained(name)
    ours, theirs = generator.config.to_dict(), trained.config.to_dict()
    # a point distribution model is fitted after training (examples/fit_shape_model.py), not trained
    differ = [f"{k}: {name} {theirs.get(k)!r}, this run {v!r}" for k, v in ours.items()
              if theirs.get(k) != v and k != "shape_components"]
    if differ:
        raise FlexPoseError(f"--init_from {name}: it was trained with another configuration (" + "; ".join(differ)
                            + "). Pass its architecture flags, or train on data with its skeleton.")
    generator.load_state_dict({k: v for k, v in trained.state_dict().items() if not k.startswith("shape_model.")})
    if trained.shape_model is not None:
        logger.warning("--init_from %s: its point distribution model is left out (training moves what it was fitted "
                       "to); fit one to the result with examples/fit_shape_model.py", name)
    critic = Path(generator_dir(name)) / "discriminator"
    if critic.is_dir():
        discriminator.load_state_dict(PoseDiscriminator.from_pretrained(critic).state_dict())
    logger.info("initialised from %s%s", name, " and its critic" if critic.is_dir() else " (fresh critic)")


@torch.no_grad()
def evaluate_ema(generator: FlexPoseGenerator, held_kp: np.ndarray, skeleton: str, joints: str, n: int,
                 out: Path, step: int) -> dict:
    samples = generator.sample(n, seed=1234)["keypoints"]
    metrics = evaluate_poses(samples, skeleton, held_kp, skeleton, joints=joints)
    (out / "samples").mkdir(parents=True, exist_ok=True)
    pose_grid(samples[:32], skeleton, ncols=8, cell=96).save(out / "samples" / f"step-{step:06d}.png")
    return metrics


def finish(args: argparse.Namespace, generator: FlexPoseGenerator, discriminator: PoseDiscriminator,
           history: list[dict], skeleton: str, steps: int, num_train: int, num_held: int, seconds: float) -> dict:
    out = Path(args.output_dir)
    generator.save_pretrained(out)
    discriminator.save_pretrained(out / "discriminator")
    final = history[-1] if history else {}
    summary = {
        "data": str(args.data), "skeleton": skeleton, "training_poses": num_train, "held_out_poses": num_held,
        "flip_augmentation": not args.no_flip, "steps": steps, "batch_size": args.batch_size,
        **({"init_from": args.init_from} if args.init_from else {}),
        "wall_minutes_this_run": round(seconds / 60, 2),
        "parameters": sum(p.numel() for p in generator.parameters()),
        "final_metrics": {k: v for k, v in final.items() if isinstance(v, (int, float))},
        "history": history,
        "command": "accelerate launch examples/train_source.py " + " ".join(
            f"--{k} {v}" for k, v in vars(args).items() if v not in (None, False) and k != "push_to_hub"),
    }
    (out / "training_summary.json").write_text(json.dumps(summary, indent=2, default=float))
    write_generator_card(out, summary)
    if args.push_to_hub:
        repo = args.hub_model_id or out.name
        generator.push_to_hub(repo, commit_message=f"FlexPose {skeleton} source generator")
    return summary


if __name__ == "__main__":
    try:
        main()
    except FlexPoseError as err:  # bad input or a mismatched resume: one clear line, no traceback
        sys.exit(f"error: {err}")
