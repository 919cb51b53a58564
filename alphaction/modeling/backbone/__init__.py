"""Video backbones (SlowFast ResNets with AlphAction's key names)."""

from __future__ import annotations

from .nonlocal_block import NLBlock, NonLocalSpec, NonLocalStages
from .slowfast import BLOCKS_PER_STAGE, LATERAL_FORMS, BatchNormSpec, SlowFast

__all__ = [
    "BLOCKS_PER_STAGE",
    "LATERAL_FORMS",
    "BatchNormSpec",
    "NLBlock",
    "NonLocalSpec",
    "NonLocalStages",
    "SlowFast",
]
