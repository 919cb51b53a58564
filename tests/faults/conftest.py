"""Fault-injection helpers: run a command in-process the way its ``__main__`` does, capture its exit status and
what it printed, and fingerprint folders to show that a failure lost nothing."""
from __future__ import annotations

import hashlib
import os

import pytest

from alphaction.engine.defaults import REPO_ROOT
from alphaction.utils.errors import run_cli

QUICK = os.path.join(REPO_ROOT, "config_files", "quick_schedules", "synthetic_tiny_r14.yaml")


@pytest.fixture
def command(capsys):
    """``command(main, argv) -> (status, stderr)``: ``main`` run through ``run_cli`` (the CLIs' own wrapper)."""

    def run(main, argv):
        capsys.readouterr()
        status = run_cli(main, [str(a) for a in argv])
        return status, capsys.readouterr().err

    return run


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
