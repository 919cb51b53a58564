"""Files that are never seen half-written: one writer for every file a run or a tool must not leave broken."""

from __future__ import annotations

import contextlib
import os
from typing import IO, Iterator

__all__ = ["atomic_write", "atomic_write_text", "atomic_torch_save"]


@contextlib.contextmanager
def atomic_write(
    path: str, mode: str = "w", *, encoding: str | None = "utf-8", newline: str | None = None, fsync: bool = False
) -> Iterator[IO]:
    """Open a temporary file next to ``path``; when the block ends without an exception it is flushed (and
    ``fsync``-ed when asked: checkpoints) and renamed to ``path``, otherwise removed. Readers of ``path`` see the
    old file or the whole new one, never a part; the folder is created when missing.

        with atomic_write("out/result.csv", newline="") as f:
            f.write(text)
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    binary = "b" in mode
    f = open(tmp, mode, encoding=None if binary else encoding, newline=None if binary else newline)
    try:
        yield f
        f.flush()
        if fsync:
            os.fsync(f.fileno())
        f.close()
        os.replace(tmp, path)
    except BaseException:
        f.close()
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def atomic_write_text(path: str, text: str, newline: str | None = None) -> None:
    """Write ``text`` (UTF-8) to ``path`` with :func:`atomic_write`."""
    with atomic_write(path, newline=newline) as f:
        f.write(text)


def atomic_torch_save(obj, path: str) -> None:
    """``torch.save(obj)`` to ``path`` with :func:`atomic_write`, synced to disk before the rename."""
    import torch

    with atomic_write(path, "wb", fsync=True) as f:
        torch.save(obj, f)
