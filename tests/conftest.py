from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SPLITBRAIN_SHARED", ROOT.parent / "shared"))
REFERENCE = SHARED / "reference-histories"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def reference() -> Path:
    """The public reference histories (../shared/reference-histories); skipped in a user's clone."""
    if not REFERENCE.is_dir():
        pytest.skip(
            f"reference histories not present at {REFERENCE} (only CI and dev machines have ../shared)"
        )
    return REFERENCE


def needs_root() -> pytest.MarkDecorator:
    return pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")


def _our_leftover_namespaces() -> list[str]:
    """Namespaces of runs started by this very test process (others' runs are not ours)."""
    import json
    import subprocess

    work = Path("/var/tmp/splitbrain")
    ours = set()
    for run_json in work.glob("*/run.json") if work.is_dir() else []:
        try:
            if json.loads(run_json.read_text()).get("harness_pid") == os.getpid():
                ours.add(run_json.parent.name)
        except (OSError, ValueError):
            continue
    try:
        names = subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True
        ).stdout.split()
    except OSError:
        return []
    return [n for n in names if any(n.startswith(f"sb-{rid}-") for rid in ours)]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A test that leaves a namespace behind fails the session (and the leak is removed)."""
    if os.geteuid() != 0:
        return
    leaked = _our_leftover_namespaces()
    if leaked:
        from harness.providers import local

        local.cleanup(force=True)
        print(f"\nLEAK: tests left network namespaces behind: {', '.join(leaked)} (removed now)")
        session.exitstatus = 1
