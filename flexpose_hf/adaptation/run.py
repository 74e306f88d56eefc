"""One adaptation job end to end, as ``flexpose adapt`` and ``examples/adapt.py`` run it.

Load the base generator (and its discriminator when a critic is used), read the target poses in their own format and
convert them to the base skeleton by joint name, pick the shots (seeded), adapt, then write the
adapter (or full weights) in Hub layout with a model card, the shots, a comparison grid, samples
as COCO JSON and a short metrics JSON. Outputs are staged and moved in only when complete.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..codec import unit_to_canvas
from ..drawing import pose_grid
from ..errors import CheckpointError, FlexPoseError
from ..hub import DEFAULT_BASE, adapter_card, generator_dir, metrics_table
from ..io import SHOT_GROUPS, load_poses, pose_arrays, pose_metadata, select_where, skeleton_of
from ..io.export import write_coco
from ..loading import sample_poses, write_base_fingerprint
from ..metrics import evaluate_poses, protocol_joints
from ..models import FlexPoseGenerator
from ..models.discriminator import load_discriminator
from ..skeletons import convert_keypoints, get_skeleton, shared_joints
from ..training.data import to_unit_poses
from ..utils import atomic_write_text
from .methods import MethodOptions, check_method
from .objective import DIVERGENCE_NAMES
from .trainer import MIN_SHARED_JOINTS, AdaptConfig, AdaptResult, adapt

logger = logging.getLogger(__name__)

SAMPLE_CANVAS = 256  # pixels of the COCO canvas that samples are written on
NO_GROUPS = "none"  # --shot-groups value that draws the shots from every pose, whatever the format


def check_output_dir(output_dir: Path, overwrite: bool, resuming: bool) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise FlexPoseError(f"--output-dir {output_dir} is a file")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not (overwrite or resuming):
        raise FlexPoseError(f"--output-dir {output_dir} exists and is not empty; pass --overwrite to replace it")
    parent = output_dir if output_dir.is_dir() else output_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise FlexPoseError(f"--output-dir {output_dir} is not writable ({exc.strerror})") from None


@dataclass
class TargetShots:
    """The target poses of one job on the base skeleton, split into shots and held-out poses."""

    shots: np.ndarray  # K x J x 2, target coordinates
    held_out: np.ndarray
    skeleton: str  # the target file's own skeleton
    rows: np.ndarray  # dataset rows of the shots
    dataset: object
    grouping: dict | None = None  # with --shot-groups: the pattern and how many groups and poses it left out
    where: dict | None = None  # with --where: the column values kept and how many poses of the file they kept


def pose_groups(dataset, rows: np.ndarray, pattern: str, target: str) -> np.ndarray:
    """The group of each pose of ``rows``: what the regular expression ``pattern`` matches in its image
    name (its first parenthesised group if it has one), e.g. the video folder or a person's id."""
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise FlexPoseError(f"--shot-groups {pattern!r} is not a regular expression ({exc})") from None
    if "image" not in dataset.column_names:
        raise FlexPoseError(f"--shot-groups: {target} has no image names to group its poses by")
    column = dataset["image"]
    names = [column[int(i)] or "" for i in rows]
    matches = [regex.search(name) for name in names]
    unmatched = [i for i, m in enumerate(matches) if m is None]
    if unmatched:
        shown = ", ".join(f"row {int(rows[i])} {names[i]!r}" for i in unmatched[:3])
        raise FlexPoseError(f"--shot-groups {pattern!r} matches no part of the image name of {len(unmatched)} "
                            f"poses ({shown}{', ...' if len(unmatched) > 3 else ''})")
    return np.array([m.group(1) if regex.groups else m.group(0) for m in matches])


