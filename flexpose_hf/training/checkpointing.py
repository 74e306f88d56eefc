"""Resumable training state with accelerate: atomic checkpoint folders and 'latest' lookup."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import torch
from accelerate import Accelerator

from ..errors import FlexPoseError

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
RUN_CONFIG = "run_config.json"  # what a checkpoint was trained as (architecture, skeleton), checked on resume


class TrainState:
    """Step counter and data-sampler RNG, saved with ``accelerator.save_state``."""

    def __init__(self, generator: torch.Generator | None = None) -> None:
        self.step = 0
        self.generator = generator

    def state_dict(self) -> dict:
        state = {"step": self.step}
        if self.generator is not None:
            state["rng"] = self.generator.get_state()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        if self.generator is not None and "rng" in state:
            self.generator.set_state(state["rng"])


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Complete checkpoint folders (``checkpoint-<step>``) in step order."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _CHECKPOINT.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def resolve_resume(directory: str | Path, resume: str | None) -> Path | None:
    """``None`` / ``"latest"`` (newest complete checkpoint, or None when there is none) / a path."""
    if resume is None:
        return None
    if resume == "latest":
        found = list_checkpoints(directory)
        return found[-1] if found else None
    path = Path(resume)
    if not path.is_dir():
        raise FileNotFoundError(f"--resume_from_checkpoint {resume}: no such checkpoint folder")
    return path


def check_resume_config(checkpoint: Path, run_config: dict, defaults: dict | None = None) -> None:
    """Refuse to resume ``checkpoint`` when it was trained with another ``run_config`` (architecture or
    skeleton), naming every field that differs, before any weight is loaded. A field the checkpoint's
    file lacks (added by a later release) counts as its value in ``defaults``, inside a nested
    dictionary too (one level: an adaptation's ``base`` generator config)."""
    path = Path(checkpoint) / RUN_CONFIG
    if not path.is_file():
        return  # written by an older release: accelerate's own shape checks are all there is
    defaults = json.loads(json.dumps(defaults or {}))
    saved = dict(defaults)
    for key, value in json.loads(path.read_text()).items():
        nested = isinstance(value, dict) and isinstance(defaults.get(key), dict)
        saved[key] = {**defaults[key], **value} if nested else value
    run_config = json.loads(json.dumps(run_config))  # compare as stored (tuples become lists)
    differ = [f"{k}: checkpoint {saved.get(k)!r}, this run {v!r}" for k, v in run_config.items() if saved.get(k) != v]
    if differ:
        raise FlexPoseError(f"cannot resume from {checkpoint}: it was trained with another configuration ("
                            + "; ".join(differ) + "). Use a new --output_dir or the checkpoint's settings.")


def save_checkpoint(accelerator: Accelerator, directory: str | Path, step: int, keep: int = 2,
                    run_config: dict | None = None) -> Path:
    """Write ``checkpoint-<step>`` atomically (into a temporary folder, then renamed) and keep the
    newest ``keep``. A run killed while saving leaves the previous checkpoint intact. ``run_config``
    (JSON-able) is stored beside the state for ``check_resume_config``."""
    directory = Path(directory)
    final = directory / f"checkpoint-{step}"
    tmp = directory / f".tmp-checkpoint-{step}"
    if accelerator.is_main_process:
        directory.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp), safe_serialization=True)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if run_config is not None:
            (tmp / RUN_CONFIG).write_text(json.dumps(run_config, indent=2))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in list_checkpoints(directory)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def make_accelerator(**kwargs) -> Accelerator:
    """An Accelerator that also runs data-parallel on CPU-only hosts.

    ``accelerate launch --multi_gpu --num_processes N`` on a machine without CUDA starts N processes;
    accelerate joins them with the gloo backend only when told to use the CPU, so do that here.
    """
    from accelerate import DistributedDataParallelKwargs

    handlers = kwargs.pop("kwargs_handlers", None) or [DistributedDataParallelKwargs(find_unused_parameters=True)]
    return Accelerator(cpu=not torch.cuda.is_available(), kwargs_handlers=handlers, **kwargs)
