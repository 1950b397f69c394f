"""Server clocks shifted through libfaketime: the mechanics every provider shares.

A run whose nemesis includes `clock` starts each node's database under LD_PRELOAD of
libfaketime, reading its offset from a file in the node's directory; the clock fault changes
that file while the database runs (harness.cluster.Cluster.set_clock_offset). The wrapper is
`env VAR=... <argv>`, so only the database process (and its children) sees the fake clock,
not the provider's own tools, and `env` exec()s: the pid a provider tracks is still the
database's.

Environment, as measured on libfaketime 0.9.10 with OpenJDK 17 (docs/clock.md):
- FAKETIME_DONT_FAKE_MONOTONIC=1: CLOCK_MONOTONIC stays real, so timeouts keep working.
- FAKETIME_FORCE_MONOTONIC_FIX=0: without it, timed waits on a monotonic condition variable
  (Java's Object.wait(ms), LockSupport.parkNanos) return at once, and a JVM spins.
- FAKETIME_CACHE_DURATION=1: the offset file is re-read at most once a second. With
  FAKETIME_NO_CACHE=1 every clock read opens the file (13 us per currentTimeMillis instead
  of 0.5 us): too slow for a database. An offset change thus takes effect within ~1 s.
An empty or missing offset file means the real time (libfaketime prints nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
INSTALL_HINT = "apt-get install faketime (libfaketime)"
OFFSET_FILE = "faketime-offset"  # in the node's directory


def offset_text(seconds: float) -> str:
    """The offset file's content: libfaketime's relative form, e.g. "+0.500000" or "-2.000000"."""
    return f"{seconds:+.6f}\n"


def parse_offset(text: str) -> float:
    """The offset an offset file holds (0 for an empty one, as libfaketime reads it)."""
    t = text.strip()
    return float(t) if t else 0.0


def faked_env(lib: str, offset_file: PurePosixPath | str) -> dict[str, str]:
    return {
        "LD_PRELOAD": lib,
        "FAKETIME_TIMESTAMP_FILE": str(offset_file),
        "FAKETIME_CACHE_DURATION": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "FAKETIME_FORCE_MONOTONIC_FIX": "0",
    }


def wrap(argv: Sequence[str], lib: str, offset_file: PurePosixPath | str) -> list[str]:
    """argv run under libfaketime reading its offset from offset_file."""
    env = faked_env(lib, offset_file)
    return ["env", *(f"{k}={v}" for k, v in env.items()), *argv]


def wanted(nemesis: Sequence[str]) -> bool:
    """Whether a run's clocks must be faked (only then: the preload costs a little per call)."""
    return "clock" in nemesis
