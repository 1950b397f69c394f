"""The SSH provider's inventory: which hosts, how to log in, and per-host facts, read from a
YAML file. Pure parsing: no connection is made here. Every problem is one SpecError line
naming the file and the field.

    user: root                       # login user (key authentication only)
    private_key: ~/.ssh/id_ed25519   # its private key (a passphrase, if any: env
                                     # SPLITBRAIN_SSH_PASSPHRASE; never in this file)
    sudo: false                      # become root / the database user with `sudo -n`
    known_hosts: ./known_hosts       # default: ~/.ssh/known_hosts
    accept_new_host_keys: false      # true: record unknown host keys on first use
    port: 22
    data_root: /var/tmp/splitbrain-ssh
    install: assume                  # assume | apt (then `packages:` are apt-get installed)
    packages: [postgresql-15]
    connect_timeout: 10
    max_channels: 8                  # parallel SSH channels per host
    settings: {postgres_bin: /usr/lib/postgresql/15/bin}   # database facts for every host
    hosts:
      - address: 192.0.2.11
        name: n1                     # default n1, n2, ... in order
        port: 22
        data_root: /srv/splitbrain
        settings: {postgres_bin: /opt/pg15/bin}
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from harness.errors import SpecError

DEFAULT_DATA_ROOT = "/var/tmp/splitbrain-ssh"
INSTALL = ("assume", "apt")
NODE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
# a database user, a package: no shell metacharacters ever reach a remote command line
SAFE_WORD = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+:-]*$")
SETTING_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
TOP_KEYS = {
    "user",
    "private_key",
    "sudo",
    "known_hosts",
    "accept_new_host_keys",
    "port",
    "data_root",
    "install",
    "packages",
    "connect_timeout",
    "max_channels",
    "settings",
    "hosts",
}
HOST_KEYS = {"address", "name", "port", "data_root", "settings"}


@dataclass(frozen=True)
class Host:
    name: str  # node name the harness uses (n1, ...)
    address: str  # how the control node and the peers reach it
    port: int
    data_root: PurePosixPath
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How messages name the host: 'host 192.0.2.11 (n1)'."""
        return f"host {self.address} ({self.name})"


@dataclass(frozen=True)
class Inventory:
    path: Path
    user: str
    private_key: Path
    sudo: bool
    known_hosts: Path
    accept_new_host_keys: bool
    install: str
    packages: tuple[str, ...]
    connect_timeout: float
    max_channels: int
    hosts: tuple[Host, ...]

    def host(self, node: str) -> Host:
        for h in self.hosts:
            if h.name == node:
                return h
        raise KeyError(node)


