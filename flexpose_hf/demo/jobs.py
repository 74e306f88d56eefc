"""What the browser demo does, without any Gradio: check an upload, adapt to it, gather the downloads.

Every function works inside one job folder the caller owns (one per browser session), so sessions
never share files, and reports bad input as a ``FlexPoseError`` with the same words as the CLI.
"""

from __future__ import annotations

import shutil
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import PoseFormatError
from ..export_openpose import fit_unit_poses, write_openpose_folder
from ..hub import DEFAULT_BASE
from ..io import load_poses, pose_arrays, write_parquet
from ..metrics import COMPARED, evaluate_poses, protocol_joints, worse_than_source
from ..models import FlexPoseGenerator
from ..skeletons import get_skeleton, shared_joints

MAX_UPLOAD_MB = 20
"""Largest upload the demo reads (annotation files of thousands of poses are far smaller)."""
MAX_UNZIPPED_MB = 100
DEMO_POSES = Path(__file__).resolve().parent.parent / "data" / "coco_demo_10.json"
OPENPOSE_IMAGES = 16  # conditioning images written (and 8 shown) per run
OPENPOSE_SIZE = 512


def check_upload(path: str | Path, work_dir: Path) -> Path:
    """The pose file to read from an upload: size checked, a ``.zip`` of ``.pts`` faces unpacked."""
    path = Path(path)
    if not path.is_file():
        raise PoseFormatError(path.name, "no such file")
    size_mb = path.stat().st_size / 2**20
    if size_mb > MAX_UPLOAD_MB:
        raise PoseFormatError(path.name, f"{size_mb:.0f} MB is more than the demo reads ({MAX_UPLOAD_MB} MB); "
                                         "use `flexpose adapt` for large files")
    if path.suffix.lower() != ".zip":
        return path
    return unpack_pts_zip(path, work_dir / "unzipped")


