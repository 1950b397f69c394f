"""What crashed compose runs leave behind, and removing it (`splitbrain cleanup`).

A project is ours when its name starts with sb-; it is alive while the harness process named
in its containers' splitbrain.owner label ("<host>:<pid>") is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.providers import owner
from harness.providers.compose_engine import PROJECT_PREFIX, connect

log = logging.getLogger(__name__)

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
OWNER_LABEL = "splitbrain.owner"  # "<hostname>:<pid>" of the harness that made the project
HELPER_LABEL = "splitbrain.project"  # on helper containers (not compose services)


@dataclass(frozen=True)
class Leftover:
    kind: str  # container | network | volume
    id: str
    name: str
    project: str
    owner: str  # "<host>:<pid>" of the harness that made it, "" if unknown

    def __str__(self) -> str:
        return f"{self.kind} {self.name} (project {self.project})"


def leftovers(client: Any = None, project: str | None = None) -> list[Leftover]:
    """Containers, networks and volumes of splitbrain compose projects (name prefix sb-)."""
    client = client or connect()
    api = client.api
    out: list[Leftover] = []
    for label in (PROJECT_LABEL, HELPER_LABEL):
        for c in api.containers(all=True, filters={"label": [label]}):
            labels = c.get("Labels") or {}
            name = (c.get("Names") or [c["Id"][:12]])[0].lstrip("/")
            owner_ = labels.get(OWNER_LABEL, "")
            out.append(Leftover("container", c["Id"], name, labels.get(label, ""), owner_))
    for n in api.networks(filters={"label": [PROJECT_LABEL]}):
        labels = n.get("Labels") or {}
        out.append(Leftover("network", n["Id"], n["Name"], labels.get(PROJECT_LABEL, ""), ""))
    for v in (api.volumes(filters={"label": PROJECT_LABEL}) or {}).get("Volumes") or []:
        labels = v.get("Labels") or {}
        out.append(Leftover("volume", v["Name"], v["Name"], labels.get(PROJECT_LABEL, ""), ""))
    return [
        x
        for x in out
        if x.project.startswith(PROJECT_PREFIX) and (project is None or x.project == project)
    ]


def _dead(found: list[Leftover], force: bool) -> list[Leftover]:
    """Leftovers of projects whose harness is gone (all of them with force)."""
    live = {x.project for x in found if x.owner and owner.alive(*x.owner.rpartition(":")[::2])}
    return [x for x in found if force or x.project not in live]


def find_leftovers(force: bool = False, inventory: str = "", *, client: Any = None) -> list[str]:
    """One line per leftover of a crashed compose run (every sb- project with force), like
    harness.providers.local.find_leftovers."""
    return [str(x) for x in _dead(leftovers(client), force)]


def cleanup(force: bool = False, inventory: str = "", *, client: Any = None) -> list[str]:
    """Remove leftovers of runs whose harness is dead (every sb- project with force); one line
    per removed container, network or volume."""
    client = client or connect()
    doomed = _dead(leftovers(client), force)
    remove(doomed, client)
    return [f"removed {x}" for x in doomed]


def remove(items: Sequence[Leftover], client: Any) -> None:
    import docker

    api = client.api
    order = {"container": 0, "network": 1, "volume": 2}  # containers hold networks and volumes
    for x in sorted(items, key=lambda x: order[x.kind]):
        try:
            if x.kind == "container":
                api.remove_container(x.id, force=True, v=True)
            elif x.kind == "network":
                api.remove_network(x.id)
            else:
                api.remove_volume(x.id, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            log.warning("could not remove %s: %s", x, e.explanation or e)
