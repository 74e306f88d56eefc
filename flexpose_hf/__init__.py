"""flexpose_hf: FlexPose pose-distribution adaptation, Hugging Face style."""

from .codec import CanvasTransform, SkeletonImageCodec, canvas_to_unit, fit_to_canvas, unit_to_canvas
from .drawing import draw_openpose, draw_pose, pose_grid
from .errors import CheckpointError, FlexPoseError, PoseFormatError, SkeletonError
from .io import few_shot_split, load_poses, pose_arrays, pose_metadata, skeleton_of
from .models import FlexPoseGenerator, FlexPoseGeneratorConfig, PoseDiscriminator, PoseDiscriminatorConfig
from .skeletons import Skeleton, convert_keypoints, get_skeleton, list_skeletons, register_skeleton
from .tuners import TauConfig, TauModel, register_tau

register_tau()

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
