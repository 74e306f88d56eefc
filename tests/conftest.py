from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FLEXPOSE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real annotation files beside the checkout (CI has them); skip when absent."""
    if not (SHARED_DATA / "README.md").exists():
        pytest.skip(f"real pose data not found at {SHARED_DATA} (set FLEXPOSE_SHARED_DATA to its folder)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """A small random MPII-skeleton generator saved with its discriminator, in Hub layout."""
    import torch

    from flexpose_hf import FlexPoseGenerator, FlexPoseGeneratorConfig, PoseDiscriminator

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_base")
    g = FlexPoseGenerator(FlexPoseGeneratorConfig(channels=[16, 16, 8], z_dim=8, w_dim=16, mapping_layers=2))
    g.save_pretrained(path)
    PoseDiscriminator.for_generator(g, channels=[8, 8, 8], coord_hidden=32).save_pretrained(path / "discriminator")
    return path
