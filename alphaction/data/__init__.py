"""Data: clip decoding, transforms, datasets, samplers, collation and their builders."""

from __future__ import annotations

from .build import build_data_loader, build_dataset, build_transforms
from .collate import collate

__all__ = ["build_dataset", "build_data_loader", "build_transforms", "collate"]
