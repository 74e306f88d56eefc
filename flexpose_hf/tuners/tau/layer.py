"""The tau layer: a per-channel linear map applied to a style affine layer's output."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from peft.tuners.tuners_utils import BaseTunerLayer, check_adapters_to_merge
from torch import nn

from .config import TauConfig


class TauLayer(BaseTunerLayer):
    """Holds, per adapter, ``tau_scale`` and ``tau_shift`` so that ``tau(s) = (1 + scale) * s + shift``."""

    adapter_layer_names = ("tau_scale", "tau_shift")

    def __init__(self, base_layer: nn.Module, **kwargs: Any) -> None:
        self.base_layer = base_layer
        self.tau_scale = nn.ParameterDict({})
        self.tau_shift = nn.ParameterDict({})
        self._disable_adapters = False
        self.merged_adapters: list[str] = []
        # Reference point of the sparsity penalty per adapter (identity unless ``set_anchor`` moved it).
        self.tau_anchor: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        base = self.get_base_layer()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"tau adapts nn.Linear style layers, got {type(base).__name__}")
        self.in_features, self.out_features = base.in_features, base.out_features

    def update_layer(self, adapter_name: str, config: TauConfig, **kwargs: Any) -> None:
        self.tau_scale[adapter_name] = nn.Parameter(torch.zeros(self.out_features))
        self.tau_shift[adapter_name] = nn.Parameter(torch.zeros(self.out_features))
        if not config.init_identity:
            nn.init.normal_(self.tau_scale[adapter_name], std=0.02)
            nn.init.normal_(self.tau_shift[adapter_name], std=0.02)
        self._move_adapter_to_device_of_base_layer(adapter_name)
        self.set_adapter(self.active_adapters, inference_mode=config.inference_mode)

    def deviation(self, adapter_name: str) -> torch.Tensor:
        """L1 norm of tau's deviation from its anchor (the identity unless ``set_anchor`` was called)."""
        scale, shift = self.tau_scale[adapter_name], self.tau_shift[adapter_name]
        if adapter_name in self.tau_anchor:
            anchor_scale, anchor_shift = self.tau_anchor[adapter_name]
            scale, shift = scale - anchor_scale.to(scale), shift - anchor_shift.to(shift)
        return scale.abs().sum() + shift.abs().sum()

    def set_anchor(self, adapter_name: str) -> None:
        """Penalize deviation from tau's current values (e.g. a fitted calibration) from now on."""
        self.tau_anchor[adapter_name] = (self.tau_scale[adapter_name].detach().clone(),
                                         self.tau_shift[adapter_name].detach().clone())


class Linear(nn.Module, TauLayer):
    """tau on an ``nn.Linear`` style affine: ``y = (1 + scale) * A(x) + shift``."""

    def __init__(self, base_layer: nn.Module, adapter_name: str, config: TauConfig, **kwargs: Any) -> None:
        super().__init__()
        TauLayer.__init__(self, base_layer)
        self._active_adapter = adapter_name
        self.update_layer(adapter_name, config=config)

    def tau(self, y: torch.Tensor, adapter_names: list[str]) -> torch.Tensor:
        for name in adapter_names:
            if name in self.tau_scale:
                y = (1 + self.tau_scale[name]) * y + self.tau_shift[name]
        return y

    def merge(self, safe_merge: bool = False, adapter_names: list[str] | None = None) -> None:
        """Fold tau into the affine layer: W <- (1 + scale) W, b <- (1 + scale) b + shift (exact)."""
        adapter_names = check_adapters_to_merge(self, adapter_names)
        base = self.get_base_layer()
        for name in adapter_names:
            if name not in self.tau_scale:
                continue
            scale = 1 + self.tau_scale[name].data
            weight = base.weight.data * scale[:, None]
            bias = base.bias.data * scale + self.tau_shift[name].data
            if safe_merge and not (torch.isfinite(weight).all() and torch.isfinite(bias).all()):
                raise ValueError(f"NaNs detected in the merged weights; adapter {name!r} seems broken")
            base.weight.data, base.bias.data = weight, bias
            self.merged_adapters.append(name)

    def unmerge(self) -> None:
        if not self.merged:
            warnings.warn("Already unmerged. Nothing to do.", stacklevel=2)
            return
        base = self.get_base_layer()
        while self.merged_adapters:
            name = self.merged_adapters.pop()
            if name in self.tau_scale:
                scale = 1 + self.tau_scale[name].data
                base.bias.data = (base.bias.data - self.tau_shift[name].data) / scale
                base.weight.data = base.weight.data / scale[:, None]

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.disable_adapters:
            if self.merged:
                self.unmerge()
            return self.base_layer(x, *args, **kwargs)
        result = self.base_layer(x, *args, **kwargs)
        if self.merged:
            return result
        return self.tau(result, list(self.active_adapters))

    def __repr__(self) -> str:
        return "tau." + super().__repr__()
