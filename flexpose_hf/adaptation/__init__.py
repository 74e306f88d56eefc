"""Pose distribution adaptation: methods (tau, baselines), pose-mixup, and the shared loop."""

from .methods import METHODS, AdaptedModel, MethodOptions, WAdaptedGenerator, prepare_method
from .mixup import kinematic_tree, mix_poses
from .strength import Strength, choose_strength
from .trainer import AdaptConfig, AdaptResult, adapt

__all__ = ["METHODS", "AdaptConfig", "AdaptResult", "AdaptedModel", "MethodOptions", "Strength", "WAdaptedGenerator", "adapt", "choose_strength",
           "kinematic_tree", "mix_poses", "prepare_method"]
