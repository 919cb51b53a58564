"""Fixtures for the dataset-preparation tools: the tiny synthetic dataset, made once per session."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    from alphaction.data.synthetic import make_synthetic_dataset

    root = tmp_path_factory.mktemp("synthetic") / "tiny"
    make_synthetic_dataset(str(root), "tiny", progress=False)
    return root
