"""Bundled checkpoints, name resolution (bundled name, local dir, Hub id), and model cards."""

from __future__ import annotations

import os
from pathlib import Path
from string import Template

from huggingface_hub import ModelCard, ModelCardData, constants

from .errors import CheckpointError
from .skeletons import get_skeleton
from .utils import read_json

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKPOINT_DIR = PACKAGE_DIR / "checkpoints"
CARD_DIR = PACKAGE_DIR / "hub_cards"

# Short names of the generators shipped inside the package, in Hub layout.
BUNDLED = {"mpii-body": CHECKPOINT_DIR / "mpii-body", "helen-face": CHECKPOINT_DIR / "helen-face"}
DEFAULT_BASE = "mpii-body"
# The Hub repo ids the bundled generators are published under. Loading one of these ids uses the
# bundled copy (offline, no download); cards name bases by these ids (the Hub wants repo ids).
HUB_IDS = {"mpii-body": "flexpose-hf/mpii-body", "helen-face": "flexpose-hf/helen-face"}

CITATION = """```bibtex
@inproceedings{wang2025flexpose,
  title     = {FlexPose: Pose Distribution Adaptation with Limited Guidance},
  author    = {Wang, Zixiao and Weng, Junwu and Liu, Mengyuan and Yu, Bei},
  booktitle = {Proceedings of the AAAI Conference on Artificial Intelligence},
  year      = {2025},
  eprint    = {2412.13463},
  archivePrefix = {arXiv}
}
```"""


def _looks_like_path(name: str) -> bool:
    """Hub repo ids are ``name`` or ``owner/name``; anything else is meant as a local path."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name


def resolve_pretrained(name_or_path: str | os.PathLike) -> str:
    """Map a bundled short name, a local directory or a Hub repo id to what ``from_pretrained`` loads.

    A local directory must hold ``config.json``; a path that does not exist is an error here,
    rather than a confusing repo-id error from huggingface_hub.
    """
    name = str(name_or_path)
    name = {hub: short for short, hub in HUB_IDS.items()}.get(name, name)
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


def generator_dir(name_or_path: str) -> str:
    """Local folder of a base generator (bundled name or Hub id, local dir, or HF cache snapshot)."""
    resolved = resolve_pretrained(name_or_path)
    if os.path.isdir(resolved):
        return resolved
    from huggingface_hub import snapshot_download

    return snapshot_download(resolved)


def hub_id(name_or_path: str) -> str | None:
    """The Hub repo id of a base: bundled names map to their ids, Hub ids stay, local folders have none."""
    name = str(name_or_path)
    if name in HUB_IDS:
        return HUB_IDS[name]
    if Path(name).expanduser().exists() or _looks_like_path(name):
        return None
    return name


def render_card(template: str, card_data: ModelCardData, **fields: object) -> ModelCard:
    """A model card: ``card_data`` as the YAML header, ``hub_cards/<template>.md`` as the body.

    Every ``$field`` of the template must be given (``citation`` is filled here); a missing one
    is an error naming it, so no card is ever written with a placeholder left in.
    """
    body = Template((CARD_DIR / f"{template}.md").read_text(encoding="utf-8"))
    values = {"citation": CITATION, **{k: str(v) for k, v in fields.items()}}
    try:
        text = body.substitute(values)
    except KeyError as exc:
        raise CheckpointError(f"model card template {template!r}: field {exc.args[0]!r} was not given") from None
    return ModelCard(f"---\n{card_data.to_yaml()}\n---\n\n{text}")


def generator_card_data(**extra: object) -> ModelCardData:
    return ModelCardData(library_name="flexpose_hf", license="apache-2.0", pipeline_tag="unconditional-image-generation",
                         tags=["flexpose", "pose-generation", "stylegan2", "skeleton-images"], **extra)


def picture(file: str, caption: str, folder: Path | None) -> str:
    """Markdown for a picture saved beside the card in ``folder`` (a note instead when there is none)."""
    if folder is None or not (folder / file).exists():
        return f"*(no {file} was saved with these weights)*"
    return f"![{caption}]({file})"


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
    "penn13": "Penn Action annotations, see the dataset's terms.",
    "coco17": "COCO annotations, CC BY 4.0.",
    "openpose18": "Market-1501 keypoints, research use only.",
}


# Hub dataset ids of the training data, where a copy of the same annotations is on the Hub (checked
# against the Hub's dataset pages); a skeleton without one gets no ``datasets`` entry rather than a guess.
TRAINING_DATASETS = {
    "mpii16": "Voxel51/MPII_Human_Pose_Dataset",  # MPII Human Pose, 24,984 images, BSD-2-Clause
}


def mapping_sentence(config: dict) -> str:
    """How the card describes ``f`` for a generator config (``config.json`` as a dict)."""
    if config.get("mapping", "mlp") == "bank":
        return (f"`f` a latent bank, a Gaussian kernel density over {config.get('bank_size', 0):,} w codes "
                "(its training poses and their mirror images inverted; `examples/fit_latent_bank.py`; tau adapts "
                "the style layers only, the bank has no linear layer)")
    return "`f` the mapping MLP (tau also maps the outputs of its linear layers by default)"


def shape_sentence(config: dict) -> str:
    """The card's sentence on the point distribution model, if the generator has one."""
    components = config.get("shape_components", 0)
    if not components:
        return ""
    joints = get_skeleton(config["skeleton"]).num_joints if "skeleton" in config else None
    of = f" of {2 * joints}" if joints else ""
    return (f" The decoded keypoints then pass a point distribution model: each shape is projected onto {components}{of} "
            "principal shape directions of the training poses, which removes the decoding noise off them "
            "(`examples/fit_shape_model.py`; fixed buffers that adapters train through).")


