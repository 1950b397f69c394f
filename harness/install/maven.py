"""Apache Cassandra's classpath from Maven Central: a pinned `cassandra-all` and its runtime
dependencies, copied by `mvn dependency:copy-dependencies` from a small generated pom into a
cache folder outside the repository (no jar is committed; the JVM downloads nothing at run
time). The folder is reused once complete; SPLITBRAIN_CASSANDRA_HOME overrides where it is.

    python3 -m harness.install.maven            # resolve (or reuse) it, print its lib/ path

Standard library only (harness.quickstart runs it before dependencies are installed).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

from harness.errors import EnvironmentProblem

CASSANDRA_VERSION = "5.0.6"  # runs on Java 11 and 17 (4.1 does not run on 17)
CACHE_ROOT = Path("/var/cache/splitbrain")
COMPLETE = ".complete"  # written last: a folder without it is a half-done resolution
USER = "cassandra"
JAVA_HINT = "apt-get install openjdk-17-jre-headless"
MVN_HINT = "apt-get install maven"

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>splitbrain</groupId>
  <artifactId>cassandra-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId>
      <artifactId>cassandra-all</artifactId>
      <version>{version}</version>
    </dependency>
  </dependencies>
</project>
"""


def cassandra_home(version: str = CASSANDRA_VERSION) -> Path:
    env = os.environ.get("SPLITBRAIN_CASSANDRA_HOME")
    return Path(env) if env else CACHE_ROOT / f"cassandra-{version}"


def classpath_dir(version: str = CASSANDRA_VERSION) -> Path:
    """Where the jars are (or will be): <home>/lib."""
    return cassandra_home(version) / "lib"


def is_installed(home: Path | None = None) -> bool:
    home = home or cassandra_home()
    return (home / COMPLETE).exists() and any((home / "lib").glob("cassandra-all-*.jar"))


def missing_tools() -> list[tuple[str, str]]:
    """(tool, what installs it) for java and mvn when absent from PATH."""
    return [(t, h) for t, h in (("java", JAVA_HINT), ("mvn", MVN_HINT)) if not shutil.which(t)]


def resolve(version: str = CASSANDRA_VERSION, home: Path | None = None) -> Path:
    """The classpath folder (lib/), resolving it through Maven when not yet complete.
    EnvironmentProblem (one line) when java or mvn is missing or Maven fails."""
    home = home or cassandra_home(version)
    lib = home / "lib"
    if is_installed(home):
        return lib
    missing = missing_tools()
    if missing:
        tools = " and ".join(t for t, _ in missing)
        hints = "; ".join(h for _, h in missing)
        raise EnvironmentProblem(f"cassandra needs {tools} to resolve its jars: {hints}")
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EnvironmentProblem(
            f"cannot create {home}: {e.strerror} (run as root or set SPLITBRAIN_CASSANDRA_HOME)"
        ) from None
    (home / "pom.xml").write_text(POM.format(version=version))
    staging = home / "lib.partial"
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [
        "mvn",
        "-B",
        "-q",
        "-f",
        str(home / "pom.xml"),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={staging}",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        lines = [ln for ln in (r.stdout + r.stderr).splitlines() if "ERROR" in ln] or [""]
        raise EnvironmentProblem(
            f"mvn could not resolve org.apache.cassandra:cassandra-all:{version} "
            f"(exit {r.returncode}): {lines[0].strip()[:300]}"
        )
    shutil.rmtree(lib, ignore_errors=True)
    staging.rename(lib)
    jars = sorted(p.name for p in lib.glob("*.jar"))
    (home / COMPLETE).write_text("\n".join(jars) + "\n")
    return lib


def ensure_user(name: str = USER) -> bool:
    """Create the unprivileged system user the nodes run as, when absent (root only).
    True when the user exists afterwards."""
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        pass
    if os.geteuid() != 0 or not shutil.which("useradd"):
        return False
    r = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
    )
    return r.returncode == 0


def main(argv: list[str]) -> int:
    try:
        lib = resolve()
    except EnvironmentProblem as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    ensure_user()
    print(lib)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
