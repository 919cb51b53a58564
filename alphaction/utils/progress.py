"""Progress bars that show only where someone watches."""
from __future__ import annotations


def bar_disable(enabled: bool = True) -> bool | None:
    """tqdm's ``disable`` argument: off when not ``enabled`` (e.g. ranks other than 0), and otherwise ``None``,
    which makes tqdm stay quiet when its stream is not a terminal (log files, CI)."""
    return None if enabled else True
