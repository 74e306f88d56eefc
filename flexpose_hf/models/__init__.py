from .discriminator import PoseDiscriminator, PoseDiscriminatorConfig
from .generator import FlexPoseGenerator, FlexPoseGeneratorConfig, load_strict

__all__ = ["FlexPoseGenerator", "FlexPoseGeneratorConfig", "PoseDiscriminator", "PoseDiscriminatorConfig",
           "load_strict"]