def grouped_choice(usable: np.ndarray, groups: np.ndarray, shots: int, rng: np.random.Generator,
                   target: str) -> tuple[np.ndarray, np.ndarray]:
    """One pose from each of ``shots`` random groups, and every pose of the other groups held out."""
    distinct = np.unique(groups)
    if shots > len(distinct):
        raise FlexPoseError(f"{target}: asked for {shots} shots from different groups but --shot-groups finds "
                            f"only {len(distinct)} groups")
    chosen_groups = rng.choice(distinct, size=shots, replace=False)
    chosen = np.sort([rng.choice(usable[groups == g]) for g in chosen_groups])
    return chosen, usable[~np.isin(groups, chosen_groups)]


def select_shots(target: str, base_skeleton: str, fmt: str | None, shots: int | None, seed: int,
                 shot_groups: str | None = None, where: dict[str, str] | None = None) -> TargetShots:
    """The target poses on the base skeleton, as shots and held-out poses.

    Usable poses are those with every joint the target skeleton can give the base (by name or
    derivation); with ``shots`` a seeded subset of them, the rest held out for metrics. With
    ``shot_groups`` (a regular expression on the image name naming a video or a person), the shots
    come from different groups and only the other groups' poses are held out, so frames of a shot's
    video neither count as held-out poses nor as copies of it. Formats whose image names carry the
    video or person (``io.SHOT_GROUPS``: Penn Action, Market-1501) are grouped so by default, falling
    back to every pose (with a warning) when a name does not match or there are fewer groups than
    shots; ``shot_groups="none"`` turns the grouping off. With ``where`` only the poses whose text
    columns hold those values are used (``io.select_where``).
    """
    dataset = load_poses(target, format=fmt)
    selection = None
    if where:
        total = len(dataset)
        dataset = select_where(dataset, where, target)
        selection = {"columns": dict(where), "poses": len(dataset), "of": total}
        logger.info("%s: --where keeps %d of %d poses", target, len(dataset), total)
    tskel = skeleton_of(dataset)
    kp, vis = pose_arrays(dataset)
    converted, _ = convert_keypoints(kp, vis, tskel, base_skeleton)
    probe, _ = convert_keypoints(np.zeros((1, get_skeleton(tskel).num_joints, 2)), None, tskel, base_skeleton)
    available = ~np.isnan(probe[0]).any(-1)
    if available.sum() < 6:
        raise FlexPoseError(
            f"{target}: skeleton {tskel!r} shares only {int(available.sum())} joints with the base skeleton "
            f"{base_skeleton!r} ({', '.join(shared_joints(tskel, base_skeleton)) or 'none'}); need 6")
    available = drop_unlabelled_joints(target, converted, available, get_skeleton(base_skeleton).joints)
    missing = np.isnan(converted[:, available]).any(-1)  # poses x shared joints
    usable = np.flatnonzero(~missing.any(1))
    if len(usable) == 0:
        raise FlexPoseError(f"{target}: no pose has all of the {int(available.sum())} joints shared with the base")
    if len(usable) < len(converted):
        warn_incomplete(target, missing, np.asarray(get_skeleton(base_skeleton).joints)[available])
    if shot_groups not in (None, NO_GROUPS) and shots is None:
        raise FlexPoseError("--shot-groups needs --shots (without it every pose is a shot)")
    grouping = None
    if shots is None:
        chosen, held = usable, usable[:0]
    else:
        if shots < 1:
            raise FlexPoseError(f"--shots must be >= 1, got {shots}")
        if shots > len(usable):
            raise FlexPoseError(f"{target}: asked for {shots} shots but only {len(usable)} usable poses")
        rng = np.random.default_rng(seed)
        pattern = SHOT_GROUPS.get(pose_metadata(dataset)["format"]) if shot_groups is None else shot_groups
        chosen = held = None
        if pattern not in (None, NO_GROUPS):
            try:
                groups = pose_groups(dataset, usable, pattern, target)
                chosen, held = grouped_choice(usable, groups, shots, rng, target)
            except FlexPoseError as exc:
                if shot_groups is not None:  # asked for: its failure is the user's to see
                    raise
                logger.warning("%s; drawing the shots from every pose instead (--shot-groups to choose the "
                               "groups)", exc)
        if chosen is None:
            chosen = np.sort(rng.choice(usable, size=shots, replace=False))
            held = np.setdiff1d(usable, chosen)
        else:
            grouping = {"pattern": pattern, "groups": len(np.unique(groups)),
                        "left_out": len(usable) - len(chosen) - len(held)}
            logger.info("%s: %d shots from as many of %d groups (%s); %d other poses of their groups left out",
                        target, shots, grouping["groups"], "--shot-groups" if shot_groups else "the format's videos "
                        "or persons", grouping["left_out"])
    return TargetShots(converted[chosen], converted[held], tskel, chosen, dataset, grouping, selection)


