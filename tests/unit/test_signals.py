"""SIGINT/SIGTERM during a run: handled whatever the parent set; the first raises, later
ones (and any during teardown) are only noted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.signals import Interrupts, handled


def test_first_signal_raises_later_ones_are_noted(capsys: pytest.CaptureFixture[str]) -> None:
    state = Interrupts()
    with pytest.raises(KeyboardInterrupt):
        state.handler(signal.SIGINT, None)
    state.handler(signal.SIGINT, None)  # a second Ctrl-C: no exception
    assert state.fired == "SIGINT"
    assert "still tearing the cluster down" in capsys.readouterr().err


def test_nothing_raises_while_shielded() -> None:
    state = Interrupts()
    with state.shield():
        state.handler(signal.SIGTERM, None)
    assert state.fired == "SIGTERM"


def test_handlers_are_installed_even_when_the_parent_ignored_sigint() -> None:
    """What `splitbrain run ... &` from a script does: SIGINT starts as SIG_IGN."""
    code = textwrap.dedent(
        """
        import os, signal, time
        from harness.signals import handled
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        try:
            with handled():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
        except KeyboardInterrupt as e:
            print("interrupted", e)
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # restored
        """
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        capture_output=True,
        text=True,
        timeout=30,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )
    assert r.returncode == 0, r.stderr
    assert "interrupted SIGINT" in r.stdout


def test_outside_the_main_thread_nothing_is_installed() -> None:
    import threading

    seen: list[object] = []

    def body() -> None:
        with handled() as st:
            seen.append(st)

    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert isinstance(seen[0], Interrupts)


def _background_run(tmp_path: Path, signals_to_send: int) -> tuple[int, str]:
    """`splitbrain run ... &` from a script (SIGINT ignored, as bash does for background jobs),
    on the in-memory test doubles; then SIGINT once or twice."""
    root = Path(__file__).resolve().parents[2]
    argv = [sys.executable, "-m", "tests.doubles.cli", "run", "--db", "memory", "--provider", "memory",
            "--nemesis", "none", "--time", "60", "--no-progress", "--results", str(tmp_path)]  # fmt: skip
    p = subprocess.Popen(
        argv,
        cwd=root,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not list(tmp_path.rglob("history.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # workers running
    for _ in range(signals_to_send):
        p.send_signal(signal.SIGINT)
        time.sleep(0.05)
    out, _ = p.communicate(timeout=60)
    return p.returncode, out


@pytest.mark.parametrize("n", [1, 2])
def test_a_background_run_stops_on_sigint_and_exits_2(tmp_path: Path, n: int) -> None:
    rc, out = _background_run(tmp_path, n)
    assert rc == 2, out
    assert "interrupted" in out and "Traceback" not in out and "Aborted!" not in out
    verdict = json.loads(next(tmp_path.rglob("verdict.json")).read_text())
    assert verdict["valid"] == "unknown" and verdict["run"]["aborted"].startswith("interrupted")
