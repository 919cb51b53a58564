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


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    """The tiny synthetic dataset as files (made once per session)."""
    from alphaction.data.synthetic import make_synthetic_dataset

    root = tmp_path_factory.mktemp("synthetic") / "tiny"
    make_synthetic_dataset(str(root), "tiny", progress=False)
    return root


@pytest.fixture
def registered_copy(tiny_root, tmp_path):
    """A copy of the tiny dataset's train split registered as ``mine_train`` in a catalog file: ``(root, catalog)``."""
    import shutil

    root = tmp_path / "tiny"
    shutil.copytree(tiny_root, root)
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "mine_train:\n"
        f"  root: {root}\n"
        "  video_root: clips\n"
        "  ann_file: annotations/train.json\n"
        "  box_file: boxes/train_person_bbox.json\n"
        "  eval_file_paths:\n"
        "    csv_gt_file: annotations/train.csv\n"
        "    labelmap_file: annotations/action_list.pbtxt\n"
    )
    return root, str(catalog)


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
