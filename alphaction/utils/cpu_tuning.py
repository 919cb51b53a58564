"""CPU runs as shipped: glibc's allocator settings that a training step wants, applied from inside.

PyTorch's CPU kernels allocate and free large buffers every step. With glibc's defaults each one above the mmap
threshold is a fresh ``mmap`` that the kernel zero-fills page by page (minor page faults) and ``munmap`` returns
at once; ``mmap_max=0`` keeps them on the heap and a high ``trim_threshold`` stops returning the heap's top, so a
step reuses the pages of the last one (measured in ``tools/benchmark_cpu_defaults.py``). The settings are read
only at process start, so :func:`reexec_with_allocator_tunables` re-executes the command once with them.
"""

from __future__ import annotations

import glob
import os
import platform
import sys

__all__ = ["ALLOCATOR_TUNABLES", "reexec_with_allocator_tunables"]

ALLOCATOR_TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736"
_MARK = "ALPHACTION_ALLOCATOR_TUNED"  # set in the re-executed process (and to "0" by a user to opt out)


def _gpu_present(environ) -> bool:
    """Whether a GPU the CUDA / ROCm runtime could use is present, from the device nodes alone: importing torch
    to ask would add its import time to every start of a process that is about to be replaced."""
    if environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/kfd")


def wants_tunables(environ=os.environ) -> bool:
    """Whether this process should re-execute with :data:`ALLOCATOR_TUNABLES`: Linux with glibc, no
    ``GLIBC_TUNABLES`` of the user's, not already re-executed or opted out (``ALPHACTION_ALLOCATOR_TUNED=0``), and
    no GPU (GPU runs keep the defaults: their host side is the data loader)."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    if "GLIBC_TUNABLES" in environ or _MARK in environ:
        return False
    return not _gpu_present(environ)


def reexec_with_allocator_tunables() -> None:
    """Replace this process by the same command with the allocator settings (see the module docstring), when
    :func:`wants_tunables`; otherwise return. Called first thing by the ``train_net.py`` / ``test_net.py``
    scripts (never from ``main()``, so tests and callers in-process are untouched); the PID stays the same, so
    ``torchrun`` and schedulers see one process."""
    if not wants_tunables():
        return
    env = dict(os.environ, GLIBC_TUNABLES=ALLOCATOR_TUNABLES, **{_MARK: "1"})
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
