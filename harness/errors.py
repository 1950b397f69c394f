"""User-facing errors: each is printed as one line by the CLI, never as a traceback."""

from __future__ import annotations


def one_line(e: BaseException) -> str:
    """First line of an exception's message (its type name if it has none)."""
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


class SplitbrainError(Exception):
    """A problem the user can fix; the message names it in one line."""

    exit_code = 3


class SpecError(SplitbrainError):
    """Bad flag or spec value."""

    exit_code = 3


class EnvironmentProblem(SplitbrainError):
    """Missing binary, not root, leftovers of a crashed run, no Docker engine..."""

    exit_code = 4


class HistoryError(SplitbrainError):
    """A history file that cannot be read (malformed line N, unknown format)."""

    exit_code = 3


class ClusterError(SplitbrainError):
    """The cluster could not be brought up or recovered."""

    exit_code = 5
