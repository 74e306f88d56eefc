"""TauConfig: the configuration of FlexPose's transfer function tau as a PEFT method."""

from __future__ import annotations

from dataclasses import dataclass, field

from peft.config import PeftConfig

TAU_PEFT_TYPE = "TAU"

# Style layers tau adapts by default: the coarse layers (4x4 and 8x8 synthesis), where global pose
# geometry is laid out. benchmarks/layer_choice.py measures the paper's Figure 4 curve to choose
# them; see BENCHMARKS.md for what has been measured so far.
DEFAULT_TAU_LAYERS = (0, 1, 2)


@dataclass
class TauConfig(PeftConfig):
    """Configuration of tau, the layer-wise linear transfer function on style codes.

    For each targeted style affine layer ``A.<l>``, tau maps its style code ``s`` to
    ``(1 + scale) * s + shift`` (identity at initialization). Only ``scale`` and ``shift`` train.

    Args:
        target_modules: module names or a regex; by default the style affines of ``layers``.
        layers: indices of the style layers whose tau trains (constrained layer updates).
        calibrated_layers: further style layers tau is applied to without training there; they keep
            the map the dispersion calibration fitted (``flexpose_hf.adaptation.calibration``).
        sparsity_weight: weight of the L1 penalty on tau's deviation from identity
            (``model.tau_regularization()``); 0 switches the Linear & Sparse regularizer off.
        init_identity: start at the identity map (recommended).
    """

    target_modules: list[str] | str | None = field(
        default=None, metadata={"help": "Style affine layers to adapt; default: A.<l> for l in `layers`."}
    )
    layers: list[int] | None = field(
        default=None, metadata={"help": "Indices of the style layers tau adapts (default: the measured choice)."}
    )
    calibrated_layers: list[int] | None = field(
        default=None, metadata={"help": "Style layers tau also maps, frozen (set by the dispersion calibration, not trained)."}
    )
    sparsity_weight: float = field(default=1e-2, metadata={"help": "L1 weight on tau's deviation from identity."})
    init_identity: bool = field(default=True, metadata={"help": "Initialize tau at the identity map."})
    modules_to_save: list[str] | None = field(default=None, metadata={"help": "Extra modules to train and save."})

    def __post_init__(self) -> None:
        super().__post_init__()
        self.peft_type = TAU_PEFT_TYPE
        if self.layers is None and self.target_modules is None:
            self.layers = list(DEFAULT_TAU_LAYERS)
        if self.target_modules is None:
            self.target_modules = [f"A.{i}" for i in sorted({*self.layers, *(self.calibrated_layers or [])})]
        elif isinstance(self.target_modules, list):
            self.target_modules = set(self.target_modules)
        if self.sparsity_weight < 0:
            raise ValueError(f"sparsity_weight must be >= 0, got {self.sparsity_weight}")
