"""Write a re-fitted generator as a whole folder (weights, config, the base's critic, a sample grid,
training_summary.json and a card), moved into place only when complete."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from ..drawing import pose_grid
from ..hub import write_generator_card
from ..models.generator import FlexPoseGenerator


def write_generator_folder(generator: FlexPoseGenerator, base_dir: str | Path, output_dir: str | Path,
                           summary: dict, grid_name: str) -> Path:
    """Save ``generator`` to ``output_dir`` beside the base's ``discriminator/`` (adaptation fine-tunes
    against it); a kill leaves no half-written folder (it is built as ``<name>.partial``)."""
    final = Path(output_dir)
    out = final.with_name(final.name + ".partial")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    generator.save_pretrained(out)
    if (Path(base_dir) / "discriminator").is_dir():
        shutil.copytree(Path(base_dir) / "discriminator", out / "discriminator", dirs_exist_ok=True)
    (out / "samples").mkdir(exist_ok=True)
    with torch.no_grad():
        grid = generator.sample(32, seed=1234)["keypoints"]
    pose_grid(grid, generator.config.skeleton, ncols=8, cell=96).save(out / "samples" / grid_name)
    (out / "training_summary.json").write_text(json.dumps(summary, indent=2, default=float))
    if final.exists():
        shutil.rmtree(final)
    out.rename(final)
    write_generator_card(final, summary)  # after the move: the card is named after its folder
    return final
