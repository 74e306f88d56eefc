from .tau import TauConfig, TauModel, register_tau

__all__ = ["TauConfig", "TauModel", "register_tau"]
