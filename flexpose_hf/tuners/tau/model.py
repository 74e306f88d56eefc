"""TauModel: injects tau layers into a FlexPoseGenerator's style affines (peft BaseTuner)."""

from __future__ import annotations

from typing import ClassVar

import torch
from peft.tuners.tuners_utils import BaseTuner, BaseTunerLayer

from .config import TauConfig
from .layer import Linear, TauLayer


def mapping_linear_names(model: torch.nn.Module) -> list[str]:
    """Names of the linear layers of ``model``'s mapping network ``f`` (none when it has no ``f``); a
    layer another adapter already wraps is named by its wrapper."""
    mapping = getattr(model, "f", None)
    if mapping is None:
        return []
    names: list[str] = []
    wrapped: tuple[str, ...] = ()
    for name, module in mapping.named_modules():
        if wrapped and name.startswith(wrapped):
            continue
        if isinstance(module, BaseTunerLayer):
            names.append(f"f.{name}")
            wrapped += (f"{name}.",)
        elif isinstance(module, torch.nn.Linear):
            names.append(f"f.{name}")
    return names


class TauModel(BaseTuner):
    """FlexPose's transfer function tau as a PEFT tuner: g_t(z) = phi(tau(A(f(z)))).

    Example:
        >>> from peft import get_peft_model
        >>> from flexpose_hf import FlexPoseGenerator, TauConfig
        >>> model = get_peft_model(FlexPoseGenerator.from_pretrained("mpii-body"), TauConfig())
        >>> model.print_trainable_parameters()  # doctest: +ELLIPSIS
        trainable params: ...
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

    def _prepare_adapter_config(self, peft_config: TauConfig, model_config: dict) -> TauConfig:
        """With ``mapping``, add the linear layers of the mapping network ``f`` to the targets."""
        if peft_config.mapping and not isinstance(peft_config.target_modules, str):
            peft_config.target_modules = set(peft_config.target_modules) | set(mapping_linear_names(self.model))
        return peft_config

    def _create_and_replace(self, config, adapter_name, target, target_name, parent, current_key, **kwargs):
        if isinstance(target, TauLayer):
            target.update_layer(adapter_name, config=config)
            return
        new_module = self._create_new_module(config, adapter_name, target)
        if adapter_name not in self.active_adapters:
            new_module.requires_grad_(False)
        self._replace_module(parent, target_name, new_module, target)

    def tau_parameters(self, adapter_name: str = "default") -> list[torch.nn.Parameter]:
        """tau's parameters (``D``, ``U`` and ``V``, or ``d``, and ``b`` of every adapted layer) for one adapter."""
        params = []
        for module in self.model.modules():
            if isinstance(module, TauLayer) and adapter_name in module.tau_shift:
                params += [*module.linear_parameters(adapter_name), module.tau_shift[adapter_name]]
        return params

    def tau_l1_weights(self, adapter_name: str = "default") -> list[torch.Tensor | float]:
        """Entry-wise L1 weights of ``tau_parameters`` (same order), relative to ``sparsity_weight``:
        ``offdiagonal_weight`` on the off-diagonal entries of the full form's ``D``, 1 elsewhere."""
        offdiagonal = self.peft_config[adapter_name].offdiagonal_weight
        weights: list[torch.Tensor | float] = []
        for module in self.model.modules():
            if isinstance(module, TauLayer) and adapter_name in module.tau_shift:
                weights += module.l1_entry_weights(adapter_name, offdiagonal)
        return weights

    def tau_regularization(self, adapter_name: str | None = None) -> torch.Tensor:
        """Linear & Sparse regularizer: ``sparsity_weight`` x L1 deviation of tau from the identity, the
        off-diagonal entries of ``D`` weighted ``offdiagonal_weight``."""
        names = [adapter_name] if adapter_name else list(self.active_adapters)
        total = torch.zeros(())
        for name in names:
            config = self.peft_config[name]
            for module in self.model.modules():
                if isinstance(module, TauLayer) and name in module.tau_shift:
                    deviation = module.deviation(name, config.offdiagonal_weight)
                    total = total + config.sparsity_weight * deviation.to(total.device)
        return total
