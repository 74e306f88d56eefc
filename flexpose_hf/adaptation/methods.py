"""Adaptation methods behind one small registry: each wraps a source generator into a model to train.

Every method returns an ``AdaptedModel``: the module to call (``model(z, output="keypoints")``),
its trainable generator parameters, a regularizer, the discriminator layers to keep frozen, and
how to save it. The training loop (``trainer.py``) is shared, so methods differ only here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from torch import nn

from ..errors import FlexPoseError
from ..models import FlexPoseGenerator, PoseDiscriminator
from ..models.w_adaptor import WAdaptedGenerator
from ..tuners.tau import DEFAULT_OFFDIAGONAL_WEIGHT, DEFAULT_TAU_LAYERS, TauConfig
from ..utils import follow_umask


@dataclass
class MethodOptions:
    layers: list[int] | None = None  # style layers for tau / lora (default: every style layer)
    tau_form: str = "full"  # tau's linear map per layer: "full" (I + D), "lowrank" (I + U V) or "diagonal" (1 + d)
    tau_rank: int = 4  # rank of U V in the low-rank form
    tau_mapping: bool = True  # tau also on the mapping network's linear layers (False: style codes only)
    sparsity_weight: float | None = None  # tau's Linear & Sparse L1 weight (None: TauConfig's default; 0 = off)
    tau_offdiagonal_weight: float = DEFAULT_OFFDIAGONAL_WEIGHT  # L1 weight of D's off-diagonal entries / the diagonal's
    lora_rank: int = 4
    freeze_d_blocks: int = 2  # FreezeD: lower image-critic blocks kept frozen
    extra: dict = field(default_factory=dict)


@dataclass
class AdaptedModel:
    method: str
    model: nn.Module
    trainable: list[nn.Parameter]
    regularization: Callable[[], torch.Tensor]
    save: Callable[[Path], None]
    frozen_discriminator: list[nn.Parameter] = field(default_factory=list)
    kind: str = "adapter"  # "adapter" (small file beside the base) or "full" (complete generator weights)
    # Parameters under an L1 penalty of weight ``l1_weight`` applied as a proximal step after each optimizer
    # step (exact zeros), instead of through ``regularization``'s gradient; ``l1_entry_weights`` scale it per
    # parameter (a float) or per entry (a tensor of the parameter's shape); default 1.
    l1_proximal: list[nn.Parameter] = field(default_factory=list)
    l1_weight: float = 0.0
    l1_entry_weights: list[torch.Tensor | float] | None = None

    def proximal_terms(self) -> list[tuple[nn.Parameter, torch.Tensor | float]]:
        """``(parameter, entry weight)`` pairs of the proximal L1 penalty."""
        return list(zip(self.l1_proximal, self.l1_entry_weights or [1.0] * len(self.l1_proximal)))

    def proximal_penalty(self) -> float:
        """The current value of the proximal L1 penalty (for the training log)."""
        return self.l1_weight * float(sum((w * p.detach().abs()).sum() for p, w in self.proximal_terms()))

    @property
    def num_trainable(self) -> int:
        return sum(p.numel() for p in self.trainable)


def _zero() -> torch.Tensor:
    return torch.zeros(())


def _peft_save(model: nn.Module) -> Callable[[Path], None]:
    def save(path: Path) -> None:
        model.save_pretrained(str(path), save_embedding_layers=False)
        follow_umask(path)  # peft's safetensors file is created 0600

    return save


def style_layers(base: FlexPoseGenerator, opts: MethodOptions) -> list[int]:
    """The style layers tau / LoRA adapt: ``opts.layers`` checked against the base, or the default."""
    if opts.layers is None:
        return [i for i in DEFAULT_TAU_LAYERS if i < base.num_style_layers]
    count = base.num_style_layers
    layers = list(opts.layers)
    if not layers:
        raise FlexPoseError("layers is empty: name at least one style layer")
    bad = [x for x in layers if isinstance(x, bool) or not isinstance(x, int) or not 0 <= x < count]
    if bad:
        raise FlexPoseError(f"layers {bad} do not exist: the base has style layers 0..{count - 1}")
    if len(set(layers)) != len(layers):
        raise FlexPoseError(f"layers {layers} repeat a layer")
    return layers


def _tau(base: FlexPoseGenerator, disc: PoseDiscriminator | None, opts: MethodOptions) -> AdaptedModel:
    extra = {} if opts.sparsity_weight is None else {"sparsity_weight": opts.sparsity_weight}
    config = TauConfig(layers=style_layers(base, opts), mapping=opts.tau_mapping, form=opts.tau_form,
                       rank=opts.tau_rank, offdiagonal_weight=opts.tau_offdiagonal_weight, **extra)
    model = get_peft_model(base, config)
    params = model.tau_parameters()
    if config.form == "lowrank":  # |U V|_1 does not separate per entry: train it through its gradient
        return AdaptedModel("tau", model, params, model.tau_regularization, _peft_save(model))
    return AdaptedModel("tau", model, params, _zero, _peft_save(model), l1_proximal=params,
                        l1_weight=config.sparsity_weight, l1_entry_weights=model.tau_l1_weights())


def _lora(base: FlexPoseGenerator, disc: PoseDiscriminator, opts: MethodOptions, all_linear: bool) -> AdaptedModel:
    if all_linear:
        targets = sorted(n for n, m in base.named_modules() if isinstance(m, nn.Linear))
    else:
        targets = [f"A.{i}" for i in style_layers(base, opts)]
    config = LoraConfig(r=opts.lora_rank, lora_alpha=opts.lora_rank, target_modules=targets, lora_dropout=0.0)
    model = get_peft_model(base, config)
    trainable = [p for p in model.parameters() if p.requires_grad]
    name = "lora_all" if all_linear else "lora"
    return AdaptedModel(name, model, trainable, _zero, _peft_save(model))


def _finetune(base: FlexPoseGenerator, disc: PoseDiscriminator, opts: MethodOptions,
              freeze_d: bool = False) -> AdaptedModel:
    base.requires_grad_(True)
    frozen = []
    if freeze_d and disc is not None:
        for block in list(disc.blocks)[: opts.freeze_d_blocks]:
            frozen += list(block.parameters())
        frozen += list(disc.coord_net[0].parameters())
    return AdaptedModel("freezed" if freeze_d else "finetune", base, list(base.parameters()), _zero,
                        lambda path: base.save_pretrained(path), frozen, kind="full")


def _adaptor(base: FlexPoseGenerator, disc: PoseDiscriminator, opts: MethodOptions) -> AdaptedModel:
    model = WAdaptedGenerator(base)
    return AdaptedModel("adaptor", model, [model.w_scale, model.w_shift], _zero, model.save_pretrained)


METHODS: dict[str, Callable[[FlexPoseGenerator, PoseDiscriminator, MethodOptions], AdaptedModel]] = {
    "tau": _tau,
    "lora": lambda b, d, o: _lora(b, d, o, all_linear=False),
    "lora_all": lambda b, d, o: _lora(b, d, o, all_linear=True),
    "finetune": _finetune,
    "freezed": lambda b, d, o: _finetune(b, d, o, freeze_d=True),
    "adaptor": _adaptor,
}


def check_method(name: str, base: FlexPoseGenerator, opts: MethodOptions | None = None) -> None:
    """Refuse an unknown method or layers the base does not have (before any output is touched)."""
    if name not in METHODS:
        raise FlexPoseError(f"unknown method {name!r}; one of {', '.join(METHODS)}")
    if name in ("tau", "lora"):
        style_layers(base, opts or MethodOptions())


def prepare_method(name: str, base: FlexPoseGenerator, disc: PoseDiscriminator | None,
                   opts: MethodOptions | None = None) -> AdaptedModel:
    """Wrap ``base`` for adaptation with method ``name`` (see ``METHODS``)."""
    check_method(name, base, opts)
    base.requires_grad_(False)
    return METHODS[name](base, disc, opts or MethodOptions())
