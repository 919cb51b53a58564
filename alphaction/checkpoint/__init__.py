"""Checkpointing: atomic saves, resume through ``last_checkpoint``, loud partial-load reports."""
from .checkpointer import Checkpointer, CheckpointError, match_state_dict, strip_prefix

__all__ = ["Checkpointer", "CheckpointError", "match_state_dict", "strip_prefix"]
