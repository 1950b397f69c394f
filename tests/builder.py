"""A tiny history builder for hand-made test histories (times in seconds)."""

from __future__ import annotations

from typing import Any

from harness.history import Op


class H:
    def __init__(self) -> None:
        self.ops: list[Op] = []

    def _add(self, t: float, p: Any, typ: str, f: str, v: Any, node: str | None = None) -> H:
        self.ops.append(Op(len(self.ops), int(t * 1e9), p, typ, f, v, node))
        return self

    def invoke(self, t: float, p: Any, f: str, v: Any = None, node: str | None = None) -> H:
        return self._add(t, p, "invoke", f, v, node)

    def ok(self, t: float, p: Any, f: str, v: Any = None, node: str | None = None) -> H:
        return self._add(t, p, "ok", f, v, node)

    def fail(self, t: float, p: Any, f: str, v: Any = None, node: str | None = None) -> H:
        return self._add(t, p, "fail", f, v, node)

    def info(self, t: float, p: Any, f: str, v: Any = None, node: str | None = None) -> H:
        return self._add(t, p, "info", f, v, node)

    def call(
        self,
        t0: float,
        t1: float,
        p: Any,
        f: str,
        v_in: Any,
        v_out: Any = None,
        typ: str = "ok",
        node: str | None = None,
    ) -> H:
        self.invoke(t0, p, f, v_in, node)
        return self._add(t1, p, typ, f, v_in if v_out is None else v_out, node)
