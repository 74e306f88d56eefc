"""The browser demo (``flexpose demo``; ``examples/space/`` runs it as a Hugging Face Space)."""

from .app import build_app, launch
from .jobs import DemoResult, run_demo_adaptation

__all__ = ["DemoResult", "build_app", "launch", "run_demo_adaptation"]
