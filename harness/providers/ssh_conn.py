"""One SSH connection per host, reused for the whole run (paramiko: synchronous, so it fits
the harness' worker and nemesis threads; one Transport multiplexes many channels).

Security: key authentication only (no password, no agent, no agent forwarding), host keys
checked against OpenSSH known_hosts (RejectPolicy); unknown keys are accepted only when the
inventory says accept_new_host_keys, and then recorded in the file and said on stderr. No
secret is put in a command line or a message: commands are sent over the channel, and a key
passphrase comes from the environment (SPLITBRAIN_SSH_PASSPHRASE) only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shlex
import threading
import time
from typing import Any

import paramiko

from harness.errors import ClusterError, EnvironmentProblem
from harness.providers.ssh_inventory import Host, Inventory

log = logging.getLogger("splitbrain.ssh")
PASSPHRASE_ENV = "SPLITBRAIN_SSH_PASSPHRASE"
_known_hosts_lock = threading.Lock()


class HostGone(ClusterError):
    """The connection to a host broke and it does not answer again. The databases treat it
    as any cluster failure; the exit code is that of a problem of the environment (4), as a
    host went away under a cluster that was up (create() turns it into a ClusterError, exit
    5, while the hosts are being prepared)."""

    exit_code = 4


class _RecordNewKey(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]  # untyped library
    """accept_new_host_keys: true (OpenSSH's StrictHostKeyChecking=accept-new): accept an
    unknown key, record it, say so. A *changed* key is still refused (BadHostKeyException)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        with _known_hosts_lock:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            with open(self.path, "a") as f:
                f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        fp = key.fingerprint if hasattr(key, "fingerprint") else key.get_name()
        log.warning("ssh: recorded the new host key of %s (%s) in %s", hostname, fp, self.path)


class SshHost:
    """A host: its connection, a semaphore bounding parallel channels, an SFTP session."""

    def __init__(self, inv: Inventory, host: Host) -> None:
        self.inv = inv
        self.host = host
        self.label = host.label
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._lock = threading.Lock()  # (re)connecting
        self._sftp_lock = threading.Lock()  # one SFTP request stream per host
        self._channels = threading.BoundedSemaphore(inv.max_channels)
        self._was_up = False  # once connected, a failed reconnect means the host went away
        self.local_address: str | None = None  # the control node's address as the host sees it
        self.peer_ip: str | None = None

    # -- connection -------------------------------------------------------------------------
    def connect(self) -> None:
        with self._lock:
            if self._client is not None:
                t = self._client.get_transport()
                if t is not None and t.is_active():
                    return
                self._close_locked()
            self._client = self._open()
            self._was_up = True

    def _open(self) -> paramiko.SSHClient:
        inv, h = self.inv, self.host
        c = paramiko.SSHClient()
        if inv.known_hosts.is_file():
            try:
                c.load_host_keys(str(inv.known_hosts))
            except (OSError, paramiko.SSHException) as e:
                raise EnvironmentProblem(
                    f"--inventory {inv.path}: known_hosts {inv.known_hosts}: cannot read: {e}"
                ) from None
        c.set_missing_host_key_policy(
            _RecordNewKey(str(inv.known_hosts))
            if inv.accept_new_host_keys
            else paramiko.RejectPolicy()
        )
        where = f"{self.label}, port {h.port}"
        try:
            c.connect(
                h.address,
                port=h.port,
                username=inv.user,
                key_filename=str(inv.private_key),
                passphrase=os.environ.get(PASSPHRASE_ENV),
                look_for_keys=False,
                allow_agent=False,
                timeout=inv.connect_timeout,
                banner_timeout=inv.connect_timeout,
                auth_timeout=inv.connect_timeout,
            )
        except paramiko.BadHostKeyException:
            c.close()
            raise EnvironmentProblem(
                f"{where}: host key mismatch: the key it offers is not the one recorded in "
                f"{inv.known_hosts} (a reinstalled host, or someone in between); if you trust "
                f"it, `ssh-keygen -R {h.address} -f {inv.known_hosts}` and record the new one"
            ) from None
        except paramiko.PasswordRequiredException:
            c.close()
            raise EnvironmentProblem(
                f"{where}: the private key {inv.private_key} is encrypted: "
                f"give its passphrase in the environment variable {PASSPHRASE_ENV}"
            ) from None
        except paramiko.AuthenticationException:
            c.close()
            raise EnvironmentProblem(
                f"{where}: user {inv.user!r} was refused with the key {inv.private_key} "
                "(key authentication only: is its public key in the user's authorized_keys?)"
            ) from None
        except paramiko.SSHException as e:
            c.close()
            if "not found in known_hosts" in str(e):
                raise EnvironmentProblem(
                    f"{where}: host key unknown: it is not in {inv.known_hosts} (record it, "
                    "checked, or set accept_new_host_keys: true in the inventory)"
                ) from None
            raise EnvironmentProblem(f"{where}: SSH failed: {_line(e)}") from None
        except TimeoutError:
            c.close()
            raise EnvironmentProblem(
                f"{where}: unreachable: no answer within {inv.connect_timeout:g} s"
            ) from None
        except paramiko.ssh_exception.NoValidConnectionsError as e:
            c.close()
            refused = any(
                isinstance(x, ConnectionRefusedError) for x in e.errors.values()
            ) or "refused" in str(e)
            why = "connection refused (is sshd running there?)" if refused else _line(e)
            raise EnvironmentProblem(f"{where}: unreachable: {why}") from None
        except OSError as e:
            c.close()
            raise EnvironmentProblem(f"{where}: unreachable: {e.strerror or e}") from None
        t = c.get_transport()
        assert t is not None
        t.set_keepalive(5)
        with contextlib.suppress(OSError, AttributeError):
            self.local_address = t.sock.getsockname()[0]
            self.peer_ip = t.sock.getpeername()[0]
        return c

    def _transport(self) -> paramiko.Transport:
        """The live transport; reconnects once when the connection broke."""
        c = self._client
        t = c.get_transport() if c is not None else None
        if t is not None and t.is_active():
            return t
        try:
            self.connect()
        except EnvironmentProblem as e:
            if not self._was_up:
                raise
            why = str(e).split(": ", 1)[-1]
            raise HostGone(f"{self.label}: lost the SSH connection; reconnecting: {why}") from None
        t = self._client.get_transport() if self._client is not None else None
        if t is None:
            raise HostGone(f"{self.label}: lost the SSH connection")
        return t

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._sftp is not None:
            with contextlib.suppress(Exception):
                self._sftp.close()
            self._sftp = None
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    # -- commands ---------------------------------------------------------------------------
    def run(
        self, command: str, *, input: str | None = None, timeout: float = 60
    ) -> tuple[int, str, str]:
        """Run a shell command line on the host: (exit status, stdout, stderr). The command is
        sent over the channel (it is not in any local process' argv)."""
        with self._channels:
            t = self._transport()
            try:
                chan = t.open_session(timeout=min(timeout, 30))
            except (paramiko.SSHException, OSError, EOFError) as e:
                raise HostGone(f"{self.label}: cannot open an SSH channel: {_line(e)}") from None
            try:
                return self._exchange(chan, t, command, input, timeout)
            finally:
                with contextlib.suppress(Exception):
                    chan.close()

    def _exchange(
        self,
        chan: paramiko.Channel,
        t: paramiko.Transport,
        command: str,
        input: str | None,
        timeout: float,
    ) -> tuple[int, str, str]:
        chan.settimeout(timeout)
        try:
            chan.exec_command(command)
            if input is not None:
                chan.sendall(input.encode())
            chan.shutdown_write()
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise HostGone(f"{self.label}: SSH channel failed: {_line(e)}") from None
        out: list[bytes] = []
        err: list[bytes] = []
        deadline = time.monotonic() + timeout
        while True:
            got = False
            if chan.recv_ready():
                out.append(chan.recv(65536))
                got = True
            if chan.recv_stderr_ready():
                err.append(chan.recv_stderr(65536))
                got = True
            if got:
                continue
            # sshd may send the exit status before the last of the output: done only once
            # the channel's EOF has come too (no more data can follow it)
            if chan.exit_status_ready() and chan.eof_received:
                break
            if not t.is_active():
                raise HostGone(f"{self.label}: the SSH connection broke during a command")
            if time.monotonic() > deadline:
                raise ClusterError(f"{self.label}: a command did not finish within {timeout:g} s")
            select.select([chan], [], [], 0.05)
        while chan.recv_ready():
            out.append(chan.recv(65536))
        while chan.recv_stderr_ready():
            err.append(chan.recv_stderr(65536))
        rc = chan.recv_exit_status()
        dec = b"".join(out).decode(errors="replace"), b"".join(err).decode(errors="replace")
        return rc, dec[0], dec[1]

    def shell(
        self,
        script: str,
        *,
        user: str | None = None,
        input: str | None = None,
        timeout: float = 60,
    ) -> tuple[int, str, str]:
        """Run a sh script as `user` (root when None): as is when that is the login user,
        else through `sudo -n -u` (inventory sudo: true) or `runuser -u` (logged in as root)."""
        target = user or "root"
        login = self.inv.user
        q = shlex.quote(script)
        if target == login:
            cmd = f"sh -c {q}"
        elif self.inv.sudo:
            cmd = f"sudo -n -u {shlex.quote(target)} -- sh -c {q}"
        elif login == "root":
            cmd = f"runuser -u {shlex.quote(target)} -- sh -c {q}"
        else:
            raise EnvironmentProblem(
                f"{self.label}: cannot act as {target}: logged in as {login} without sudo "
                "(set sudo: true in the inventory, or log in as root)"
            )
        rc, out, err = self.run(cmd, input=input, timeout=timeout)
        if target != login and self.inv.sudo and rc != 0:
            _sudo_problem(self.label, login, rc, err)
        return rc, out, err

    # -- files ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def sftp(self) -> Any:
        with self._sftp_lock:
            if self._sftp is None:
                t = self._transport()
                try:
                    self._sftp = paramiko.SFTPClient.from_transport(t)
                except (paramiko.SSHException, OSError, EOFError) as e:
                    raise HostGone(f"{self.label}: cannot open SFTP: {_line(e)}") from None
            try:
                yield self._sftp
            except (paramiko.SSHException, EOFError) as e:
                self._sftp = None
                raise HostGone(f"{self.label}: SFTP failed: {_line(e)}") from None


def _sudo_problem(label: str, login: str, rc: int, err: str) -> None:
    e = err.strip()
    first = e.splitlines()[0] if e else ""
    if "password is required" in e or "terminal is required" in e:
        raise EnvironmentProblem(
            f"{label}: sudo needs a password for {login}: the harness uses `sudo -n`; "
            "give the user NOPASSWD rights, or log in as root"
        )
    if rc == 127 and "sudo" in first and "not found" in first:
        raise EnvironmentProblem(f"{label}: sudo is not installed (the inventory says sudo: true)")
    if "sudoers" in first or "is not allowed to" in first:
        raise EnvironmentProblem(f"{label}: {login} may not use sudo there: {first}")


def _line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__
