"""quickstart builds the native core only when cargo is there, and says so in one line when it
is not; doctor reports it. (The core's own behaviour: test_native_equivalence.py.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness import doctor, quickstart


def test_no_cargo_is_one_line_and_the_python_path(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(quickstart, "_cargo", lambda: None)
    monkeypatch.setattr(quickstart.subprocess, "run", None)  # nothing may be run
    assert quickstart.build_native(sys.executable) is False
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no cargo" in err[0] and "Python path" in err[0]


def test_cargo_found_in_the_rustup_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(quickstart.shutil, "which", lambda _: None)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "cargo").write_text("")
    monkeypatch.setenv("CARGO_HOME", str(tmp_path))
    assert quickstart._cargo() == str(tmp_path / "bin" / "cargo")


def test_native_hash_follows_the_sources() -> None:
    h = quickstart._native_hash()
    assert len(h) == 16 and h == quickstart._native_hash()


def test_doctor_reports_the_native_core() -> None:
    lines = [what for _, what, _ in doctor.report() if what.startswith("native core")]
    assert len(lines) == 1
