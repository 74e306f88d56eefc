"""Bundled checkpoints, name resolution, and model cards rendered from ``hub_cards/``."""

from __future__ import annotations

import os
from pathlib import Path
from string import Template

from huggingface_hub import ModelCard, constants

from .errors import CheckpointError

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKPOINT_DIR = PACKAGE_DIR / "checkpoints"
CARD_DIR = PACKAGE_DIR / "hub_cards"

# Short names of the generators shipped inside the package, in Hub layout.
BUNDLED = {"mpii-body": CHECKPOINT_DIR / "mpii-body", "helen-face": CHECKPOINT_DIR / "helen-face"}
DEFAULT_BASE = "mpii-body"


def _looks_like_path(name: str) -> bool:
    """Hub repo ids are ``name`` or ``owner/name``; anything else is meant as a local path."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def resolve_pretrained(name_or_path: str | os.PathLike) -> str:
    """Map a bundled short name, a local directory or a Hub repo id to what ``from_pretrained`` loads.

    A local directory must hold ``config.json``; a path that does not exist is an error here,
    rather than a confusing repo-id error from huggingface_hub.
    """
    name = str(name_or_path)
    if name in BUNDLED:
        path = BUNDLED[name]
        if not (path / constants.CONFIG_NAME).exists():
            raise CheckpointError(f"bundled generator {name!r} is missing from this installation ({path})")
        return str(path)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / constants.CONFIG_NAME).exists():
            raise CheckpointError(f"{path}: no {constants.CONFIG_NAME}; not a saved FlexPose model directory")
        return str(path)
    if path.exists():
        raise CheckpointError(f"{path}: is a file; pass the directory that holds config.json and model.safetensors")
    if _looks_like_path(name):
        raise CheckpointError(f"{name}: no such local directory (bundled names: {', '.join(BUNDLED)})")
    return name  # a Hub repo id: resolved from the HF cache or the Hub


def render_card(template: str, **fields: object) -> ModelCard:
    """Fill ``hub_cards/<template>.md`` (``$field`` placeholders) and parse it as a model card."""
    path = CARD_DIR / f"{template}.md"
    text = Template(path.read_text(encoding="utf-8")).safe_substitute({k: str(v) for k, v in fields.items()})
    return ModelCard(text)


def metrics_table(metrics: dict[str, float], keys: tuple[str, ...] | None = None) -> str:
    keys = keys or tuple(k for k in ("nn1", "precision", "recall", "density", "coverage", "fd", "mmd",
                                     "limb_asymmetry_ratio", "memorization", "memorization_chance")
                         if k in metrics)
    if not keys:
        return "(no metrics recorded)"
    return "| " + " | ".join(keys) + " |\n|" + "---|" * len(keys) + "\n| " + " | ".join(
        f"{metrics[k]:.3f}" for k in keys) + " |"


DATA_TERMS = {
    "mpii16": "MPII Human Pose, Simplified BSD licence.",
    "face68": "300-W / HELEN landmarks, research use only.",
    "lsp14": "LSP / LSP-Extended, research use only.",
    "coco17": "COCO annotations, CC BY 4.0.",
    "openpose18": "Market-1501 keypoints, research use only.",
}


def write_generator_card(directory: str | os.PathLike, summary: dict, repo: str | None = None) -> ModelCard:
    """Write ``README.md`` for a trained generator folder from its training summary."""
    directory = Path(directory)
    final = summary.get("final_metrics", {})
    card = render_card(
        "generator",
        name=directory.name, repo=repo or directory.name, skeleton=summary["skeleton"],
        num_joints=final.get("joints", "J"), data=Path(str(summary["data"])).name,
        training_poses=summary["training_poses"], held_out_poses=summary["held_out_poses"],
        flips="yes" if summary.get("flip_augmentation") else "no", steps=summary["steps"],
        batch_size=summary["batch_size"], wall_minutes=summary.get("wall_minutes_total",
                                                                   summary["wall_minutes_this_run"]),
        hardware=summary.get("hardware", "2 CPU cores"), parameters=f"{summary['parameters']:,}",
        command=summary["command"], samples_vs_held_out=int(final.get("num_samples", 2000)),
        eval_joints=f"{final.get('joints', '?')} joints", metrics_table=metrics_table(final),
        quality_note=summary.get("quality_note", ""),
        data_terms=DATA_TERMS.get(summary["skeleton"], "see the source dataset."),
    )
    card.save(directory / "README.md")
    return card


def push_folder(folder: str | os.PathLike, repo_id: str, commit_message: str, private: bool | None = None,
                ignore_patterns: list[str] | None = None) -> str:
    """Create ``repo_id`` if needed and upload ``folder`` (without training checkpoints) in one commit."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, private=private, exist_ok=True)
    info = api.upload_folder(
        folder_path=str(folder), repo_id=repo_id, commit_message=commit_message,
        ignore_patterns=ignore_patterns or ["checkpoints/*", "logs/*", "train_source/*", ".*"],
    )
    return str(info)
