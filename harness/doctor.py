"""`splitbrain doctor`: what is installed, what is missing, whether we are root."""

from __future__ import annotations

import os
import shutil

Check = tuple[str, str, str]  # status (ok|missing|info), what, hint


def report() -> list[Check]:
    out: list[Check] = []
    root = os.geteuid() == 0
    out.append(
        (
            "ok" if root else "missing",
            "running as root" if root else "not root",
            "" if root else "the local provider creates network namespaces: run as root",
        )
    )
    for cmd, hint in (("ip", "apt-get install iproute2"), ("iptables", "apt-get install iptables")):
        path = shutil.which(cmd)
        out.append(("ok", f"{cmd}: {path}", "") if path else ("missing", cmd, hint))
    out += _databases()
    out += _docker()
    out.append(_native())
    return out


def _native() -> Check:
    from harness.checkers.elle import native

    if native.available():
        return ("ok", f"native core: splitbrain_native {native.version()}", "")
    if native.DISABLED:
        return ("info", "native core: turned off (SPLITBRAIN_NATIVE=0)", "")
    return (
        "info",
        "native core: not built (list-append checks use the Python path, ~10x slower)",
        "with cargo: pip install ./native (python3 -m harness.quickstart install does it)",
    )


def _databases() -> list[Check]:
    """Each database's binaries and files on this host (its Deployment, for the local
    provider); a database with something missing is needed only when it is run."""
    from harness.db import database_class
    from harness.registry import DATABASES

    out: list[Check] = []
    for name in DATABASES:
        d = database_class(name).deployment
        missing = [
            (path, hint)
            for path, hint in d.required()
            if not (os.path.exists(path) if "/" in path else shutil.which(path))
        ]
        if not missing:
            out.append(("ok", f"{name}: {', '.join(p for p, _ in d.required())}", ""))
        else:
            path, hint = missing[0]
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            out.append(("info", f"{name}: {path}{more} not here", f"needed for --db {name}: {hint}"))
    return out


def _docker() -> list[Check]:
    """The engine, the compose CLI and which node images are there (--provider compose)."""
    from harness import images
    from harness.errors import EnvironmentProblem
    from harness.install.engine import address as engine_address
    from harness.providers.compose_engine import compose_command, connect

    try:
        client = connect(timeout=2)
    except EnvironmentProblem:
        return [("info", f"no Docker engine answers at {engine_address()}",
                 "needed only for --provider compose: python3 -m harness.quickstart install "
                 "installs and starts one")]  # fmt: skip
    version = client.version().get("Version", "?")
    out: list[Check] = [("ok", f"docker engine {version} at {engine_address()}", "")]
    try:
        out.append(("ok", f"compose: {' '.join(compose_command())}", ""))
    except EnvironmentProblem as e:
        out.append(("info", "compose: no `docker compose`", str(e)))
    for db in images.databases():
        tag = images.tag_of(db)
        out.append(
            ("ok", f"image {tag}", "")
            if images.present(client, tag)
            else ("info", f"image {tag} missing", f"splitbrain images build --db {db}")
        )
    return out
