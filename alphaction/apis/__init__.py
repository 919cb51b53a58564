"""The Python API: ``init_model`` / ``detect_actions`` / ``recognize`` (inference) and ``export_model``."""

from __future__ import annotations

from .export import export_model  # noqa: F401  (alphaction.apis.export: TorchScript / ONNX export)
from .predict import ActionModel, detect_actions, init_model, recognize

__all__ = ["ActionModel", "init_model", "detect_actions", "recognize"]
