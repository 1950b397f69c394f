"""The memory provider: a TEST DOUBLE of a cluster, for unit-testing the harness without root.

Nothing runs: each node is a set of flags (down / running / paused), a grudge, packet-loss
and clock-offset records, and a real directory under a temp dir (so write_file, read_file and
exists do plain file I/O). spawn/start/signal/kill/pause/resume flip the flags; exec knows a
handful of commands and raises Unsupported for anything else. The only database that can live
on it is harness.db.memory (its "processes" are these flags). It is never used where a real
database or a real network is claimed.

Faults can be made to fail on purpose (the primitive raises ClusterError), to test how the
harness handles a fault that cannot be injected: MemoryCluster(..., broken={"kill"}), or for a
run, the memory database's option `broken_fault`. interrupt_main_after(seconds) sends SIGINT
to the main thread once, unless the cluster is torn down first (the database's `abort_after`).

Layout: <work root>/<run id>/{run.json, nodes/<node>/}; the work root is
$SPLITBRAIN_MEMORY_DIR or <tmp>/splitbrain-memory. run.json names the harness pid, so that
cleanup() can tell a crashed run's leftovers from a live one, as the local provider does.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from harness.cluster import CAPABILITIES as CAPABILITIES_ALL
from harness.cluster import (
    Cluster,
    Command,
    Grudge,
    Service,
    Unsupported,
    check_loss_probability,
    normalize_grudge,
)
from harness.db import Deployment
from harness.errors import ClusterError, EnvironmentProblem
from harness.options import Option
from harness.providers import owner
from harness.spec import TestSpec

DOWN, RUNNING, PAUSED = "down", "running", "paused"
# Primitives that `broken` can make raise (method names; "clock" is set_clock_offset).
BREAKABLE = ("kill", "pause", "partition", "lose_packets", "clock", "start")
_STOPPING = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def work_root() -> Path:
    return Path(
        os.environ.get("SPLITBRAIN_MEMORY_DIR", Path(tempfile.gettempdir()) / "splitbrain-memory")
    )


# Clusters of this process that are not torn down yet (cleanup(force=True) tears them down).
_live: dict[str, MemoryCluster] = {}
_live_lock = threading.Lock()


def live_clusters() -> list[MemoryCluster]:
    with _live_lock:
        return list(_live.values())


CAPABILITIES = frozenset(CAPABILITIES_ALL) - {"power-loss"}
BROKEN_FAULT = Option(
    "broken_fault",
    str,
    "none",
    "a memory cluster primitive that raises ClusterError (a fault that fails to start)",
    choices=("none", "kill", "pause", "partition"),
)
INEFFECTIVE_FAULT = Option(
    "ineffective_fault",
    str,
    "none",
    "a memory cluster primitive that returns as if done but changes nothing (a fault that "
    "never takes effect: its observation must fail)",
    choices=("none", "pause", "partition"),
)
def broken_primitives(fault: str) -> set[str]:
    """The memory cluster primitives that `broken_fault` makes raise."""
    return {"none": set(), "partition": {"partition", "lose_packets"}}.get(fault, {fault})


OPTIONS: tuple[Option, ...] = (BROKEN_FAULT, INEFFECTIVE_FAULT)
PACKAGES: tuple[str, ...] = ()


def validate(spec: TestSpec) -> None:
    """Nothing to check before a run."""


class MemoryCluster(Cluster):
    """Nodes as flags. `cond` guards every flag; the memory database takes it for each op and
    waits on it while a node is paused (every state change notifies it)."""

    capabilities = CAPABILITIES

    def __init__(
        self,
        run_id: str,
        nodes: Sequence[str] = ("n1", "n2", "n3"),
        *,
        root: Path | None = None,
        broken: Iterable[str] = (),
        ineffective: Iterable[str] = (),
    ) -> None:
        self.run_id = run_id
        self.nodes = tuple(nodes)
        self.broken = frozenset(broken)
        # primitives that return as if done but change nothing (a fault that never took
        # effect, as the old compose pause of PostgreSQL): observation must catch them
        self.ineffective = frozenset(ineffective)
        unknown = sorted((self.broken | self.ineffective) - set(BREAKABLE))
        if unknown:
            raise ClusterError(f"cannot break {unknown[0]!r}; breakable: {', '.join(BREAKABLE)}")
        self.workdir = (root or work_root()) / run_id
        self.cond = threading.Condition()
        self.state = {n: DOWN for n in self.nodes}
        self.grudge: dict[str, frozenset[str]] = {}
        self.loss: tuple[dict[str, frozenset[str]], float] | None = None
        self.clock_offsets = {n: 0.0 for n in self.nodes}
        self.torn_down = False
        self.events: list[tuple[str, str]] = []  # (node or "*", what happened), in order
        self._argv: dict[str, tuple[list[str], PurePosixPath]] = {}
        self._timer: threading.Timer | None = None
        self._interrupted = False
        self.workdir.mkdir(parents=True, exist_ok=True)
        for n in self.nodes:
            Path(self.node_dir(n)).mkdir(parents=True, exist_ok=True)
        info = {"run_id": run_id, "harness_pid": os.getpid(), "nodes": list(self.nodes)}
        (self.workdir / "run.json").write_text(json.dumps(info, indent=2) + "\n")
        with _live_lock:
            _live[run_id] = self

    # -- where things are ---------------------------------------------------------------
    def _check(self, node: str) -> str:
        if node not in self.state:
            raise ClusterError(f"unknown node {node!r}; nodes are {', '.join(self.nodes)}")
        return node

    def address(self, node: str, port: int) -> tuple[str, int]:
        return (f"{self._check(node)}.memory", port)

    def peer_address(self, node: str) -> str:
        return self._check(node)

    def node_dir(self, node: str) -> PurePosixPath:
        return PurePosixPath(self.workdir / "nodes" / self._check(node))

    def _path(self, node: str, path: PurePosixPath | str) -> Path:
        """A node path on disk; relative paths are relative to the node's directory."""
        p = PurePosixPath(path)
        return Path(p if p.is_absolute() else self.node_dir(node) / p)

    # -- processes ----------------------------------------------------------------------
    def run_command(self, node: str, cmd: Command) -> subprocess.CompletedProcess[str]:
        """Only `true`, `false`, `echo ...`, `test -e PATH`, `cat PATH`, `mkdir -p PATH`."""
        self._check(node)
        args = cmd.argv
        rc, out, err = 0, "", ""
        if args == ["true"]:
            pass
        elif args == ["false"]:
            rc = 1
        elif args[:1] == ["echo"]:
            out = " ".join(args[1:]) + "\n"
        elif len(args) == 3 and args[:2] == ["test", "-e"]:
            rc = 0 if self._path(node, args[2]).exists() else 1
        elif len(args) == 2 and args[0] == "cat":
            try:
                out = self._path(node, args[1]).read_text()
            except OSError as e:
                rc, err = 1, e.strerror or "cannot read"
        elif len(args) == 3 and args[:2] == ["mkdir", "-p"]:
            self._path(node, args[2]).mkdir(parents=True, exist_ok=True)
        else:
            raise Unsupported(f"{node}: the memory provider runs no commands: {' '.join(args)}")
        return subprocess.CompletedProcess(args, rc, out, err)

    def write_file(
        self, node: str, path: PurePosixPath | str, text: str, *, user: str, append: bool = False
    ) -> None:
        p = self._path(self._check(node), path)
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "a" if append else "w") as f:
            f.write(text)

    def read_file(self, node: str, path: PurePosixPath | str, *, user: str | None = None) -> str:
        try:
            return self._path(self._check(node), path).read_text()
        except FileNotFoundError:
            return ""

    def exists(self, node: str, path: PurePosixPath | str, *, user: str | None = None) -> bool:
        return self._path(self._check(node), path).exists()

    def _event(self, node: str, what: str) -> None:
        """Record a state change (caller holds cond); also in the node's log, if spawned."""
        self.events.append((node, what))
        if node in self._argv:
            with (
                contextlib.suppress(OSError),
                open(self._path(node, self._argv[node][1]), "a") as f,
            ):
                f.write(what + "\n")
        self.cond.notify_all()

    def _refuse(self, primitive: str, node: str | None = None) -> None:
        if primitive in self.broken:
            where = f"{node}: " if node else ""
            raise ClusterError(f"{where}{primitive} is broken on purpose (memory test double)")

    def _alive(self) -> None:
        if self.torn_down:
            raise ClusterError(f"memory cluster {self.run_id} is torn down")

    def launch(self, node: str, service: Service) -> None:
        with self.cond:
            self._alive()
            if self.state[self._check(node)] != DOWN:
                raise ClusterError(f"{node}: service already running")
            self._argv[node] = (service.argv, service.log)
            self._path(node, service.log).parent.mkdir(parents=True, exist_ok=True)
            self.state[node] = RUNNING
            self._event(node, f"spawned {' '.join(service.argv)}")

    def start(self, node: str) -> None:
        with self.cond:
            self._alive()
            self._check(node)
            self._refuse("start", node)
            if node not in self._argv:
                raise ClusterError(f"{node}: nothing to start (spawn() was never called)")
            if self.state[node] == DOWN:
                self.state[node] = RUNNING
                self._event(node, "started")

    def is_running(self, node: str) -> bool:
        with self.cond:
            return self.state[self._check(node)] != DOWN

    def signal(self, node: str, sig: signal.Signals) -> None:
        with self.cond:
            self._alive()
            current = self.state[self._check(node)]
            if sig == signal.SIGKILL:
                self._refuse("kill", node)
            elif sig == signal.SIGSTOP:
                self._refuse("pause", node)
            if current == DOWN:
                return  # no process to signal, as with a real one that is gone
            if sig == signal.SIGSTOP and "pause" in self.ineffective:
                self._event(node, "SIGSTOP: ignored (ineffective on purpose)")
                return
            if sig in _STOPPING:
                self.state[node] = DOWN
            elif sig == signal.SIGSTOP:
                self.state[node] = PAUSED
            elif sig == signal.SIGCONT:
                self.state[node] = RUNNING
            self._event(node, f"{sig.name}: {self.state[node]}")

    def power_loss(self, node: str) -> dict[str, int]:
        """The node goes down as on SIGKILL. Nothing is dropped: the memory database keeps
        no files, so it has no un-fsynced writes (the counts say so). Not a declared
        capability (runs cannot ask for it here); unit tests of the fault call it directly."""
        self.signal(node, signal.SIGKILL)
        with self.cond:
            self._event(node, "power-loss")
        return {"files": 0, "blocks": 0, "bytes_restored": 0, "bytes_cut": 0}

    # -- network faults -------------------------------------------------------------------
    def partition(self, grudge: Grudge) -> None:
        with self.cond:
            self._alive()
            self._refuse("partition")
            g = normalize_grudge(grudge, self.nodes)
            self.grudge = {} if "partition" in self.ineffective else g
            self._event("*", f"partition {json.dumps({n: sorted(g) for n, g in grudge.items()})}")

    def lose_packets(self, grudge: Grudge, probability: float) -> None:
        check_loss_probability(probability)
        with self.cond:
            self._alive()
            self._refuse("lose_packets")
            self.loss = (normalize_grudge(grudge, self.nodes), probability)
            self._event("*", f"packet loss {probability:g}")

    def heal(self) -> None:
        with self.cond:
            self.grudge = {}
            self.loss = None
            self._event("*", "healed")

    def cut(self, a: str, b: str) -> bool:
        """Whether a and b cannot talk both ways (either drops the other's packets), which is
        what breaks a TCP connection such as a replication stream. Caller holds cond."""
        return b in self.grudge.get(a, ()) or a in self.grudge.get(b, ())

    def loss_between(self, a: str, b: str) -> float:
        """Probability that a packet between a and b is lost (caller holds cond)."""
        if self.loss is None:
            return 0.0
        g, p = self.loss
        return p if b in g.get(a, ()) or a in g.get(b, ()) else 0.0

    # -- observations -------------------------------------------------------------------
    def processes(self, node: str) -> dict[int, str]:
        with self.cond:
            st = self.state[self._check(node)]
        pid = 1000 + self.nodes.index(node)
        return {} if st == DOWN else {pid: "T" if st == PAUSED else "S"}

    def reach(self, src: str, dst: str, port: int) -> Any:
        with self.cond:
            if self.cut(src, dst):
                return "silent"
            return "refused" if self.state[self.check_node(dst)] == DOWN else "open"

    def check_node(self, node: str) -> str:
        return self._check(node)

    def lossy(self) -> dict[str, frozenset[str]]:
        with self.cond:
            return dict(self.loss[0]) if self.loss else {}

    def wanted_rules(self, node: str) -> dict[str, float]:
        with self.cond:
            out = {}
            if self.loss:
                out = {m: self.loss[1] for m in self.loss[0].get(node, ())}
            out.update({m: 1.0 for m in self.grudge.get(node, ())})
            return out

    def firewall_rules(self, node: str) -> dict[str, float]:
        return self.wanted_rules(node)  # the double's "kernel" is its own record

    def drop_address(self, node: str) -> str:
        return self._check(node)

    def clock_reading(self, node: str) -> float:
        return self.clock_offset(node)

    def set_clock_offset(self, node: str, seconds: float) -> None:
        with self.cond:
            self._alive()
            self._refuse("clock", node)
            self.clock_offsets[self._check(node)] = float(seconds)
            self._event(node, f"clock offset {seconds:+g} s")

    def clock_offset(self, node: str) -> float:
        with self.cond:
            return self.clock_offsets[self._check(node)]

    # -- test hooks ----------------------------------------------------------------------
    def interrupt_main_after(self, seconds: float) -> None:
        """Send SIGINT to the main thread after `seconds`, as a Ctrl-C would (KeyboardInterrupt),
        unless the cluster is torn down first. Armed once (later calls do nothing)."""
        with self.cond:
            if self._timer is not None or self.torn_down:
                return
            self._timer = threading.Timer(seconds, self._interrupt)
            self._timer.daemon = True
            self._timer.start()

    def _interrupt(self) -> None:
        with self.cond:
            if self.torn_down:
                return
            # A real SIGINT sent to the main thread, as a Ctrl-C: _thread.interrupt_main() only
            # sets a flag, which a main thread blocked in Event.wait() sees when the wait ends.
            # Not sent unless Python handles SIGINT (SIG_DFL would kill the process); ignored
            # by the kernel while the runner's teardown ignores SIGINT, so a late timer cannot
            # cut a teardown short.
            if not callable(signal.getsignal(signal.SIGINT)):
                return
            self._interrupted = True
            self._event("*", "interrupting the main thread (SIGINT)")
            main = threading.main_thread().ident
            if main is not None:
                signal.pthread_kill(main, signal.SIGINT)

    @property
    def interrupted(self) -> bool:
        return self._interrupted

    # -- life -------------------------------------------------------------------------------
    def collect_logs(self, dest: Path) -> None:
        for n in self.nodes:
            src = Path(self.node_dir(n))
            files = sorted(p for p in src.rglob("*.log") if p.is_file()) if src.is_dir() else []
            if not files:
                continue
            out = Path(dest) / n
            out.mkdir(parents=True, exist_ok=True)
            for f in files:
                with contextlib.suppress(OSError):
                    shutil.copy2(f, out / f.name)

    def teardown(self) -> None:
        with self.cond:
            if self._timer is not None:
                self._timer.cancel()
            if not self.torn_down:
                for n in self.nodes:
                    self.state[n] = DOWN
                self.grudge, self.loss = {}, None
                self.torn_down = True
                self._event("*", "torn down")
        shutil.rmtree(self.workdir, ignore_errors=True)
        with _live_lock:
            _live.pop(self.run_id, None)

    def __repr__(self) -> str:
        flags = ", ".join(f"{n}={s}" for n, s in self.state.items())
        return f"MemoryCluster({self.run_id}, {flags})"


