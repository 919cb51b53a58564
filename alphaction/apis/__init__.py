"""The Python API: ``init_model`` / ``detect_actions`` / ``recognize`` (inference) and ``export_model``."""
from __future__ import annotations

from .inference import ActionModel, detect_actions, init_model, recognize

__all__ = ["ActionModel", "init_model", "detect_actions", "recognize"]
