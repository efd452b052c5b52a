"""Errors that carry a one-line message naming the problem and the fix, and the one CLI tail.

Every CLI runs through ``run_cli``: a ``SiuoError`` (or an OS error) is one line on stderr and exit 2,
never a traceback.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
from collections.abc import Callable


class SiuoError(Exception):
    """Base class of every error a user can fix."""


class SiuoDataError(SiuoError):
    """The SIUO data is missing, corrupt, or inconsistent."""


def one_line(error: BaseException) -> str:
    """The error's message with all whitespace (newlines included) collapsed to single spaces."""
    return " ".join(str(error).split()) or error.__class__.__name__


def run_cli(
    prog: str,
    action: Callable[[], int],
    *,
    interrupted: str = "interrupted",
    scrub: Callable[[str], str] = str,
) -> int:
    """``action()``'s exit status; instead one line on stderr and 2 for a user-fixable error (``SiuoError``,
    ``OSError``), ``PROG: interrupted`` and 130 on Ctrl-C, and 1 for a bug (traceback with SIUO_DEBUG=1).
    Every error line passes through ``scrub`` (siuo-eval masks credentials with it).

    At exit the objects still alive are frozen (``gc.freeze``), so Python's final collections skip them: with
    the ``openai`` SDK loaded that saves ~0.25 s per process (nothing is left to write by then)."""
    atexit.register(gc.freeze)
    try:
        return action()
    except (SiuoError, OSError) as error:
        print(f"{prog}: error: {scrub(one_line(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return 130
    except Exception as error:  # a bug, not a user error: still one line unless asked for the traceback
        if os.environ.get("SIUO_DEBUG"):
            raise
        print(
            f"{prog}: internal error: {error.__class__.__name__}: {scrub(one_line(error))} "
            "(rerun with SIUO_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1
