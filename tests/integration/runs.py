"""One seeded run as the integration tests make it, what it wrote back, and what the tests
need of this machine."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from harness.history import load
from harness.install.maven import is_installed
from harness.ops import Op
from harness.runner import run
from harness.spec import TestSpec


def run_spec(
    tmp_path: Path, fields: Mapping[str, Any], *, clean: bool = False, recovered: bool = False
) -> tuple[dict[str, Any], list[Op], Path]:
    """Run TestSpec(**fields) under tmp_path: its verdict, history and folder. The run must
    not have been aborted; with clean it must have no run errors, with recovered its
    recovery must have succeeded."""
    result = run(TestSpec(**fields), tmp_path, echo=lambda s: None, progress=False)
    doc = json.loads((result.dir / "verdict.json").read_text())
    assert doc["run"]["aborted"] is None, doc["run"]
    if clean:
        assert not doc["run"]["errors"], doc["run"]["errors"]
    if recovered:
        assert "error" not in doc["run"]["recovery"], doc["run"]["recovery"]
    return doc, load(result.dir / "history.jsonl"), result.dir


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")
_MARIADBD = bool(shutil.which("mariadbd") or os.path.exists("/usr/sbin/mariadbd"))
needs_mariadb = pytest.mark.skipif(not _MARIADBD, reason="needs mariadb-server")
needs_galera = pytest.mark.skipif(
    not _MARIADBD or not os.path.exists("/usr/lib/galera/libgalera_smm.so"),
    reason="needs mariadb-server and galera-4",
)
needs_cassandra = pytest.mark.skipif(
    not shutil.which("java") or not is_installed(),
    reason="needs java and Cassandra's jars (python3 -m harness.install.maven)",
)
