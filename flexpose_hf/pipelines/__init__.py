from .controlnet import FlexPoseControlNetPipeline, PoseControlNetOutput

__all__ = ["FlexPoseControlNetPipeline", "PoseControlNetOutput"]
