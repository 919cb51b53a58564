"""Shared test set-up: the repository root on sys.path (train_net.py / test_net.py / tools are scripts)."""
from __future__ import annotations

import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

torch.set_num_threads(min(2, torch.get_num_threads()))


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


def _reset_alphaction_logger() -> None:
    import logging

    logger = logging.getLogger("alphaction")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


@pytest.fixture(autouse=True)
def _fresh_alphaction_logger():
    """Each test starts and ends with the ``alphaction`` logger as a fresh process has it: commands run in-process
    (train_net.main in a test or a session fixture) attach console and file handlers that must not outlive them."""
    _reset_alphaction_logger()
    yield
    _reset_alphaction_logger()
