"""harness.install.maven: the cache folder is reused, and missing tools or a failing Maven are
one-line EnvironmentProblems naming what to install. A stand-in `mvn` script on PATH plays
Maven (what is tested is the installer's handling, not Maven)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from harness.errors import EnvironmentProblem
from harness.install import maven


def fake_tools(tmp: Path, mvn_body: str) -> str:
    bin_ = tmp / "bin"
    bin_.mkdir()
    for name, body in (("java", "exit 0"), ("mvn", mvn_body)):
        p = bin_ / name
        p.write_text(f"#!/bin/sh\n{body}\n")
        p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return str(bin_)


COPY = """for a in "$@"; do case "$a" in -DoutputDirectory=*) out="${a#-DoutputDirectory=}";; esac; done
mkdir -p "$out" && touch "$out/cassandra-all-5.0.6.jar" "$out/jamm-0.4.0.jar"
echo called >> "$(dirname "$out")/calls"
"""


def test_resolves_once_then_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", fake_tools(tmp_path, COPY) + ":/usr/bin:/bin")
    home = tmp_path / "home"
    monkeypatch.setenv("SPLITBRAIN_CASSANDRA_HOME", str(home))
    assert maven.cassandra_home() == home
    lib = maven.resolve()
    assert lib == home / "lib" and (lib / "cassandra-all-5.0.6.jar").exists()
    assert "cassandra-all" in (home / "pom.xml").read_text()
    assert maven.resolve() == lib
    assert (home / "calls").read_text().count("called") == 1
    assert maven.is_installed(home)


def test_mvn_failure_is_one_line_and_leaves_no_lib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "PATH",
        fake_tools(tmp_path, 'echo "[ERROR] Could not resolve x"; exit 1') + ":/usr/bin:/bin",
    )
    home = tmp_path / "home"
    with pytest.raises(EnvironmentProblem) as e:
        maven.resolve(home=home)
    msg = str(e.value)
    assert "\n" not in msg and "Could not resolve x" in msg and "exit 1" in msg
    assert not (home / "lib").exists() and not maven.is_installed(home)


def test_missing_java_and_mvn_name_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither java nor mvn here
    with pytest.raises(EnvironmentProblem) as e:
        maven.resolve(home=tmp_path / "home")
    msg = str(e.value)
    assert "java and mvn" in msg and "openjdk-17-jre-headless" in msg and "maven" in msg
    assert e.value.exit_code == 4


def test_half_done_folder_is_not_installed(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "cassandra-all-5.0.6.jar").touch()
    assert not maven.is_installed(tmp_path)  # no .complete marker: resolution was cut short
    (tmp_path / maven.COMPLETE).touch()
    assert maven.is_installed(tmp_path)
    assert os.path.isdir(tmp_path / "lib")
