"""Logging set-up: readable lines on rank 0's console, one log file per rank."""

from __future__ import annotations

import logging
import os
import sys

_FORMAT = "%(asctime)s %(name)s %(levelname)s: %(message)s"


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is when a record is emitted, not to the stream of set-up time (which a
    caller that redirects or captures stdout may have closed since)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it
        pass


def setup_logger(output_dir: str = "", rank: int = 0, name: str = "alphaction") -> logging.Logger:
    """Configure the ``alphaction`` logger (idempotent: handlers are replaced, not stacked).

    Rank 0 logs INFO to stdout; every rank writes ``output_dir/log.txt`` (rank 0) or ``log_rank<r>.txt``.
    """
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    formatter = logging.Formatter(_FORMAT, datefmt="%m/%d %H:%M:%S")
    if rank == 0:
        console = _StdoutHandler()
        console.setFormatter(formatter)
        logger.addHandler(console)
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        filename = "log.txt" if rank == 0 else f"log_rank{rank}.txt"
        fh = logging.FileHandler(os.path.join(output_dir, filename))
        fh.setFormatter(formatter)
        logger.addHandler(fh)
    return logger
