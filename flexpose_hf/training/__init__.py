"""Pieces shared by the source-training and adaptation loops: data, losses, EMA."""
