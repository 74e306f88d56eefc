"""Load a generator, optionally with an adapter (tau/LoRA PEFT folder, w-adaptor, or full weights)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import CheckpointError
from .hub import DEFAULT_BASE
from .models import FlexPoseGenerator
from .utils import read_json, read_safetensors

BASE_FINGERPRINT_FILE = "flexpose_base.json"


def base_fingerprint(generator: FlexPoseGenerator) -> dict:
    """What an adapter needs of its base: the architecture config."""
    return {"name_or_path": generator.name_or_path, "config": asdict(generator.config)}


def write_base_fingerprint(directory: Path, generator: FlexPoseGenerator) -> None:
    (directory / BASE_FINGERPRINT_FILE).write_text(json.dumps(base_fingerprint(generator), indent=2))


def check_base(directory: Path, generator: FlexPoseGenerator) -> None:
    """Refuse an adapter made for a base of another architecture or skeleton."""
    path = directory / BASE_FINGERPRINT_FILE
    if not path.exists():
        return
    data = read_json(path)
    recorded = data.get("config") if isinstance(data, dict) else None
    if not isinstance(recorded, dict):
        raise CheckpointError(f"{path}: no 'config' object (the base model's configuration)")
    actual = asdict(generator.config)
    diff = {k: (recorded.get(k), actual.get(k)) for k in set(recorded) | set(actual) if recorded.get(k) != actual.get(k)}
    if diff:
        details = ", ".join(f"{k}: adapter {a!r} vs base {b!r}" for k, (a, b) in sorted(diff.items()))
        raise CheckpointError(f"{directory}: adapter was made for a different base model ({details})")


def resolve_adapter(adapter: str) -> Path:
    """A local adapter folder, or a Hub repo id resolved with ``snapshot_download`` (the HF cache
    serves it offline)."""
    from .hub import _looks_like_path

    path = Path(adapter).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(f"{adapter}: is a file; pass the adapter folder (adapter_config.json and weights)")
    if _looks_like_path(adapter) or not adapter:
        raise CheckpointError(f"{adapter}: no such adapter directory")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalEntryNotFoundError, OfflineModeIsEnabled

    try:
        return Path(snapshot_download(adapter))
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, HFValidationError, HfHubHTTPError) as exc:
        raise CheckpointError(f"{adapter}: no such adapter directory, and not a Hub repo found in the local cache "
                              f"or on the Hub ({type(exc).__name__})") from None


def recorded_base(adapter_dir: Path) -> str | None:
    """The base an adapter folder says it was made on (``flexpose_base.json``, else peft's config)."""
    for name, key in ((BASE_FINGERPRINT_FILE, "name_or_path"), ("adapter_config.json", "base_model_name_or_path")):
        if (adapter_dir / name).exists():
            data = read_json(adapter_dir / name)
            if isinstance(data, dict) and data.get(key):
                return str(data[key])
    return None


def base_of(adapter: str) -> str | None:
    """The base an adapter (folder or Hub repo id) records, if any."""
    return recorded_base(resolve_adapter(adapter))


def load_generator(base: str | None = None, adapter: str | None = None) -> nn.Module:
    """The base generator with ``adapter`` (a folder or Hub repo id) applied. Without ``base`` the
    adapter's recorded base is loaded (the bundled MPII body generator when there is no adapter)."""
    path = resolve_adapter(adapter) if adapter is not None else None
    recorded = base is None and path is not None
    if recorded:
        base = recorded_base(path)
    try:
        generator = FlexPoseGenerator.from_pretrained(base or DEFAULT_BASE)
    except CheckpointError as exc:
        if not recorded:
            raise
        raise CheckpointError(f"{adapter}: made on base {base!r}, which is not available here ({exc}); pass --base") \
            from None
    if path is None:
        return generator.eval()
    check_base(path, generator)
    if (path / "adapter_config.json").exists():
        from peft import PeftModel

        from . import tuners  # noqa: F401  (importing the tuner registers the TAU peft type)

        read_json(path / "adapter_config.json")
        read_safetensors(path / "adapter_model.safetensors")
        try:
            return PeftModel.from_pretrained(generator, str(path)).eval()
        except (RuntimeError, KeyError, ValueError) as exc:
            raise CheckpointError(f"{path}: adapter does not fit base {generator.name_or_path!r} ({exc})") from None
    if (path / "adaptor_config.json").exists():
        from .models.w_adaptor import WAdaptedGenerator

        return WAdaptedGenerator.from_pretrained(generator, path).eval()
    if (path / "config.json").exists():
        return FlexPoseGenerator.from_pretrained(str(path)).eval()
    raise CheckpointError(f"{path}: neither a PEFT adapter, a w-adaptor nor a generator folder")


def sample_poses(model: nn.Module, num_samples: int, seed: int | None = 0, truncation: float = 1.0,
                 batch_size: int = 512) -> np.ndarray:
    """Unit-coordinate poses from any generator-like module (plain, PEFT-wrapped or adaptor)."""
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    z = torch.randn(num_samples, base_generator(model).config.z_dim, generator=gen)
    return decode_latents(model, z, truncation, batch_size)


def iter_sample_poses(model: nn.Module, num_samples: int, seed: int | None = 0, truncation: float = 1.0,
                      chunk: int = 16_384) -> Iterator[np.ndarray]:
    """``sample_poses`` in chunks of at most ``chunk`` poses, latents drawn chunk by chunk from one
    seeded stream: memory stays flat however many poses are asked for."""
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    base = base_generator(model)
    done = 0
    while done < num_samples:
        n = min(chunk, num_samples - done)
        z = torch.randn(n, base.config.z_dim, generator=gen)
        yield decode_latents(model, z, truncation)
        done += n


def decode_latents(model: nn.Module, z: torch.Tensor, truncation: float = 1.0, batch_size: int = 512) -> np.ndarray:
    """Unit-coordinate poses of latents ``z`` through any generator-like module."""
    from .codec import canvas_to_unit

    base = base_generator(model)
    out = []
    with torch.inference_mode():  # batches of 512 keep the activations in cache: fastest measured on CPU
        for part in z.split(batch_size):
            out.append(model(part, truncation=truncation, output="keypoints").float().cpu())
    canvas = torch.cat(out).numpy() if out else np.zeros((0, base.codec.num_joints, 2), np.float32)
    return canvas_to_unit(canvas, base.config.resolution, base.config.margin).astype(np.float32)


def base_generator(model: nn.Module) -> FlexPoseGenerator:
    for module in model.modules():
        if isinstance(module, FlexPoseGenerator):
            return module
    raise CheckpointError("no FlexPoseGenerator inside this model")