def load(path: str | Path) -> Inventory:
    p = Path(path).expanduser()
    where = str(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except OSError as e:
        raise SpecError(f"--inventory {where}: cannot read: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}:" if mark else ""
        raise SpecError(
            f"--inventory {where}:{line} not valid YAML: {getattr(e, 'problem', e)}"
        ) from None
    return parse(doc, p)


def parse(doc: Any, path: Path) -> Inventory:
    where = f"--inventory {path}"

    def bad(fld: str, msg: str) -> SpecError:
        return SpecError(f"{where}: {fld}: {msg}")

    if not isinstance(doc, dict):
        raise SpecError(f"{where}: an inventory is a mapping with `hosts:` (and user, ...)")
    unknown = sorted(set(doc) - TOP_KEYS)
    if unknown:
        raise bad(unknown[0], f"unknown field; known: {', '.join(sorted(TOP_KEYS))}")
    base = path.parent

    user = _word(doc.get("user", "root"), "user", bad)
    key_raw = doc.get("private_key")
    if not isinstance(key_raw, str) or not key_raw:
        raise bad("private_key", "required: the path of the login user's private key")
    private_key = _path(key_raw, base)
    if not private_key.is_file():
        raise bad("private_key", f"{private_key} is not a file")
    sudo = _bool(doc.get("sudo", False), "sudo", bad)
    kh_raw = doc.get("known_hosts", "~/.ssh/known_hosts")
    if not isinstance(kh_raw, str) or not kh_raw:
        raise bad("known_hosts", f"must be a path, got {kh_raw!r}")
    known_hosts = _path(kh_raw, base)
    accept = _bool(doc.get("accept_new_host_keys", False), "accept_new_host_keys", bad)
    if not accept and not known_hosts.is_file():
        raise bad(
            "known_hosts",
            f"{known_hosts} does not exist: write the hosts' keys there "
            "(ssh-keyscan, checked), or set accept_new_host_keys: true to record them on first use",
        )
    install = doc.get("install", "assume")
    if install not in INSTALL:
        raise bad("install", f"{install!r} is not one of: {', '.join(INSTALL)}")
    packages_raw = doc.get("packages", [])
    if not isinstance(packages_raw, list):
        raise bad("packages", f"must be a list of apt package names, got {packages_raw!r}")
    packages = tuple(_word(x, "packages", bad) for x in packages_raw)
    if install == "apt" and not packages:
        raise bad("packages", "install: apt needs the packages to install (e.g. [postgresql-15])")
    timeout = doc.get("connect_timeout", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300:
        raise bad("connect_timeout", f"must be a number of seconds in (0, 300], got {timeout!r}")
    channels = doc.get("max_channels", 8)
    if isinstance(channels, bool) or not isinstance(channels, int) or not 1 <= channels <= 64:
        raise bad("max_channels", f"must be an integer from 1 to 64, got {channels!r}")
    port = _port(doc.get("port", 22), "port", bad)
    root = _root(doc.get("data_root", DEFAULT_DATA_ROOT), "data_root", bad)
    settings = _settings(doc.get("settings", {}), "settings", bad)

    raw_hosts = doc.get("hosts")
    if not isinstance(raw_hosts, list) or not raw_hosts:
        raise bad("hosts", "required: a non-empty list of {address: ..., name: ..., port: ...}")
    if len(raw_hosts) > 9:
        raise bad("hosts", f"at most 9 hosts, got {len(raw_hosts)}")
    hosts: list[Host] = []
    for i, h in enumerate(raw_hosts, start=1):
        f = f"hosts[{i}]"
        if isinstance(h, str):
            h = {"address": h}
        if not isinstance(h, dict):
            raise bad(f, f"must be an address or a mapping with address:, got {h!r}")
        unknown = sorted(set(h) - HOST_KEYS)
        if unknown:
            raise bad(f"{f}.{unknown[0]}", f"unknown field; known: {', '.join(sorted(HOST_KEYS))}")
        address = h.get("address")
        if not isinstance(address, str) or not _is_host(address):
            raise bad(f"{f}.address", f"must be an IP address or host name, got {address!r}")
        name = h.get("name", f"n{i}")
        if not isinstance(name, str) or not NODE_NAME.match(name):
            raise bad(f"{f}.name", f"must be a short lower-case name like n1, got {name!r}")
        hosts.append(
            Host(
                name=name,
                address=address,
                port=_port(h.get("port", port), f"{f}.port", bad),
                data_root=_root(h.get("data_root", str(root)), f"{f}.data_root", bad),
                settings={**settings, **_settings(h.get("settings", {}), f"{f}.settings", bad)},
            )
        )
    for attr in ("name", "address"):
        seen: set[tuple[Any, ...]] = set()
        for i, host in enumerate(hosts, start=1):
            k = (getattr(host, attr),) if attr == "name" else (host.address, host.port)
            if k in seen:
                raise bad(f"hosts[{i}].{attr}", f"{getattr(host, attr)} is listed twice")
            seen.add(k)
    return Inventory(
        path=path,
        user=user,
        private_key=private_key,
        sudo=sudo,
        known_hosts=known_hosts,
        accept_new_host_keys=accept,
        install=str(install),
        packages=packages,
        connect_timeout=float(timeout),
        max_channels=channels,
        hosts=tuple(hosts),
    )


def _path(raw: str, base: Path) -> Path:
    p = Path(os.path.expanduser(raw))
    return p if p.is_absolute() else (base / p)


def _word(v: Any, fld: str, bad: Any) -> str:
    if not isinstance(v, str) or not SAFE_WORD.match(v):
        raise bad(fld, f"must be a plain name (letters, digits, . _ + : -), got {v!r}")
    return v


def _bool(v: Any, fld: str, bad: Any) -> bool:
    if not isinstance(v, bool):
        raise bad(fld, f"must be true or false, got {v!r}")
    return v


def _port(v: Any, fld: str, bad: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 65535:
        raise bad(fld, f"must be a TCP port (1-65535), got {v!r}")
    return v


def _root(v: Any, fld: str, bad: Any) -> PurePosixPath:
    # cleanup removes <data_root>/<run id>/...: a data root must be a dedicated, absolute path
    if not isinstance(v, str) or not v.startswith("/") or not SAFE_PATH.match(v):
        raise bad(fld, f"must be an absolute path of plain names, got {v!r}")
    p = PurePosixPath(v)
    if len(p.parts) < 3 or ".." in p.parts:
        raise bad(fld, f"{v} is too close to / for a directory the harness empties")
    return p


SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+-]+$")


def _settings(v: Any, fld: str, bad: Any) -> dict[str, str]:
    if not isinstance(v, dict):
        raise bad(fld, f"must be a mapping of database settings, got {v!r}")
    out = {}
    for k, val in v.items():
        if not isinstance(k, str) or not SETTING_KEY.match(k):
            raise bad(f"{fld}.{k}", "a setting name is lower-case letters, digits and _")
        if not isinstance(val, str | int | float) or isinstance(val, bool):
            raise bad(f"{fld}.{k}", f"must be a string, got {val!r}")
        out[k] = str(val)
    return out


def _is_host(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
        return True
    except ValueError:
        return bool(re.match(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$", s))