def drop_unlabelled_joints(target: str, converted: np.ndarray, available: np.ndarray,
                           joints: tuple[str, ...]) -> np.ndarray:
    """``available`` without the joints that no pose of the file labels (a skeleton's joint its
    annotators never mark, e.g. the head top): adapting on the rest beats refusing every pose."""
    labelled = ~np.isnan(converted).any(-1).all(0)
    never = available & ~labelled
    if not never.any():
        return available
    kept = available & labelled
    names = ", ".join(j for j, n in zip(joints, never) if n)
    if kept.sum() < MIN_SHARED_JOINTS:
        raise FlexPoseError(f"{target}: no pose labels {names}, which leaves {int(kept.sum())} joints shared with "
                            f"the base; need {MIN_SHARED_JOINTS}")
    logger.warning("%s: no pose labels %s; adapting on the other %d joints", target, names, int(kept.sum()))
    return kept


def warn_incomplete(target: str, missing: np.ndarray, joints: np.ndarray) -> None:
    """Say how many target poses lack a shared joint (so are not used) and which joints they lack most."""
    incomplete = np.flatnonzero(missing.any(1))
    counts = missing.sum(0)
    worst = ", ".join(f"{joints[j]} ({counts[j]})" for j in np.argsort(-counts, kind="stable")[:3] if counts[j])
    rows = ", ".join(str(i) for i in incomplete[:5]) + (", ..." if len(incomplete) > 5 else "")
    logger.warning("%s: %d of %d poses lack a joint the base needs and are not used (rows %s; most often "
                   "missing: %s)", target, len(incomplete), len(missing), rows, worst)


def run_adaptation(
    target: str,
    output_dir: str,
    base: str | None = None,
    format: str | None = None,
    shots: int | None = None,
    shot_groups: str | None = None,
    where: dict[str, str] | None = None,
    seed: int = 0,
    method: str = "tau",
    steps: int | None = None,
    overwrite: bool = False,
    resume_from_checkpoint: str | None = None,
    num_samples: int = 200,
    push_to_hub: bool = False,
    hub_model_id: str | None = None,
    hub_dataset_id: str | None = None,
    options: MethodOptions | None = None,
    config_overrides: dict | None = None,
    accelerator=None,
    progress: bool | Callable[[int, int], None] = True,
) -> dict:
    """``flexpose adapt``: check -> load -> pick shots -> adapt -> measure -> write (staged) -> push."""
    out = Path(output_dir)
    check_output_dir(out, overwrite, resuming=resume_from_checkpoint is not None)
    base_name = base or DEFAULT_BASE
    generator = FlexPoseGenerator.from_pretrained(base_name)
    config = AdaptConfig(method=method, seed=seed, options=options or MethodOptions(), **(config_overrides or {}))
    if steps is not None:
        config.steps = steps
    config.check()  # before --overwrite removes anything
    check_dataset_id(hub_dataset_id)
    check_method(method, generator, config.options)
    discriminator = load_critic(base_name) if config.adversarial_weight() > 0 else None
    picked = select_shots(target, generator.config.skeleton, format, shots, seed, shot_groups, where)

    if overwrite and out.is_dir() and resume_from_checkpoint is None:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    result = adapt(generator, to_unit_poses(picked.shots), config, discriminator=discriminator,
                   checkpoint_dir=out / "checkpoints", resume_from_checkpoint=resume_from_checkpoint,
                   accelerator=accelerator, progress=progress)
    checksum = float(sum(p.detach().double().sum() for p in result.adapted.trainable))
    if accelerator is not None and not accelerator.is_main_process:
        return {"trained_parameter_checksum": checksum}
    source = FlexPoseGenerator.from_pretrained(base_name).eval()
    result.adapted.model.eval()
    metrics = summarize(result, config, source, picked, checksum)
    groups = picked.grouping["pattern"] if picked.grouping else shot_groups  # the format's default spelled out
    command = (f"flexpose adapt --base {base_name} --target {target}" + (f" --format {format}" if format else "")
               + f" --method {method} --steps {config.steps}"
               + "".join(f" --where '{k}={v}'" for k, v in (where or {}).items())
               + (f" --shots {shots}" if shots else "") + (f" --shot-groups '{groups}'" if groups else "")
               + f" --seed {seed}" + setting_flags(config))
    write_outputs(out, result, config, source, picked, metrics, base_name, str(target), num_samples,
                  hub_model_id or out.name, command, [hub_dataset_id] if hub_dataset_id else None)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    if push_to_hub:
        from ..hub import push_folder

        push_folder(out, hub_model_id or out.name, f"FlexPose {method} adapter")
    return metrics


