"""The CPU allocator settings: applied once by re-executing the same command (same PID), never over a user's own
GLIBC_TUNABLES, and not at all with ALPHACTION_ALLOCATOR_TUNED=0."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from alphaction.utils.cpu_tuning import ALLOCATOR_TUNABLES, wants_tunables

CODE = (
    "import os; from alphaction.utils.cpu_tuning import reexec_with_allocator_tunables as r; "
    "print(os.getpid(), repr(os.environ.get('GLIBC_TUNABLES', '')), flush=True); r()"
)


def _run(env_extra: dict) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "ALPHACTION_ALLOCATOR_TUNED")}
    env.update(env_extra, CUDA_VISIBLE_DEVICES="")
    out = subprocess.run(
        [sys.executable, "-c", CODE],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split("\n")[:-1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc settings: Linux only")
def test_the_command_runs_again_once_with_the_settings_in_the_same_process():
    if not wants_tunables({}):
        pytest.skip("not glibc, or a CUDA device is present")
    first, second = _run({})
    assert first.split()[0] == second.split()[0]  # exec: the PID is kept
    assert first.split()[1] == "''" and second.split()[1] == repr(ALLOCATOR_TUNABLES)


def test_a_users_own_setting_or_the_opt_out_is_left_alone():
    assert not wants_tunables({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    assert not wants_tunables({"ALPHACTION_ALLOCATOR_TUNED": "0"})
    assert len(_run({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})) == 1
    assert len(_run({"ALPHACTION_ALLOCATOR_TUNED": "0"})) == 1
