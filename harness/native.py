"""The optional native core (native/, the Rust extension module `splitbrain_native`).

One place decides whether it is there: installed, and not turned off by SPLITBRAIN_NATIVE=0
(benches, debugging: the Python paths only). Its users (harness.checkers.elle.native for
list-append, harness.edn and harness.jepsen_log for reading histories, and
harness.checkers.linearizable.search for the register and kv search and evidence) ask here."""

from __future__ import annotations

import os
from typing import Any


def disabled() -> bool:
    return os.environ.get("SPLITBRAIN_NATIVE") == "0"


def module() -> Any:
    """splitbrain_native, or None when it is not built or turned off."""
    if disabled():
        return None
    try:
        import splitbrain_native
    except ImportError:  # not built: the Python paths do everything
        return None
    return splitbrain_native
