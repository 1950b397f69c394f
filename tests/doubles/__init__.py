"""Test doubles: in-process memory nodes (memory_provider) and a dict-backed database with
injectable bugs (memory_db), for testing the harness end to end without root. Registered
for the tests only (tests/conftest.py calls register()); no production registry lists them,
and they never stand in for a real database."""

from __future__ import annotations

from harness import registry


def register() -> None:
    registry.DATABASES.setdefault("memory", "tests.doubles.memory_db:MemoryDB")
    registry.PROVIDERS.setdefault("memory", "tests.doubles.memory_provider")
