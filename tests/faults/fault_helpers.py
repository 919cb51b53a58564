"""Fault-injection helpers shared by the tests of this folder (imported as ``fault_helpers``)."""

from __future__ import annotations

import hashlib
import os

from alphaction.engine.defaults import REPO_ROOT

QUICK = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")


def fingerprint(folder) -> dict[str, str]:
    """``{relative path: sha1}`` of every file below ``folder``: equal before and after = nothing lost."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.sha1(f.read()).hexdigest()
    return out


def assert_clear(status: int, err: str, *names: str) -> None:
    """One error block (no traceback), exit 2, naming every string of ``names`` (a file, line or key)."""
    assert status == 2, err
    assert err.startswith("error: ") and "\nfix: " in err, err
    assert "Traceback" not in err, err
    for name in names:
        assert name in err, f"{name!r} not in: {err}"
