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
    return (
        name.startswith((".", "/", "~")) or os.sep in name.strip(os.sep).replace("/", "", 1) or name.count("/") > 1
        or Path(name).suffix != "" and "/" not in name
    )


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
