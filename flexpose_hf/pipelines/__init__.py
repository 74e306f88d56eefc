"""Pipelines over diffusers (an optional dependency: ``pip install 'flexpose-hf[controlnet]'``)."""

try:
    from .controlnet import FlexPoseControlNetOutput, FlexPoseControlNetPipeline
except ImportError as exc:  # diffusers (or transformers) missing
    if exc.name not in ("diffusers", "transformers"):
        raise
    from ..errors import FlexPoseError

    raise FlexPoseError(f"the ControlNet pipeline needs {exc.name}: pip install 'flexpose-hf[controlnet]'") from None

__all__ = ["FlexPoseControlNetOutput", "FlexPoseControlNetPipeline"]
