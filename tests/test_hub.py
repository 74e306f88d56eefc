"""push_to_hub without network: intercept huggingface_hub at its network boundary (create_repo and
create_commit), collect the exact files it would commit, and load them back."""

import io
import os
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi, RepoUrl

from flexpose_hf import FlexPoseGenerator, FlexPoseGeneratorConfig
from flexpose_hf.hub import push_folder

SMALL = FlexPoseGeneratorConfig(channels=[16, 16, 8], z_dim=8, w_dim=16, mapping_layers=2)


@pytest.fixture
def commits(monkeypatch):
    captured = []

    def fake_create_repo(self, repo_id, **kwargs):
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def fake_create_commit(self, repo_id, operations, commit_message, **kwargs):
        files = {}
        for op in operations:
            src = op.path_or_fileobj
            if isinstance(src, (str, Path)):
                files[op.path_in_repo] = Path(src).read_bytes()
            elif isinstance(src, bytes):
                files[op.path_in_repo] = src
            else:
                files[op.path_in_repo] = src.read() if isinstance(src, io.IOBase) else bytes(src)
        captured.append({"repo_id": repo_id, "message": commit_message, "files": files})
        return f"https://huggingface.co/{repo_id}/commit/0"

    monkeypatch.setattr(HfApi, "create_repo", fake_create_repo)
    monkeypatch.setattr(HfApi, "create_commit", fake_create_commit)
    # upload_folder also asks the Hub to validate the card's YAML: another network call.
    monkeypatch.setattr(HfApi, "_validate_yaml", lambda self, *a, **k: None)
    # With hf_xet installed, upload_folder streams through its own pipeline; take the single-commit path
    # so that everything goes through create_commit.
    from huggingface_hub import hf_api

    monkeypatch.setattr(hf_api, "is_xet_available", lambda: False)
    monkeypatch.setenv("HF_TOKEN", "hf_dummy")
    return captured


def _write(files, directory):
    for name, data in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_generator_push_to_hub_commits_loadable_files(commits, tmp_path):
    torch.manual_seed(0)
    g = FlexPoseGenerator(SMALL)
    g.push_to_hub("someone/flexpose-test")
    assert len(commits) == 1 and commits[0]["repo_id"] == "someone/flexpose-test"
    files = commits[0]["files"]
    assert set(files) == {"config.json", "model.safetensors", "README.md"}
    assert b"library_name: flexpose_hf" in files["README.md"]
    _write(files, tmp_path / "pulled")
    back = FlexPoseGenerator.from_pretrained(tmp_path / "pulled")
    z = torch.randn(3, 8)
    torch.testing.assert_close(back.generate_keypoints(z), g.generate_keypoints(z))


def test_push_folder_skips_checkpoints(commits, tmp_path):
    folder = tmp_path / "adapter"
    (folder / "checkpoints" / "checkpoint-100").mkdir(parents=True)
    (folder / "checkpoints" / "checkpoint-100" / "optimizer.bin").write_bytes(b"x")
    (folder / "adapter_config.json").write_text("{}")
    (folder / "README.md").write_text("card")
    push_folder(folder, "someone/adapter", "FlexPose tau adapter")
    assert set(commits[0]["files"]) == {"adapter_config.json", "README.md"}


