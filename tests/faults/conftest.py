"""Fault-injection fixtures: run a command in-process the way its ``__main__`` does and capture its exit status
and what it printed (helpers in ``fault_helpers.py``)."""

from __future__ import annotations

import pytest

from alphaction.utils.errors import run_cli


@pytest.fixture
def command(capsys):
    """``command(main, argv) -> (status, stderr)``: ``main`` run through ``run_cli`` (the CLIs' own wrapper)."""

    def run(main, argv):
        capsys.readouterr()
        status = run_cli(main, [str(a) for a in argv])
        return status, capsys.readouterr().err

    return run