# AdaptConfig / MethodOptions fields the CLI sets, and their flags (booleans: the flag that flips the default).
CONFIG_FLAGS = {"divergence": "--divergence", "prior_shots": "--prior-shots", "pose_mixup": "--pose-mixup",
                "adv_weight": "--adv-weight", "lr_generator": "--learning-rate"}
OPTION_FLAGS = {"layers": "--layers", "tau_form": "--tau-form", "tau_rank": "--tau-rank",
                "tau_mapping": "--no-tau-mapping", "sparsity_weight": "--sparsity-weight",
                "tau_offdiagonal_weight": "--tau-offdiagonal-weight"}


def setting_flags(config: AdaptConfig) -> str:
    """The CLI flags of every setting that differs from its default, so the card's command reproduces the run."""
    flags = []
    for holder, default, table in ((config, AdaptConfig(), CONFIG_FLAGS), (config.options, MethodOptions(), OPTION_FLAGS)):
        for name, flag in table.items():
            value = getattr(holder, name)
            if value == getattr(default, name):
                continue
            if isinstance(value, bool):
                flags.append(flag)
            elif isinstance(value, list):
                flags.append(f"{flag} {','.join(str(v) for v in value)}")
            else:
                flags.append(f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}")
    return "".join(f" {f}" for f in flags)


def check_dataset_id(dataset_id: str | None) -> None:
    """A target dataset named for the card must look like a Hub repo id (refused before any work)."""
    if dataset_id is None:
        return
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(dataset_id)
    except HFValidationError as exc:
        raise FlexPoseError(f"--hub-dataset-id {dataset_id!r} is not a Hub repo id ({exc})") from None


def load_critic(base_name: str):
    """The discriminator saved beside a base generator (needed only with an adversarial weight)."""
    disc_dir = Path(generator_dir(base_name)) / "discriminator"
    if not (disc_dir / "config.json").exists():
        raise CheckpointError(f"{base_name}: no discriminator/ folder beside the generator; the adversarial "
                              "critic needs it")
    return load_discriminator(str(disc_dir))


METRIC_FIELDS = ("nn1", "precision", "recall", "density", "coverage", "fd", "mmd")