def test_loading_from_the_hf_cache_offline(tmp_path, monkeypatch):
    """A repo in the HF cache layout loads by repo id with HF_HUB_OFFLINE=1."""
    g = FlexPoseGenerator(SMALL)
    cache = tmp_path / "hub"
    snapshot = cache / "models--someone--flexpose-cached" / "snapshots" / ("a" * 40)
    g.save_pretrained(snapshot)
    (cache / "models--someone--flexpose-cached" / "refs").mkdir(parents=True)
    (cache / "models--someone--flexpose-cached" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    back = FlexPoseGenerator.from_pretrained("someone/flexpose-cached", cache_dir=str(cache))
    assert back.config == SMALL
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def _placeholders(text: str) -> list[str]:
    import re

    return re.findall(r"\$[A-Za-z_]+", text.split("```bibtex")[0])


def test_every_card_kind_renders_without_placeholders(tmp_path):
    import json

    from huggingface_hub import ModelCard

    from flexpose_hf.hub import BUNDLED, HUB_IDS, adapter_card, write_generator_card

    cards = {}
    FlexPoseGenerator(FlexPoseGeneratorConfig(channels=[8, 8, 8], z_dim=4, w_dim=8)).save_pretrained(tmp_path / "g")
    cards["generator without a summary"] = ModelCard.load(tmp_path / "g" / "README.md")
    summary = json.loads((BUNDLED["mpii-body"] / "training_summary.json").read_text())
    cards["trained generator"] = write_generator_card(tmp_path / "g", summary, repo="mpii-body")
    fields = {"name": "run", "num_shots": 10, "target": "t.json", "target_skeleton": "coco17", "seed": 0,
              "joints": "a, b", "steps": 200, "trainable_parameters": 5, "wall_seconds": 1.0, "strength": "s",
              "trainable_share": "1%", "objective": "o", "command": "flexpose adapt", "metrics_note": "n",
              "metrics_table": ""}
    peft_dir = tmp_path / "peft"
    peft_dir.mkdir()
    (peft_dir / "adapter_config.json").write_text("{}")
    (peft_dir / "grid.png").write_bytes(b"png")
    cards["tau adapter"] = adapter_card(peft_dir, "mpii-body", "tau", "me/run", **fields)
    cards["w-adaptor on a local base"] = adapter_card(tmp_path / "g", str(tmp_path / "g"), "adaptor", "me/run", **fields)
    for kind, card in cards.items():
        text = str(card)
        assert not _placeholders(text), f"{kind}: {_placeholders(text)}"
        assert "@inproceedings{wang2025flexpose" in text, kind
    assert cards["trained generator"].data.library_name == "flexpose_hf"
    assert cards["trained generator"].data.datasets == ["Voxel51/MPII_Human_Pose_Dataset"]
    assert 'from_pretrained("flexpose-hf/mpii-body")' in str(cards["trained generator"])
    assert '# out["keypoints"]: 16 x 16 x 2' in str(cards["trained generator"])  # mpii16 joints, not the 12 judged
    tau = cards["tau adapter"]
    assert tau.data.base_model == HUB_IDS["mpii-body"] and tau.data.library_name == "flexpose_hf"
    assert "peft" in tau.data.tags
    assert "![source samples" in str(tau) and "PeftModel.from_pretrained" in str(tau)
    local = cards["w-adaptor on a local base"]
    assert local.data.base_model is None and "load_generator(adapter=" in str(local)
    assert "no grid.png" in str(local)


def test_card_template_field_missing_is_named():
    from huggingface_hub import ModelCardData

    from flexpose_hf.errors import CheckpointError
    from flexpose_hf.hub import render_card

    with pytest.raises(CheckpointError, match="template 'adapter': field '[a-z_]+' was not given"):
        render_card("adapter", ModelCardData(), name="x")


def test_bundled_hub_id_loads_the_bundled_copy_offline(monkeypatch):
    from flexpose_hf import FlexPoseGenerator
    from flexpose_hf.hub import BUNDLED, HUB_IDS, resolve_pretrained

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_pretrained(HUB_IDS["helen-face"]) == str(BUNDLED["helen-face"])
    assert FlexPoseGenerator.from_pretrained(HUB_IDS["helen-face"]).config.skeleton == "face68"


def test_saved_weights_follow_the_umask(tmp_path):
    """safetensors creates files 0600; saved generators, critics and adapters get the umask's mode."""
    import os

    from flexpose_hf import PoseDiscriminator
    from flexpose_hf.adaptation.methods import MethodOptions, prepare_method

    base = FlexPoseGenerator(FlexPoseGeneratorConfig(channels=[8, 8, 8], z_dim=4, w_dim=8))
    old = os.umask(0o022)
    try:
        base.save_pretrained(tmp_path / "g")
        PoseDiscriminator.for_generator(base).save_pretrained(tmp_path / "d")
        for method in ("tau", "adaptor"):
            prepare_method(method, base, None, MethodOptions()).save(tmp_path / method)
    finally:
        os.umask(old)
    files = [tmp_path / "g" / "model.safetensors", tmp_path / "d" / "model.safetensors",
             tmp_path / "tau" / "adapter_model.safetensors", *(tmp_path / "adaptor").glob("*.safetensors")]
    assert len(files) == 4
    for f in files:
        assert f.stat().st_mode & 0o777 == 0o644, f"{f.relative_to(tmp_path)}: {oct(f.stat().st_mode & 0o777)}"
