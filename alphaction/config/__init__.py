"""Config schema, loading (``_BASE_`` inheritance) and the dataset catalog."""

from __future__ import annotations

from .cfgnode import CfgNode, ConfigError, load_yaml_with_base
from .defaults import _C


def get_cfg() -> CfgNode:
    """Return a fresh, mutable clone of the defaults."""
    return _C.clone()


__all__ = ["CfgNode", "ConfigError", "get_cfg", "load_yaml_with_base"]
