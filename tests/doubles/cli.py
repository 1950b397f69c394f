"""`python -m tests.doubles.cli ...`: the splitbrain command line with the test doubles
registered (for tests that run it as a separate process)."""

from __future__ import annotations

from harness.cli import main
from tests.doubles import register

if __name__ == "__main__":
    register()
    main()