@torch.no_grad()
def summarize(result: AdaptResult, config: AdaptConfig, source: FlexPoseGenerator, picked: TargetShots,
              checksum: float) -> dict:
    """``metrics.json``: the run, its strength and cost, and (with held-out poses) adapted vs source."""
    skeleton = source.config.skeleton
    metrics: dict = {"method": config.method, "num_shots": len(picked.shots), "steps": result.config.steps,
                     "learning_rate": config.learning_rate(), "prior_shots_requested": config.prior_shots,
                     "strength": result.strength.to_dict(), "adapt_seconds": round(result.seconds, 2),
                     "trainable_parameters": result.adapted.num_trainable,
                     "generator_parameters": sum(p.numel() for p in source.parameters()),
                     "trained_parameter_checksum": checksum,
                     "joints_judged": [j for j, m in zip(get_skeleton(skeleton).joints, result.joint_mask) if m]}
    if result.selection is not None:
        metrics["strength_selection"] = result.selection.to_dict()
    if result.adapted.l1_proximal:  # Linear & Sparse as applied: the configured weight x the prior's share
        metrics["l1_weight"] = result.adapted.l1_weight
        if config.method == "tau":
            metrics["l1_offdiagonal_weight"] = result.adapted.model.peft_config["default"].offdiagonal_weight
    if picked.grouping is not None:
        metrics["shot_groups"] = picked.grouping
    if picked.where is not None:
        metrics["where"] = picked.where
    if len(picked.held_out) > 5:
        judged = protocol_joints(tuple(metrics["joints_judged"]))
        metrics["joints_compared"] = list(judged)
        seed = config.seed + 1
        adapted_m = evaluate_poses(sample_poses(result.adapted.model, 2000, seed=seed), skeleton, picked.held_out,
                                   skeleton, shots=picked.shots, shots_skeleton=skeleton, joints=judged)
        # The source's own rate of samples nearest a shot is the yardstick for the adapted one's.
        source_m = evaluate_poses(sample_poses(source, 2000, seed=seed), skeleton, picked.held_out, skeleton,
                                  shots=picked.shots, shots_skeleton=skeleton, joints=judged)
        metrics["held_out_poses"] = len(picked.held_out)
        fields = (*METRIC_FIELDS, "memorization", "memorization_chance")
        metrics["adapted"] = {k: adapted_m[k] for k in fields}
        metrics["source"] = {k: source_m[k] for k in fields}
    return metrics


