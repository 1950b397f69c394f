"""Who made a run's resources, and whether it is still there: every provider marks what a
run creates with the harness that made it (host and pid), and `splitbrain cleanup` removes
only what a gone harness left (everything, with --force)."""

from __future__ import annotations

import os
import socket


def me() -> tuple[str, int]:
    return socket.gethostname(), os.getpid()


def alive(host: str | None, pid: object) -> bool:
    """Whether the harness `pid` on `host` still runs. Another machine's run is not ours to
    judge (alive); a pid we cannot read means a record we did not write (not alive)."""
    if host is not None and host != socket.gethostname():
        return True
    try:
        os.kill(int(str(pid)), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (ValueError, OverflowError):
        return False
    return True