def write_generator_card(directory: str | os.PathLike, summary: dict, repo: str | None = None) -> ModelCard:
    """Write ``README.md`` for a trained generator folder from its training summary."""
    directory = Path(directory)
    final = summary.get("final_metrics", {})
    config = read_json(directory / "config.json") if (directory / "config.json").is_file() else {}
    card = render_card(
        "generator", generator_card_data(datasets=[TRAINING_DATASETS[summary["skeleton"]]]
                                          if summary["skeleton"] in TRAINING_DATASETS else None),
        picture=picture("samples.png", "samples from this generator", directory),
        name=directory.name, repo=HUB_IDS.get(repo, repo) if repo else directory.name, skeleton=summary["skeleton"],
        num_joints=get_skeleton(summary["skeleton"]).num_joints, data=Path(str(summary["data"])).name,
        mapping_sentence=mapping_sentence(config), shape_sentence=shape_sentence(config),
        training_poses=summary["training_poses"], held_out_poses=summary["held_out_poses"],
        flips="yes" if summary.get("flip_augmentation") else "no", steps=summary["steps"],
        batch_size=summary["batch_size"], wall_minutes=summary.get("wall_minutes_total",
                                                                   summary["wall_minutes_this_run"]),
        hardware=summary.get("hardware", "2 CPU cores"), parameters=f"{summary['parameters']:,}",
        command=summary["command"], samples_vs_held_out=int(final.get("num_samples", 2000)),
        eval_joints=f"{final.get('joints', '?')} joints", metrics_table=metrics_table(final),
        quality_note=summary.get("quality_note", "No note on the quality was recorded."),
        data_terms=DATA_TERMS.get(summary["skeleton"], "see the source dataset."),
    )
    card.save(directory / "README.md")
    return card


def adapter_card(folder: Path, base: str, method: str, repo: str, datasets: list[str] | None = None,
                 **fields: object) -> ModelCard:
    """The card of an adapted model saved in ``folder``: base named by Hub id, usage for its kind
    (a PEFT adapter, a w-adaptor or full weights), its grid.png embedded."""
    is_peft = (folder / "adapter_config.json").exists()
    base_id = hub_id(base)
    # library_name stays flexpose_hf for PEFT adapters too: peft alone cannot load them (the TAU type and
    # the base exist only after ``import flexpose_hf``), and the Hub's peft snippet loads every base through
    # a transformers AutoModel, or shows "Task type is invalid" without a task type. The tag keeps them
    # findable as PEFT adapters.
    data = ModelCardData(
        library_name="flexpose_hf", license="apache-2.0", pipeline_tag="unconditional-image-generation",
        tags=["flexpose", "pose-generation", method, "few-shot", *(["peft"] if is_peft else [])],
        datasets=datasets, base_model=base_id, base_model_relation=("adapter" if is_peft else "finetune") if base_id else None)
    base_ref = base_id or base
    link = f"[`{base_id}`](https://huggingface.co/{base_id})" if base_id else f"`{base}` (a local folder)"
    loader = f"""```python
from flexpose_hf.loading import load_generator

model = load_generator(adapter="{repo}")  # loads the base it records, then this {method} adaptation
poses = model.sample(100, seed=0)["keypoints"]
```"""
    if is_peft:
        loader = f"""```python
import flexpose_hf  # registers the TAU peft type
from flexpose_hf import FlexPoseGenerator
from peft import PeftModel

base = FlexPoseGenerator.from_pretrained("{base_ref}")
model = PeftModel.from_pretrained(base, "{repo}")
poses = model.sample(100, seed=0)["keypoints"]
```"""
    usage = f"{loader}\n\nor `flexpose sample --adapter {repo} --num-samples 100 --output poses.json`."
    return render_card("adapter", data, base_link=link, usage=usage, repo=repo, method=method,
                       picture=picture("grid.png", "source samples, adapted samples from the same noise, target shots", folder),
                       **fields)


def push_folder(folder: str | os.PathLike, repo_id: str, commit_message: str, private: bool | None = None,
                ignore_patterns: list[str] | None = None, token: str | None = None) -> str:
    """Create ``repo_id`` if needed and upload ``folder`` (without training checkpoints) in one commit."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    info = api.upload_folder(
        folder_path=str(folder), repo_id=repo_id, commit_message=commit_message,
        ignore_patterns=ignore_patterns or ["checkpoints/*", "logs/*", "train_source/*", ".*"],
    )
    return str(info)
