"""Real SSH hosts for the ssh provider's tests: N network namespaces on a bridge, each running
its own OpenSSH server (/usr/sbin/sshd -D -f <config>) on its address, port 22, with host keys
and a client key generated for the test, and a known_hosts file written by the test.

The "hosts" share this machine's filesystem and pid namespace (only the network is theirs), so
each test gets its own data root; everything (namespaces, bridge, sshd and whatever ran in the
namespaces, files) is removed by close(), also when the test failed.

Names: namespaces sbssh-<id>-<node>, bridge sbssh<id>, veths sbssh<id><node>: never the local
provider's sb-<hex>-* pattern, which its cleanup removes as orphans.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

SSHD = "/usr/sbin/sshd"
# Each set of hosts takes a free /28 of 198.18.250.0/24: bridge .<base+1>, hosts from .<base+2>.
# Never inside a subnet the local provider's runs or tests use (198.18.0-15.0/24): there the
# bridge's address would make a concurrent local run refuse its subnet as taken.
NET = "198.18.250"
BASES = (224, 208, 192, 176)
PREFIX = 28


def _free_base() -> int:
    out = _run(["ip", "-br", "-4", "addr"], check=False).stdout
    for base in BASES:
        if f"{NET}.{base + 1}/{PREFIX}" not in out:
            return base
    raise RuntimeError(f"no free /28 for test hosts in {NET}.0/24")


def _run(argv: list[str], check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=30, **kw)


def available() -> str | None:
    """Why these hosts cannot be made here (None when they can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in (SSHD, "/usr/bin/ssh-keygen"):
        if not os.access(tool, os.X_OK):
            return f"{tool} not installed (apt-get install openssh-server openssh-client)"
    if shutil.which("iptables") is None:
        return "iptables not installed"
    return None


# Namespaces made by this process: a session's leak check must never take another session's
# hosts for its own leak (and kill them under that session's tests).
MADE: set[str] = set()


class SshdHosts:
    def __init__(
        self, n: int = 3, *, sshd_on: set[str] | None = None, use_pam: bool = False
    ) -> None:
        self.id = secrets.token_hex(2)
        self.nodes = [f"n{i}" for i in range(1, n + 1)]
        self.base = _free_base()
        self.bridge_ip = f"{NET}.{self.base + 1}"
        self.addr = {
            node: f"{NET}.{self.base + 1 + i}" for i, node in enumerate(self.nodes, start=1)
        }
        self.ns = {node: f"sbssh-{self.id}-{node}" for node in self.nodes}
        MADE.update(self.ns.values())
        self.veth = {node: f"sbssh{self.id}{node}" for node in self.nodes}
        self.bridge = f"sbssh{self.id}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"sbssh-{self.id}-"))
        self.data_root = f"/var/tmp/splitbrain-ssh-test/{self.id}"
        self.sshd_on = set(self.nodes) if sshd_on is None else sshd_on
        self.key = self.dir / "id_ed25519"
        self.known_hosts = self.dir / "known_hosts"
        self._sshd: dict[str, subprocess.Popen[bytes]] = {}
        self._made_run_sshd = False
        # with PAM, sshd lets in accounts whose password is locked (postgres): a non-root login
        self.use_pam = use_pam

    # -- life ----------------------------------------------------------------------------
    def __enter__(self) -> SshdHosts:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _build(self) -> None:
        os.chmod(self.dir, 0o755)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sbssh", "-f", str(self.key)])
        (self.dir / "authorized_keys").write_text(Path(f"{self.key}.pub").read_text())
        if not os.path.isdir("/run/sshd"):  # sshd's privilege separation directory
            os.makedirs("/run/sshd", mode=0o755)
            self._made_run_sshd = True
        _run(["ip", "link", "add", self.bridge, "type", "bridge"])
        _run(["ip", "addr", "add", f"{self.bridge_ip}/{PREFIX}", "dev", self.bridge])
        _run(["ip", "link", "set", self.bridge, "up"])
        lines = []
        for node in self.nodes:
            ns, veth = self.ns[node], self.veth[node]
            _run(["ip", "netns", "add", ns])
            _run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
            _run(["ip", "link", "set", veth, "master", self.bridge, "up"])
            for cmd in (
                ["addr", "add", f"{self.addr[node]}/{PREFIX}", "dev", "eth0"],
                ["link", "set", "lo", "up"],
                ["link", "set", "eth0", "up"],
                ["route", "add", "default", "via", self.bridge_ip],
            ):
                _run(["ip", "-n", ns, *cmd])
            hostkey = self.dir / f"host_{node}"
            _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(hostkey)])
            pub = Path(f"{hostkey}.pub").read_text().split()
            lines.append(f"{self.addr[node]} {pub[0]} {pub[1]}\n")
            if node in self.sshd_on:
                self.start_sshd(node)
        self.known_hosts.write_text("".join(lines))
        for node in self.sshd_on:
            self._wait_port(node)

    def _config(self, node: str) -> Path:
        cfg = self.dir / f"sshd_{node}.conf"
        cfg.write_text(
            f"ListenAddress {self.addr[node]}\n"
            "Port 22\n"
            f"HostKey {self.dir}/host_{node}\n"
            f"PidFile {self.dir}/sshd_{node}.pid\n"
            f"AuthorizedKeysFile {self.dir}/authorized_keys\n"
            "PermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\n"
            "AllowAgentForwarding no\n"
            f"UsePAM {'yes' if self.use_pam else 'no'}\n"
            "StrictModes no\n"
            "MaxSessions 32\n"
            "MaxStartups 50\n"
            "UseDNS no\n"
            "PrintMotd no\n"
            "PrintLastLog no\n"
            "PermitUserRC no\n"
            "LogLevel ERROR\n"
            "Subsystem sftp internal-sftp\n"
        )
        return cfg

    def start_sshd(self, node: str) -> None:
        cfg = self._config(node)
        log = self.dir / f"sshd_{node}.log"
        self._sshd[node] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns[node], SSHD, "-D", "-f", str(cfg), "-E", str(log)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _wait_port(self, node: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError), socket.create_connection((self.addr[node], 22), 1):
                return
            p = self._sshd[node]
            if p.poll() is not None or time.monotonic() > deadline:
                log = (self.dir / f"sshd_{node}.log").read_text(errors="replace")
                raise RuntimeError(f"sshd on {node} did not come up: {log.strip()[-300:]}")
            time.sleep(0.05)

    def ns_pids(self, node: str) -> list[int]:
        out = _run(["ip", "netns", "pids", self.ns[node]], check=False).stdout
        return [int(x) for x in out.split() if x.isdigit()]

    def vanish(self, node: str) -> None:
        """The host goes away: its SSH server and sessions die, then its link goes down."""
        for pid in self.ns_pids(node):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd":
                    os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        _run(["ip", "link", "set", self.veth[node], "down"], check=False)

    def kill_all(self, node: str, timeout: float = 10) -> None:
        """SIGKILL every process this test started in the node's namespace; wait till gone."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.ns_pids(node)
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                raise RuntimeError(f"processes {pids} in {self.ns[node]} survive SIGKILL")
            time.sleep(0.05)

    def close(self) -> None:
        errors = []
        for node in self.nodes:
            if self.ns[node] in _run(["ip", "netns", "list"], check=False).stdout:
                try:
                    self.kill_all(node)
                except RuntimeError as e:
                    errors.append(str(e))
                _run(["ip", "netns", "del", self.ns[node]], check=False)
        for p in self._sshd.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)
        for name in [*self.veth.values(), self.bridge]:
            _run(["ip", "link", "del", name], check=False)
        shutil.rmtree(self.data_root, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(self.data_root))
        shutil.rmtree(self.dir, ignore_errors=True)
        if self._made_run_sshd:
            with contextlib.suppress(OSError):
                os.rmdir("/run/sshd")
        if errors:
            raise RuntimeError(errors[0])

    # -- what the tests give the harness -------------------------------------------------
    def inventory(self, name: str = "inventory.yaml", **fields: Any) -> Path:
        """Write an inventory for these hosts; fields override or add top-level keys, and
        `hosts=` a list of per-host dicts replaces the default one."""
        doc: dict[str, Any] = {
            "user": "root",
            "private_key": str(self.key),
            "known_hosts": str(self.known_hosts),
            "data_root": self.data_root,
            "connect_timeout": 3,
            "hosts": [{"address": self.addr[n], "name": n} for n in self.nodes],
        }
        doc.update(fields)
        path = self.dir / name
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def leftovers(self) -> list[str]:
        """What a run left on the hosts: state files, node dirs, chains, processes."""
        out = []
        root = Path(self.data_root)
        if root.is_dir():
            out += [f"file {p}" for p in sorted(root.rglob("*"))]
        for node in self.nodes:
            if self.ns[node] not in _run(["ip", "netns", "list"], check=False).stdout:
                continue
            rules = _run(["ip", "netns", "exec", self.ns[node], "iptables", "-w", "-S"]).stdout
            out += [f"{node} iptables: {r}" for r in rules.splitlines() if "SB-" in r]
            sshd = set(self._sshd_pids(node))
            out += [f"{node} process {p}" for p in self.ns_pids(node) if p not in sshd]
        return out

    def _sshd_pids(self, node: str) -> list[int]:
        pids = []
        for pid in self.ns_pids(node):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "sshd":
                    pids.append(pid)
        return pids
