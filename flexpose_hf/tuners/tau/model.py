"""TauModel: injects tau layers into a FlexPoseGenerator's style affines (peft BaseTuner)."""

from __future__ import annotations

from typing import ClassVar

import torch
from peft.tuners.tuners_utils import BaseTuner, BaseTunerLayer

from .config import TauConfig
from .layer import Linear, TauLayer


def style_layer_index(module_name: str) -> int:
    """The style layer ``l`` of a module named ``...A.<l>``."""
    return int(module_name.rsplit(".", 1)[-1])


def trains(config: TauConfig, module_name: str) -> bool:
    """Whether tau trains on this style layer: one of ``layers`` (every targeted layer when unset)."""
    return config.layers is None or style_layer_index(module_name) in config.layers


class TauModel(BaseTuner):
    """FlexPose's transfer function tau as a PEFT tuner: g_t(z) = phi(tau(A(f(z)))).

    Example:
        >>> from peft import get_peft_model
        >>> from flexpose_hf import FlexPoseGenerator, TauConfig
        >>> model = get_peft_model(FlexPoseGenerator.from_pretrained("mpii-body"), TauConfig())
        >>> loss = adversarial_loss + model.tau_regularization()
    """

    prefix: str = "tau_"
    tuner_layer_cls = TauLayer
    target_module_mapping: ClassVar[dict[str, list[str]]] = {}

    @staticmethod
    def _create_new_module(config: TauConfig, adapter_name: str, target: torch.nn.Module, **kwargs) -> Linear:
        base = target.get_base_layer() if isinstance(target, BaseTunerLayer) else target
        if not isinstance(base, torch.nn.Linear):
            raise TypeError(f"tau adapts nn.Linear style layers; {type(base).__name__} is not supported")
        return Linear(target, adapter_name, config=config, **kwargs)

    def _create_and_replace(self, config, adapter_name, target, target_name, parent, current_key, **kwargs):
        if isinstance(target, TauLayer):
            target.update_layer(adapter_name, config=config)
            return
        new_module = self._create_new_module(config, adapter_name, target)
        if adapter_name not in self.active_adapters:
            new_module.requires_grad_(False)
        self._replace_module(parent, target_name, new_module, target)

    def _mark_only_adapters_as_trainable(self, model: torch.nn.Module) -> None:
        super()._mark_only_adapters_as_trainable(model)
        for name, module in model.named_modules():
            if isinstance(module, TauLayer):
                for adapter, config in self.peft_config.items():
                    if adapter in module.tau_scale and not trains(config, name):
                        module.tau_scale[adapter].requires_grad_(False)
                        module.tau_shift[adapter].requires_grad_(False)

    def tau_parameters(self, adapter_name: str = "default", trained_only: bool = True) -> list[torch.nn.Parameter]:
        """tau's parameters for one adapter; by default only those of the layers that train (``layers``)."""
        config = self.peft_config[adapter_name]
        params = []
        for name, module in self.model.named_modules():
            if not (isinstance(module, TauLayer) and adapter_name in module.tau_scale):
                continue
            if not trained_only or trains(config, name):
                params += [module.tau_scale[adapter_name], module.tau_shift[adapter_name]]
        return params

    def set_tau_anchor(self, adapter_name: str = "default") -> None:
        """Make tau's current values (e.g. after calibration) the sparsity penalty's reference point."""
        for module in self.model.modules():
            if isinstance(module, TauLayer) and adapter_name in module.tau_scale:
                module.set_anchor(adapter_name)

    def tau_regularization(self, adapter_name: str | None = None) -> torch.Tensor:
        """Linear & Sparse regularizer: ``sparsity_weight`` x L1 deviation of tau from identity (or from
        the anchor set by ``set_tau_anchor``)."""
        names = [adapter_name] if adapter_name else list(self.active_adapters)
        total = None
        for name in names:
            weight = self.peft_config[name].sparsity_weight
            for module in self.model.modules():
                if isinstance(module, TauLayer) and name in module.tau_scale:
                    term = weight * module.deviation(name)
                    total = term if total is None else total + term
        if total is None:
            return torch.zeros(())
        return total