def unpack_pts_zip(path: Path, folder: Path) -> Path:
    """Extract the ``.pts`` members of a zip (by base name only, so no member escapes ``folder``)."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise PoseFormatError(path.name, "not a readable zip archive") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and m.filename.lower().endswith(".pts")]
        if not members:
            raise PoseFormatError(path.name, "the zip holds no .pts files (a zip upload is read as 68-point faces)")
        if sum(m.file_size for m in members) > MAX_UNZIPPED_MB * 2**20:
            raise PoseFormatError(path.name, f"unpacks to more than {MAX_UNZIPPED_MB} MB")
        folder.mkdir(parents=True, exist_ok=True)
        names: set[str] = set()
        for member in members:
            name = Path(member.filename).name
            if name in names:
                raise PoseFormatError(path.name, f"two members are named {name!r}")
            names.add(name)
            (folder / name).write_bytes(archive.read(member))
    return folder


def describe_upload(target: Path, base: str) -> str:
    """One line about an upload against a base: poses, skeleton, joints shared (errors as the CLI gives)."""
    from ..adaptation.run import select_shots

    generator_skeleton = base_skeleton(base)
    picked = select_shots(str(target), generator_skeleton, None, None, seed=0)
    shared = shared_joints(picked.skeleton, generator_skeleton)
    return (f"{len(picked.dataset)} poses on the {picked.skeleton} skeleton, {len(picked.shots)} usable with "
            f"{base}'s {generator_skeleton} skeleton ({len(shared)} joints shared)")


def base_skeleton(base: str) -> str:
    return FlexPoseGenerator.from_pretrained(base).config.skeleton


@dataclass
class DemoResult:
    """Everything one demo adaptation shows or offers for download."""

    grid: Path
    samples: Path  # COCO JSON
    samples_parquet: Path
    adapter_zip: Path
    openpose_zip: Path | None
    gallery: list[Path]
    metrics: dict
    summary: str


def run_demo_adaptation(target: Path, work_dir: Path, base: str = DEFAULT_BASE, method: str = "tau",
                        shots: int = 10, num_samples: int = 1000, seed: int = 0,
                        progress: bool | Callable[[int, int], None] = True) -> DemoResult:
    """``flexpose adapt`` on an upload, then the downloads and pictures the page shows."""
    from ..adaptation.run import run_adaptation, select_shots
    from ..loading import load_generator, sample_poses

    started = time.perf_counter()
    out = work_dir / "adapter"
    metrics = run_adaptation(str(target), str(out), base=base, shots=shots, seed=seed, method=method,
                             overwrite=True, num_samples=num_samples, progress=progress)
    model = load_generator(base, adapter=str(out))
    skeleton = base_skeleton(base)
    if "adapted" not in metrics:  # every usable pose was a shot: compare with all of them, and say so
        everything = select_shots(str(target), skeleton, None, None, seed=0).shots
        source = FlexPoseGenerator.from_pretrained(base).eval()
        judged = protocol_joints(tuple(metrics["joints_judged"]))
        metrics["compared_with"] = f"all {len(everything)} uploaded poses (the shots included)"
        metrics["adapted"] = evaluate_poses(sample_poses(model, 2000, seed=seed + 1), skeleton, everything, skeleton,
                                            joints=judged)
        metrics["source"] = evaluate_poses(sample_poses(source, 2000, seed=seed + 1), skeleton, everything, skeleton,
                                           joints=judged)
    else:
        metrics["compared_with"] = f"the {metrics['held_out_poses']} uploaded poses not used as shots"
    parquet = work_dir / "samples.parquet"  # the same samples as a Hugging Face dataset
    write_parquet(parquet, [pose_arrays(load_poses(out / "samples.json"))[0]], skeleton,
                  source=f"{base} adapted with {method}")
    samples = sample_poses(model, OPENPOSE_IMAGES, seed=seed)
    gallery, openpose_zip = pose_pictures(samples, skeleton, work_dir)
    adapter_zip = zip_folder(out, work_dir / f"flexpose-{method}-adapter.zip",
                             skip=("samples.json", "shots.json"))
    seconds = time.perf_counter() - started
    chosen = metrics.get("strength_selection")
    how = "" if chosen is None else (
        f"; {chosen['held_out_shots']} held-out shots chose the prior worth "
        f"{chosen['candidates'][chosen['chosen']]['prior_shots']:g} shots")
    summary = (f"Adapted {base} with {method} to {metrics['num_shots']} shots in {seconds:.0f} s "
               f"({metrics['strength']['target_weight']:.0%} of the training targets from the shots{how}).")
    return DemoResult(grid=out / "grid.png", samples=out / "samples.json", samples_parquet=parquet,
                      adapter_zip=adapter_zip,
                      openpose_zip=openpose_zip, gallery=gallery, metrics=metrics, summary=summary)


def pose_pictures(unit_samples: np.ndarray, skeleton: str, work_dir: Path) -> tuple[list[Path], Path | None]:
    """OpenPose conditioning images (bodies) or stick figures (other skeletons) of some samples."""
    folder = work_dir / "openpose"
    has_body = len(shared_joints(skeleton, "openpose18")) >= 6
    if has_body:
        pixels = fit_unit_poses(unit_samples, OPENPOSE_SIZE, OPENPOSE_SIZE)
        stems = write_openpose_folder(folder, pixels, skeleton, OPENPOSE_SIZE, OPENPOSE_SIZE, approximate_head=True)
        return [s.with_suffix(".png") for s in stems[:8]], zip_folder(folder, work_dir / "openpose-conditioning.zip")
    from ..drawing import draw_pose

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, pose in enumerate(unit_samples[:8]):
        paths.append(folder / f"sample_{i:02d}.png")
        draw_pose(pose, get_skeleton(skeleton), 256).save(paths[-1])
    return paths, None


def zip_folder(folder: Path, archive: Path, skip: tuple[str, ...] = ()) -> Path:
    """A zip of a folder's files (Hub layout kept), written beside and renamed in when complete."""
    partial = archive.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(folder.rglob("*")):
            if file.is_file() and file.name not in skip and not file.name.startswith("."):
                zf.write(file, file.relative_to(folder).as_posix())
    partial.replace(archive)
    return archive


METRIC_ROWS = tuple((key, dict(COMPARED)[key]) for key in ("nn1", "coverage", "precision", "recall"))


def metrics_markdown(metrics: dict) -> str:
    """The adapted-vs-source table the page shows."""
    lines = [f"Against {metrics['compared_with']}, 2,000 samples each:", "",
             "| measure | source | adapted |", "|---|---|---|"]
    for key, label in METRIC_ROWS:
        lines.append(f"| {label} | {metrics['source'][key]:.3f} | {metrics['adapted'][key]:.3f} |")
    if "held_out_poses" in metrics and worse_than_source(metrics["source"], metrics["adapted"]):
        lines += ["", ("The adapted samples are further from these poses than the source's: the shots are a worse "
                       "guide to them than the source already is. More shots help; in the CLI a larger "
                       "`--prior-shots` pulls less toward them.")]
    return "\n".join(lines)


def api_metrics(metrics: dict) -> dict:
    """The metrics the named API endpoint returns (plain numbers, JSON-safe)."""
    keep = ("nn1", "precision", "recall", "coverage", "density")
    return {"method": metrics["method"], "num_shots": metrics["num_shots"], "compared_with": metrics["compared_with"],
            "strength": metrics["strength"], "strength_selection": metrics.get("strength_selection"),
            "adapt_seconds": metrics["adapt_seconds"],
            "source": {k: float(metrics["source"][k]) for k in keep},
            "adapted": {k: float(metrics["adapted"][k]) for k in keep}}


def clear_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


__all__ = ["DEMO_POSES", "MAX_UPLOAD_MB", "DemoResult", "api_metrics", "check_upload", "clear_folder",
           "describe_upload", "metrics_markdown", "run_demo_adaptation"]
