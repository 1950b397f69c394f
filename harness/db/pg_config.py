"""PostgreSQL configuration as data: the settings every node shares, client authentication,
the schema, and the login the harness and the nodes use. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass

PORT = 5432
OS_USER = "postgres"  # OS user and superuser, on hosts and in the postgres image
DEFAULT_BIN = "/usr/lib/postgresql/15/bin"  # Debian's packages and the postgres image alike


@dataclass(frozen=True)
class Login:
    """Who connects to which database (libpq keywords). One login everywhere: scram over the
    network, so the same definition is safe on a user's real hosts."""

    user: str = OS_USER
    dbname: str = "splitbrain"
    password: str = "splitbrain"

    def params(self) -> dict[str, str]:
        return {"user": self.user, "dbname": self.dbname, "password": self.password}


LOGIN = Login()

# Shared by every node (copied by pg_basebackup). Short timeouts and keepalives so that a
# partition is noticed in seconds rather than the default minutes.
CONF = """
# --- splitbrain ---
wal_level = replica
hot_standby = on
hot_standby_feedback = on
wal_log_hints = on                  # pg_rewind needs it (no data checksums)
max_wal_senders = 16
max_replication_slots = 16
wal_keep_size = '1GB'               # no slots: a cut-off replica or rewind finds its WAL here
wal_sender_timeout = '5s'
wal_receiver_timeout = '5s'
wal_receiver_status_interval = '1s'
wal_retrieve_retry_interval = '1s'
tcp_keepalives_idle = 2
tcp_keepalives_interval = 1
tcp_keepalives_count = 3
tcp_user_timeout = 5000
shared_buffers = '16MB'
max_connections = {max_connections}
fsync = {fsync}
synchronous_commit = {synchronous_commit}
password_encryption = 'scram-sha-256'
logging_collector = off             # stderr goes to the log file the provider opened
log_line_prefix = '%m [%p] %q%a '
log_min_messages = info
log_checkpoints = off
deadlock_timeout = '50ms'           # default 1 s: one deadlock on a hot key stalls every worker
"""

# --opt trace_transactions: every statement as it starts, with the backend's pid, its xid once
# it has one (%x) and its virtual xid (%v), the bound parameters, and commit timestamps (a
# commit record's time and order are also in the WAL: pg_waldump).
TRACE_CONF = """
log_statement = 'all'
log_line_prefix = '%m [%p] x=%x v=%v %q%a '
log_parameter_max_length = -1
track_commit_timestamp = on
"""

# Unix sockets (the node's own tools) trust the OS user; the network asks for the password.
HBA = """
local all all trust
local replication all trust
host all all {net} scram-sha-256
host replication all {net} scram-sha-256
"""


def lsn(text: str | None) -> int:
    """'16/B374D848' -> int (None -> -1)."""
    if not text:
        return -1
    hi, lo = str(text).split("/")
    return (int(hi, 16) << 32) + int(lo, 16)


def fmt_lsn(x: int) -> str | None:
    return None if x < 0 else f"{x >> 32:X}/{x & 0xFFFFFFFF:X}"


def auto_conf(old: str, settings: dict[str, str], drop: tuple[str, ...] = ()) -> str:
    """postgresql.auto.conf text with `settings` set and `drop` removed (what ALTER SYSTEM
    would write on a running server)."""
    gone = set(settings) | set(drop)
    keep = [line for line in old.splitlines() if line.split("=", 1)[0].strip() not in gone]
    quoted = [f"{k} = '{v.replace(chr(39), chr(39) * 2)}'" for k, v in settings.items()]
    return "\n".join(keep + quoted) + "\n"
