"""Engine test fixtures (the tiny synthetic dataset, ``tiny_data``, is made in tests/conftest.py)."""

from __future__ import annotations

import os

from alphaction.engine.defaults import REPO_ROOT

QUICK = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")
