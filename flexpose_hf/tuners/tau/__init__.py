"""tau: FlexPose's layer-wise linear transfer function on style codes, as a PEFT method."""

from .config import DEFAULT_OFFDIAGONAL_WEIGHT, DEFAULT_TAU_LAYERS, TAU_PEFT_TYPE, TauConfig
from .layer import Linear, TauLayer
from .model import TauModel


def register_tau() -> None:
    """Make peft know the "TAU" type (get_peft_model, PeftConfig/PeftModel.from_pretrained).

    peft's ``register_peft_method`` only accepts its built-in ``PeftType`` names, so an out-of-tree
    type enters peft's mapping tables directly, once.
    """
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING, PEFT_TYPE_TO_PREFIX_MAPPING, PEFT_TYPE_TO_TUNER_MAPPING

    PEFT_TYPE_TO_CONFIG_MAPPING.setdefault(TAU_PEFT_TYPE, TauConfig)
    PEFT_TYPE_TO_TUNER_MAPPING.setdefault(TAU_PEFT_TYPE, TauModel)
    PEFT_TYPE_TO_PREFIX_MAPPING.setdefault(TAU_PEFT_TYPE, TauModel.prefix)


register_tau()  # importing the tuner is enough for PeftConfig/PeftModel.from_pretrained to know TAU

__all__ = ["DEFAULT_OFFDIAGONAL_WEIGHT", "DEFAULT_TAU_LAYERS", "TAU_PEFT_TYPE", "Linear", "TauConfig", "TauLayer", "TauModel", "register_tau"]
