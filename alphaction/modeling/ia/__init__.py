"""Interaction Aggregation (AlphAction's IA): person (P), object (O) and memory (M) interaction blocks in
serial, dense serial or parallel structures, and the long-term memory pool (:class:`MemoryPool`) whose features
the model takes as :class:`ClipMemory` per clip."""

from __future__ import annotations

from .blocks import InteractionBlock, PointwiseConv
from .inputs import ClipLayout, ClipMemory, memory_slot
from .memory_pool import MemoryPool, loss_penalty
from .structures import (
    BLOCK_TYPES,
    STRUCTURES,
    DenseSerialIAStructure,
    IAConfig,
    IAStructure,
    ParallelIAStructure,
    SerialIAStructure,
    make_ia_structure,
)

__all__ = [
    "BLOCK_TYPES",
    "STRUCTURES",
    "ClipLayout",
    "ClipMemory",
    "DenseSerialIAStructure",
    "IAConfig",
    "IAStructure",
    "InteractionBlock",
    "MemoryPool",
    "ParallelIAStructure",
    "PointwiseConv",
    "SerialIAStructure",
    "loss_penalty",
    "make_ia_structure",
    "memory_slot",
]
