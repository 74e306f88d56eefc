"""TauConfig: the configuration of FlexPose's transfer function tau as a PEFT method."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from peft.config import PeftConfig

TAU_PEFT_TYPE = "TAU"
TAU_FORMS = ("full", "lowrank", "diagonal")

# Style layers tau adapts by default: all six of the bundled generators. Restricting tau to the coarse
# layers (the paper's constrained layer updates) is an ablation row in BENCHMARKS.md.
DEFAULT_TAU_LAYERS = (0, 1, 2, 3, 4, 5)
# L1 weight of the full map's off-diagonal entries relative to the diagonal's (BENCHMARKS.md, "tau_plain_l1").
DEFAULT_OFFDIAGONAL_WEIGHT = 2.0


@dataclass
class TauConfig(PeftConfig):
    """Configuration of tau, the layer-wise linear transfer function on style codes.

    For each targeted style affine layer ``A.<l>`` (and, with ``mapping``, each linear layer of the
    mapping network ``f``, before its activation), tau maps the layer's output ``s`` to
    ``(I + D) s + b`` (``form="full"``, a full matrix ``D``; ``form="lowrank"``, ``D = U V`` of rank
    ``rank``) or ``(1 + d) * s + b`` (``form="diagonal"``, a per-channel scale); identity at
    initialization. Only ``D`` (or ``U``, ``V``, or ``d``) and ``b`` train.

    Args:
        target_modules: module names or a regex; by default the style affines of ``layers``
            (``mapping`` adds the mapping network's linear layers to a list of names, not to a regex).
        layers: indices of the style layers tau adapts (constrained layer updates).
        mapping: also map the outputs of the mapping network's linear layers (before their
            activations), so the adapted generator can move part of the latent mass and leave the
            rest (BENCHMARKS.md: lower nn1 than the style-code-only form in 30 of 31 measured
            settings and shot counts); ``False`` is the paper's tau on style codes only. Default:
            on, unless ``target_modules`` is given (explicit targets are taken as they are, so
            adapters saved before this option load unchanged).
        form: ``"full"`` (a full linear map per layer), ``"lowrank"`` (identity plus a rank-``rank``
            matrix) or ``"diagonal"`` (per-channel scale and shift).
        rank: rank of ``D`` in the low-rank form.
        sparsity_weight: weight of the L1 penalty on tau's deviation from identity (``flexpose_hf.adaptation``
            applies it times the source prior's share ``alpha / (K + alpha)``, so it yields to the shots)
            (``model.tau_regularization()``, the paper's Linear & Sparse); 0 switches it off.
            ``flexpose_hf.adaptation`` applies it as a proximal step for the full and diagonal forms.
        offdiagonal_weight: the L1 weight of ``D``'s off-diagonal entries relative to its diagonal and the
            shift (full and low-rank forms): a prior that a layer rescales its channels more readily than
            it mixes them, between the diagonal form (infinite) and a plain L1 (1). Default 2
            (BENCHMARKS.md: against 1, lower nn1 on the broad targets and at 200 shots, at most 0.005
            higher on the narrow ones, fewer samples copying a shot).
        init_identity: start at the identity map (recommended).
    """

    target_modules: list[str] | str | None = field(
        default=None, metadata={"help": "Style affine layers to adapt; default: A.<l> for l in `layers`."}
    )
    layers: list[int] | None = field(
        default=None, metadata={"help": "Indices of the style layers tau adapts (default: all six)."}
    )
    mapping: bool | None = field(default=None, metadata={
        "help": "Also adapt the mapping network's linear layers (False: style codes only, as in the paper); "
                "default: on unless target_modules is given."})
    form: str = field(default="full", metadata={
        "help": "'full' (I + D) s + b, 'lowrank' (I + U V) s + b, or 'diagonal' (1 + d) * s + b."})
    rank: int = field(default=4, metadata={"help": "Rank of D = U V in the low-rank form."})
    sparsity_weight: float = field(default=1e-4, metadata={"help": "L1 weight on tau's deviation from identity."})
    offdiagonal_weight: float = field(default=DEFAULT_OFFDIAGONAL_WEIGHT, metadata={
        "help": "L1 weight of D's off-diagonal entries relative to the diagonal's and the shift's (1: plain L1)."})
    init_identity: bool = field(default=True, metadata={"help": "Initialize tau at the identity map."})
    modules_to_save: list[str] | None = field(default=None, metadata={"help": "Extra modules to train and save."})

    def __post_init__(self) -> None:
        super().__post_init__()
        self.peft_type = TAU_PEFT_TYPE
        if self.form not in TAU_FORMS:
            raise ValueError(f"form must be one of {', '.join(TAU_FORMS)}, got {self.form!r}")
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise ValueError(f"rank must be an integer >= 1, got {self.rank!r}")
        if self.mapping is None:
            self.mapping = self.target_modules is None
        if not isinstance(self.mapping, bool):
            raise TypeError(f"mapping must be true or false, got {self.mapping!r}")
        if self.layers is None and self.target_modules is None:
            self.layers = list(DEFAULT_TAU_LAYERS)
        if self.target_modules is None:
            self.target_modules = [f"A.{i}" for i in sorted(self.layers)]
        elif isinstance(self.target_modules, list):
            self.target_modules = set(self.target_modules)
        if self.sparsity_weight < 0:
            raise ValueError(f"sparsity_weight must be >= 0, got {self.sparsity_weight}")
        if not (self.offdiagonal_weight >= 0 and math.isfinite(self.offdiagonal_weight)):
            raise ValueError(f"offdiagonal_weight must be a finite number >= 0, got {self.offdiagonal_weight}")