def write_outputs(out: Path, result: AdaptResult, config: AdaptConfig, source: FlexPoseGenerator,
                  picked: TargetShots, metrics: dict, base_name: str, target: str, num_samples: int, repo: str,
                  command: str, datasets: list[str] | None = None) -> None:
    """Adapter, card, shots, samples, grid and metrics, staged and moved in only when all are written."""
    skeleton, method = source.config.skeleton, config.method
    with torch.no_grad():
        samples = sample_poses(result.adapted.model, max(num_samples, 1), seed=config.seed)
        source_samples = sample_poses(source, 8, seed=config.seed)
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".staging-"))
    try:
        result.adapted.save(staging)
        write_base_fingerprint(staging, source)
        (staging / "adapt_config.json").write_text(json.dumps(
            {"target": target, "target_skeleton": picked.skeleton, "base": base_name, **asdict(result.config)}, indent=2,
            default=str))
        to_px = lambda u: unit_to_canvas(u, SAMPLE_CANVAS + 1, margin=0.1)
        write_coco(staging / "samples.json", to_px(samples), skeleton, SAMPLE_CANVAS, SAMPLE_CANVAS,
                   description=f"{len(samples)} poses sampled from {base_name} adapted with {method}")
        shot_rows = picked.dataset.select(picked.rows.tolist())
        write_coco(staging / "shots.json", pose_arrays(shot_rows)[0], picked.skeleton, None, None,
                   image_names=[f"{r['image']} ({Path(r['source_file']).name} #{r['record_index']})"
                                for r in shot_rows],
                   description=f"the {len(picked.rows)} target poses used (original coordinates)")
        unit_shots = to_unit_poses(picked.shots)
        pose_grid([source_samples[:8], samples[:8], unit_shots[:8]], skeleton, cell=112,
                  row_labels=["source", method, "target"]).save(staging / "grid.png")
        atomic_write_text(staging / "metrics.json", json.dumps(metrics, indent=2))
        note = (f"Against the {metrics['held_out_poses']} target poses not used as shots, 2,000 samples each, on "
                f"{len(metrics['joints_compared'])} joints ({', '.join(metrics['joints_compared'])}; "
                "flexpose_hf.metrics):"
                if "adapted" in metrics else
                f"Every target pose was used as a shot ({len(picked.shots)}), so none are left to measure against; "
                "give `--shots` fewer than the target file holds to get metrics here.")
        table = ""
        if "adapted" in metrics:
            table = ("adapted:\n\n" + metrics_table(metrics["adapted"]) + "\n\nsource (unadapted):\n\n"
                     + metrics_table(metrics["source"]))
        card = adapter_card(
            staging, base_name, method, repo, datasets=datasets, name=out.name, num_shots=len(picked.shots),
            target=Path(target).name, target_skeleton=picked.skeleton,
            seed=config.seed, joints=", ".join(metrics["joints_judged"]), steps=result.config.steps,
            trainable_parameters=result.adapted.num_trainable, wall_seconds=metrics["adapt_seconds"],
            strength=describe_strength(metrics["strength"], config.pose_mixup, metrics.get("strength_selection")),
            trainable_share=trainable_share(metrics),
            objective=describe_objective(config), command=command, metrics_note=note, metrics_table=table)
        card.save(staging / "README.md")
        for item in staging.iterdir():
            os.replace(item, out / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def describe_selection(selection: dict | None) -> str:
    """How the held-out shots chose the strength (empty when they did not)."""
    if selection is None:
        return ""
    tried = "; ".join(f"prior {c['prior_shots']:g}, {c['steps']} steps: nn1 {c['score']:.3f}"
                      for c in selection["candidates"])
    best = selection["candidates"][selection["chosen"]]
    return (f"The strength was chosen by {selection['held_out_shots']} held-out shots: each candidate trained on the "
            f"other {selection['trained_on']} and its samples were told from the held-out shots and their mirror "
            f"images by the nn1 test ({tried}; difference {selection['difference']:+.3f}, standard error "
            f"{selection['standard_error']:.3f}; the challenger (the second) must win by more than one standard "
            f"error); prior {best['prior_shots']:g} with {best['steps']} steps was then trained on every shot. ")


def describe_strength(strength: dict, pose_mixup: bool, selection: dict | None = None) -> str:
    """One line for the model card about how far the adaptation moved toward the shots."""
    pool = "the shots, their mirror images and pose-mixup pairs" if pose_mixup else "the shots and their mirror images"
    return describe_selection(selection) + (f"{strength['distinct_shots']} distinct shots against a source prior worth {strength['prior_shots']:g} "
            f"shots, so {strength['target_weight']:.0%} of the training targets came from {pool}, "
            f"the other {strength['prior_share']:.0%} from the source generator "
            f"(K / (K + alpha), `--prior-shots`); the regularizers toward the source (Linear & Sparse) "
            f"weigh {strength['prior_share']:.0%} of their configured weight.")


def describe_objective(config: AdaptConfig) -> str:
    """One line for the model card about what was minimised."""
    parts = [(f"{DIVERGENCE_NAMES[config.divergence]} (`--divergence {config.divergence}`) between the poses "
              f"decoded from {config.latents} fixed latents and the target set")]
    if config.method == "tau":
        form = config.options.tau_form + (f", rank {config.options.tau_rank}" if config.options.tau_form == "lowrank" else "")
        where = "style layers and mapping network" if config.options.tau_mapping else "style layers only"
        parts.append(f"tau form {form} on the {where}")
        if config.options.tau_form != "diagonal":
            parts.append(f"L1 on D's off-diagonal entries {config.options.tau_offdiagonal_weight:g}x the diagonal's "
                         "(`--tau-offdiagonal-weight`)")
    parts.append("pose-mixup on" if config.pose_mixup else "pose-mixup off")
    if config.adversarial_weight() > 0:
        parts.append(f"adversarial critic weight {config.adversarial_weight():g}")
    return "; ".join(parts) + "."


def trainable_share(metrics: dict) -> str:
    return f"{metrics['trainable_parameters'] / metrics['generator_parameters']:.1%}"
