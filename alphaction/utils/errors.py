"""One error style for every command: a user error says what is wrong, where (file:line or config key) and what to
do; the command prints it as one block and exits with status 2, without a traceback.

    error: SOLVER.MAX_ITER = -5 must be >= 1 (config key SOLVER.MAX_ITER)
    fix: give the number of training iterations, e.g. SOLVER.MAX_ITER 90000, or SOLVER.EPOCHS

Every exception a user can cause by what they give (a file, a value, a flag) derives from :class:`UserError`
(the package's error classes: config, checkpoint, dataset, video, evaluation files). Anything else is a bug and
keeps its traceback. ``--debug`` on any command (or ``ALPHACTION_DEBUG=1``) shows the traceback of user errors too.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Sequence

EXIT_USER_ERROR = 2
DEBUG_FLAG = "--debug"


class UserError(Exception):
    """A problem with what the user gave.

    Args:
        what: what is wrong, with the offending value.
        fix: what to do about it (one sentence).
        where: the file and line (``path:12``) or the config key, when known.
    """

    def __init__(self, what: str, fix: str = "", where: str = "") -> None:
        self.what, self.fix, self.where = what, fix, where
        super().__init__(what)

    def __str__(self) -> str:  # the one-line form logs and tracebacks show: "where: what; fix: fix"
        text = (f"{self.where}: " if self.where else "") + self.what
        return text + (f"; fix: {self.fix}" if self.fix else "")

    def render(self) -> str:
        """The block a command prints: ``error: ...`` and, when there is one, ``fix: ...``."""
        lines = [f"error: {self.what}" + (f" ({self.where})" if self.where else "")]
        if self.fix:
            lines.append(f"fix: {self.fix}")
        return "\n".join(lines)


class ConfigValueError(UserError, ValueError):
    """A config key holds a value out of its range or of the wrong type (``where``, or the message, names it)."""

    def __init__(self, what: str, fix: str = "", where: str = "") -> None:
        super().__init__(
            what,
            fix
            or "change the config key named above, in the config file or as KEY VALUE on the "
            "command line (alphaction/config/defaults.py documents every key)",
            where,
        )


class InputFileError(UserError, ValueError):
    """An input file (annotations, boxes, CSV, label map) is malformed (``where`` names the file and line)."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the user named does not exist (``where`` names the argument or key that named it)."""


def debug_requested(argv: Sequence[str] | None = None) -> bool:
    """``--debug`` among the arguments, or ``ALPHACTION_DEBUG`` set to anything but ``""`` / ``0``."""
    args = sys.argv[1:] if argv is None else argv
    return DEBUG_FLAG in args or os.environ.get("ALPHACTION_DEBUG", "") not in ("", "0")


def run_cli(main: Callable[[list[str]], Any], argv: Sequence[str] | None = None) -> int:
    """Run a command's ``main(argv)`` in the package's error style; returns the exit status.

    ``--debug`` is taken out of ``argv`` (any position). A :class:`UserError` prints its block on stderr and gives
    status 2 (with the traceback under ``--debug``); ``main``'s own integer result is its status, anything else 0.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = debug_requested(args)
    args = [a for a in args if a != DEBUG_FLAG]
    try:
        result = main(args)
    except UserError as e:
        if debug:
            raise
        sys.stderr.write(e.render() + "\n")
        sys.stderr.flush()
        return EXIT_USER_ERROR
    return result if isinstance(result, int) and not isinstance(result, bool) else 0
