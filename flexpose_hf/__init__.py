"""flexpose_hf: FlexPose pose-distribution adaptation, Hugging Face style."""

# Public names load on first use (PEP 562), so `flexpose --help` does not import torch. The first
# name used also registers the TAU peft type, before any adapter can be loaded.
_EXPORTS = {
    "CanvasTransform": ".codec",
    "SkeletonImageCodec": ".codec",
    "canvas_to_unit": ".codec",
    "fit_to_canvas": ".codec",
    "unit_to_canvas": ".codec",
    "draw_openpose": ".drawing",
    "draw_pose": ".drawing",
    "pose_grid": ".drawing",
    "CheckpointError": ".errors",
    "FlexPoseError": ".errors",
    "PoseFormatError": ".errors",
    "SkeletonError": ".errors",
    "few_shot_split": ".io",
    "load_poses": ".io",
    "pose_arrays": ".io",
    "pose_metadata": ".io",
    "skeleton_of": ".io",
    "FlexPoseGenerator": ".models",
    "FlexPoseGeneratorConfig": ".models",
    "PoseDiscriminator": ".models",
    "PoseDiscriminatorConfig": ".models",
    "Skeleton": ".skeletons",
    "convert_keypoints": ".skeletons",
    "get_skeleton": ".skeletons",
    "list_skeletons": ".skeletons",
    "register_skeleton": ".skeletons",
    "TauConfig": ".tuners",
    "TauModel": ".tuners",
    "register_tau": ".tuners",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'flexpose_hf' has no attribute {name!r}")
    import importlib

    importlib.import_module(".tuners", __name__)  # registers TAU with peft
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__version__ = "0.1.0"

__all__ = [
    "CanvasTransform",
    "CheckpointError",
    "FlexPoseError",
    "FlexPoseGenerator",
    "FlexPoseGeneratorConfig",
    "PoseDiscriminator",
    "PoseDiscriminatorConfig",
    "PoseFormatError",
    "Skeleton",
    "SkeletonError",
    "SkeletonImageCodec",
    "TauConfig",
    "TauModel",
    "canvas_to_unit",
    "convert_keypoints",
    "draw_openpose",
    "draw_pose",
    "few_shot_split",
    "fit_to_canvas",
    "get_skeleton",
    "list_skeletons",
    "load_poses",
    "pose_arrays",
    "pose_grid",
    "pose_metadata",
    "register_skeleton",
    "skeleton_of",
    "unit_to_canvas",
]
