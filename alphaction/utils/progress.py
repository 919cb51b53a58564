"""Progress bars that show only where someone watches."""

from __future__ import annotations


def bar_disable(enabled: bool = True) -> bool | None:
    """tqdm's ``disable`` argument: off when not ``enabled`` (e.g. ranks other than 0), and otherwise ``None``,
    which makes tqdm stay quiet when its stream is not a terminal (log files, CI)."""
    return None if enabled else True


def progress(
    iterable, desc: str, unit: str, enabled: bool = True, logger=None, every: float = 30.0, total: int | None = None
):
    """Iterate ``iterable`` under a tqdm bar on a terminal; when none shows (a log file, CI) and ``logger`` is
    given, log ``desc: N unit(s) (R/s)`` every ``every`` seconds instead, so long runs still report progress."""
    import time

    from tqdm import tqdm

    bar = tqdm(
        iterable, desc=desc, unit=unit, disable=bar_disable(enabled), total=total, mininterval=1.0, dynamic_ncols=True
    )
    if not bar.disable or logger is None or not enabled:
        yield from bar
        return
    start = last = time.monotonic()
    n = 0
    for n, item in enumerate(iterable, 1):
        yield item
        now = time.monotonic()
        if now - last >= every:
            last = now
            logger.info("%s: %d %s(s) (%.1f/s)%s", desc, n, unit, n / (now - start), f" of {total}" if total else "")