# -- the provider module's functions (as harness.providers.local) -------------------------
def preflight(db: Any) -> None:
    """Only the memory database can live on memory nodes; the work root must be writable."""
    name = getattr(db, "name", None)
    if name != "memory":
        raise EnvironmentProblem(
            f"the memory provider hosts only the in-memory test database (--db memory), "
            f"not {name}: use --provider local or compose"
        )
    root = work_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EnvironmentProblem(f"cannot create {root}: {e.strerror}") from None
    if not os.access(root, os.W_OK):
        raise EnvironmentProblem(f"{root} is not writable: set SPLITBRAIN_MEMORY_DIR")


def create(spec: TestSpec, run_id: str, deployment: Deployment | None = None) -> MemoryCluster:
    """Nodes n1..nN; a primitive named by the spec's `broken_fault` option raises. The
    deployment's facts (user, ports, image) mean nothing here: nothing is installed or run."""
    nodes = [f"n{i}" for i in range(1, spec.nodes + 1)]
    ineffective = INEFFECTIVE_FAULT.get(spec.options)
    return MemoryCluster(
        run_id,
        nodes,
        broken=broken_primitives(BROKEN_FAULT.get(spec.options)),
        ineffective=() if ineffective == "none" else (ineffective,),
    )


def _leftover_dirs(force: bool) -> list[Path]:
    """Work dirs of runs whose harness process is gone (all of them with force)."""
    root = work_root()
    if not root.is_dir():
        return []
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            pid = int(json.loads((d / "run.json").read_text())["harness_pid"])
            alive = owner.alive(None, pid)
        except (OSError, ValueError, KeyError, TypeError):
            alive = False  # no readable run.json: nobody owns it
        if force or not alive:
            out.append(d)
    return out


def find_leftovers(force: bool = False, inventory: str = "") -> list[str]:
    """One line per leftover: work dirs of dead runs; with force, also live clusters."""
    out = [f"work dir {d}" for d in _leftover_dirs(force)]
    if force:
        out = [f"memory cluster {c.run_id}" for c in live_clusters()] + out
    return out


def cleanup(force: bool = False, inventory: str = "") -> list[str]:
    """Remove what find_leftovers lists (force tears down this process's live clusters too)."""
    done = []
    if force:
        for c in live_clusters():
            c.teardown()
            done.append(f"tore down memory cluster {c.run_id}")
    for d in _leftover_dirs(force):
        shutil.rmtree(d, ignore_errors=True)
        done.append(f"removed work dir {d}")
    return done
