"""Errors that carry a one-line message naming the problem and the fix.

Every CLI catches ``SiuoError`` and prints ``str(error)`` as one line on stderr with a
non-zero exit, never a traceback.
"""


class SiuoError(Exception):
    """Base class of every error a user can fix."""


class SiuoDataError(SiuoError):
    """The SIUO data is missing, corrupt, or inconsistent."""
