"""Engine test fixtures: the tiny synthetic dataset made once per session in a temporary ALPHACTION_DATA."""
from __future__ import annotations

import os

import pytest

from alphaction.engine.defaults import REPO_ROOT

QUICK = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> str:
    """A data root holding the tiny synthetic dataset (generated here, before any process needs it)."""
    root = str(tmp_path_factory.mktemp("engine_data"))
    mp = pytest.MonkeyPatch()
    mp.setenv("ALPHACTION_DATA", root)
    try:
        from alphaction.config.paths_catalog import DatasetCatalog
        from alphaction.data.synthetic import ensure_synthetic_dataset

        ensure_synthetic_dataset(**DatasetCatalog.get("synthetic_tiny_train")["synthetic"], progress=False)
    finally:
        mp.undo()
    return root
