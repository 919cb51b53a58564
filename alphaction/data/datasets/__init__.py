"""Dataset classes (see ``docs/internals.md`` for the sample dict)."""

from __future__ import annotations

from .ava import AVAVideoDataset

__all__ = ["AVAVideoDataset"]
