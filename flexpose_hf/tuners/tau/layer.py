"""The tau layer: a linear map (full, low-rank or per-channel) applied to a style affine layer's output."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from peft.tuners.tuners_utils import BaseTunerLayer, check_adapters_to_merge
from torch import nn

from .config import TauConfig


class TauLayer(BaseTunerLayer):
    """Holds, per adapter, ``tau_matrix`` (full form: ``tau(s) = (I + D) s + b``), ``tau_up`` and
    ``tau_down`` (low-rank form: ``D = U V``) or ``tau_scale`` (diagonal form:
    ``tau(s) = (1 + d) * s + b``), and ``tau_shift`` (``b``)."""

    adapter_layer_names = ("tau_matrix", "tau_up", "tau_down", "tau_scale", "tau_shift")

    def __init__(self, base_layer: nn.Module, **kwargs: Any) -> None:
        self.base_layer = base_layer
        self.tau_matrix = nn.ParameterDict({})
        self.tau_up = nn.ParameterDict({})
        self.tau_down = nn.ParameterDict({})
        self.tau_scale = nn.ParameterDict({})
        self.tau_shift = nn.ParameterDict({})
        self._disable_adapters = False
        self.merged_adapters: list[str] = []
        base = self.get_base_layer()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"tau adapts nn.Linear style layers, got {type(base).__name__}")
        self.in_features, self.out_features = base.in_features, base.out_features

    def update_layer(self, adapter_name: str, config: TauConfig, **kwargs: Any) -> None:
        n = self.out_features
        self.tau_shift[adapter_name] = nn.Parameter(torch.zeros(n))
        if config.form == "lowrank":  # U = 0, V random (as LoRA): identity at start, yet U gets gradients
            r = min(config.rank, n)
            self.tau_up[adapter_name] = nn.Parameter(torch.zeros(n, r))
            self.tau_down[adapter_name] = nn.Parameter(torch.randn(r, n) / n**0.5)
        else:
            linear = nn.Parameter(torch.zeros(n, n) if config.form == "full" else torch.zeros(n))
            (self.tau_matrix if config.form == "full" else self.tau_scale)[adapter_name] = linear
        if not config.init_identity:
            for param in [*self.linear_parameters(adapter_name), self.tau_shift[adapter_name]]:
                nn.init.normal_(param, std=0.02)
        self._move_adapter_to_device_of_base_layer(adapter_name)
        self.set_adapter(self.active_adapters, inference_mode=config.inference_mode)

    def linear_parameters(self, adapter_name: str) -> list[nn.Parameter]:
        """The trainable linear part of one adapter: ``[D]``, ``[U, V]`` or ``[d]``."""
        if adapter_name in self.tau_matrix:
            return [self.tau_matrix[adapter_name]]
        if adapter_name in self.tau_up:
            return [self.tau_up[adapter_name], self.tau_down[adapter_name]]
        return [self.tau_scale[adapter_name]]

    def tau_linear(self, adapter_name: str) -> torch.Tensor:
        """``D`` (full form; ``U V`` in the low-rank form) or ``d`` (diagonal form) of one adapter."""
        if adapter_name in self.tau_up:
            return self.tau_up[adapter_name] @ self.tau_down[adapter_name]
        return self.tau_matrix[adapter_name] if adapter_name in self.tau_matrix else self.tau_scale[adapter_name]

    def deviation(self, adapter_name: str, offdiagonal_weight: float = 1.0) -> torch.Tensor:
        """Weighted L1 norm of tau's deviation from the identity: ``|diag D|_1 + c |offdiag D|_1 + |b|_1``
        (``c`` = ``offdiagonal_weight``; the diagonal form has no off-diagonal part)."""
        linear = self.tau_linear(adapter_name)
        total = linear.abs().sum() + self.tau_shift[adapter_name].abs().sum()
        if linear.dim() == 2 and offdiagonal_weight != 1:
            total = total + (offdiagonal_weight - 1) * (linear.abs().sum() - linear.diagonal().abs().sum())
        return total

    def l1_entry_weights(self, adapter_name: str, offdiagonal_weight: float) -> list[torch.Tensor | float]:
        """Per-parameter L1 weights matching ``deviation`` for the separable forms (full, diagonal), in the
        order of ``linear_parameters`` then the shift: ``D``'s as a matrix (1 on the diagonal, ``c`` off it)."""
        weights: list[torch.Tensor | float] = [1.0] * len(self.linear_parameters(adapter_name))
        if adapter_name in self.tau_matrix and offdiagonal_weight != 1:
            matrix = self.tau_matrix[adapter_name]
            eye = torch.eye(matrix.shape[0], dtype=matrix.dtype, device=matrix.device)
            weights[0] = offdiagonal_weight + (1 - offdiagonal_weight) * eye
        return weights + [1.0]

    def map_matrix(self, adapter_name: str) -> torch.Tensor:
        """tau's linear part as a matrix, ``I + D`` (or ``diag(1 + d)``), in float64."""
        linear = self.tau_linear(adapter_name).detach().double()
        if linear.dim() == 2:
            return torch.eye(self.out_features, dtype=torch.float64, device=linear.device) + linear
        return torch.diag(1 + linear)


class Linear(nn.Module, TauLayer):
    """tau on an ``nn.Linear`` style affine: ``y = (I + D) A(x) + b`` (``D = U V`` in the low-rank form)."""

    def __init__(self, base_layer: nn.Module, adapter_name: str, config: TauConfig, **kwargs: Any) -> None:
        super().__init__()
        TauLayer.__init__(self, base_layer)
        self._active_adapter = adapter_name
        self.update_layer(adapter_name, config=config)

    def tau(self, y: torch.Tensor, adapter_names: list[str]) -> torch.Tensor:
        for name in adapter_names:
            if name in self.tau_matrix:
                y = y + y @ self.tau_matrix[name].T + self.tau_shift[name]
            elif name in self.tau_up:
                y = y + (y @ self.tau_down[name].T) @ self.tau_up[name].T + self.tau_shift[name]
            elif name in self.tau_scale:
                y = (1 + self.tau_scale[name]) * y + self.tau_shift[name]
        return y

    def merge(self, safe_merge: bool = False, adapter_names: list[str] | None = None) -> None:
        """Fold tau into the affine layer: W <- M W, c <- M c + b with M = I + D (exact up to rounding)."""
        adapter_names = check_adapters_to_merge(self, adapter_names)
        base = self.get_base_layer()
        for name in adapter_names:
            if name not in self.tau_shift:
                continue
            m = self.map_matrix(name)
            weight = (m @ base.weight.data.double()).to(base.weight.dtype)
            bias = (m @ base.bias.data.double() + self.tau_shift[name].data.double()).to(base.bias.dtype)
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
            if name in self.tau_shift:
                m = self.map_matrix(name)
                bias = base.bias.data.double() - self.tau_shift[name].data.double()
                base.bias.data = torch.linalg.solve(m, bias).to(base.bias.dtype)
                base.weight.data = torch.linalg.solve(m, base.weight.data.double()).to(base.weight.dtype)

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
