"""r1, r2, ...: the comparison page's short name for each run, linking to its report.html."""

from __future__ import annotations

import os
import re
from html import escape
from pathlib import Path


class Links:
    def __init__(self, runs: list[Path], out_dir: Path) -> None:
        self.number = {d: i + 1 for i, d in enumerate(runs)}
        self.out_dir = out_dir

    def href(self, d: Path) -> str:
        return os.path.relpath(Path(d) / "report.html", self.out_dir)

    def one(self, d: Path) -> str:
        return f'<a class="run" href="{escape(self.href(d))}">r{self.number[d]}</a>'

    def many(self, runs: list[Path], limit: int = 8, more_href: str = "") -> str:
        """The first `limit` runs, then "+N" (a link to `more_href` where they are all)."""
        shown = " ".join(self.one(d) for d in runs[:limit])
        more = len(runs) - limit
        if more <= 0:
            return shown
        rest = f'<a href="{escape(more_href)}">+{more}</a>' if more_href else f"+{more}"
        return f"{shown} {rest}"


def anchor(text: str) -> str:
    """An id made of a name: "PostgreSQL async" -> "col-postgresql-async"."""
    return "col-" + (re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x")
