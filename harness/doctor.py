"""`splitbrain doctor`: what is installed, what is missing, whether we are root."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

PG_BIN = Path(os.environ.get("SPLITBRAIN_PG_BIN", "/usr/lib/postgresql/15/bin"))

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
    for b in ("initdb", "postgres", "pg_basebackup", "pg_rewind"):
        p = PG_BIN / b
        out.append(
            ("ok", f"postgres: {p}", "")
            if p.exists()
            else (
                "missing",
                f"postgres: {p}",
                "apt-get install postgresql-15 (or set SPLITBRAIN_PG_BIN)",
            )
        )
    mariadbd = (
        shutil.which("mariadbd")
        or shutil.which("mysqld")
        or ("/usr/sbin/mariadbd" if Path("/usr/sbin/mariadbd").exists() else None)
    )
    galera = next(
        (
            p
            for p in ("/usr/lib/galera/libgalera_smm.so", "/usr/lib/libgalera_smm.so")
            if Path(p).exists()
        ),
        None,
    )
    out.append(
        ("ok", f"galera: {mariadbd}, {galera}", "")
        if mariadbd and galera
        else (
            "info",
            "galera: mariadb-server/galera-4 not installed",
            "needed for --db galera: apt-get install mariadb-server galera-4 rsync",
        )
    )
    out += _cassandra()
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


def _cassandra() -> list[Check]:
    """java, mvn and the resolved classpath (harness.install.maven)."""
    from harness.install import maven

    out: list[Check] = []
    for tool, hint in (("java", maven.JAVA_HINT), ("mvn", maven.MVN_HINT)):
        path = shutil.which(tool)
        out.append(
            ("ok", f"cassandra: {tool}: {path}", "")
            if path
            else ("missing", f"cassandra: {tool}", f"needed for --db cassandra: {hint}")
        )
    lib = maven.classpath_dir()
    out.append(
        ("ok", f"cassandra: classpath {lib} ({maven.CASSANDRA_VERSION})", "")
        if maven.is_installed(lib.parent)
        else (
            "missing",
            f"cassandra: no classpath at {lib}",
            "needed for --db cassandra: python3 -m harness.install.maven "
            "(or set SPLITBRAIN_CASSANDRA_HOME)",
        )
    )
    return out


def _docker() -> list[Check]:
    """The engine, the compose CLI and which node images are there (--provider compose)."""
    from harness import images
    from harness.errors import EnvironmentProblem
    from harness.providers.compose_engine import compose_command, connect, engine_address

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
