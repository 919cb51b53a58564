"""Checkpointing: atomic saves, resume through ``last_checkpoint``, loud load reports, foreign-key converters."""

from .checkpointer import (
    Checkpointer,
    CheckpointError,
    CorruptCheckpointError,
    LoadReport,
    match_state_dict,
    read_checkpoint,
    strip_prefix,
    strip_wrappers,
)
from .convert import CONVERTERS, FORMATS, Conversion, ConversionError, detect_format, load_caffe2_pkl

__all__ = [
    "CONVERTERS",
    "FORMATS",
    "Checkpointer",
    "CheckpointError",
    "Conversion",
    "ConversionError",
    "CorruptCheckpointError",
    "LoadReport",
    "detect_format",
    "load_caffe2_pkl",
    "match_state_dict",
    "read_checkpoint",
    "strip_prefix",
    "strip_wrappers",
]
