"""A GitHub Actions workflow run here, job by job, in containers under the local Docker
engine: enough of the runner to execute .github/workflows/nightly.yml for real.

Each job (each matrix cell) gets a fresh privileged container of a Debian 12 image (the
job's `container.image`, mapped to a local stand-in: no registry answers here) with a fresh
copy of the checkout mounted where GitHub puts it; its `run:` steps are executed in order
with bash -e, with the workflow's env, GITHUB_OUTPUT and the expressions the workflow uses
(`${{ inputs.x || 'y' }}`, `matrix.x`, `needs.j.outputs.x`, `steps.s.outputs.x`,
`fromJSON(...)`, `always()`, `steps.s.outcome != 'success'`, ...). `uses:` steps cannot run
here; each is stood in for by what it does to files (checkout: the mounted copy; upload- and
download-artifact: copies into and out of an artifacts folder; action-junit-report: the
JUnit files it would publish, read back) and recorded as stood in.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

WORKSPACE = "/__w/splitbrain/splitbrain"  # where GitHub checks a repository out in a container


@dataclass
class StepRecord:
    job: str
    name: str
    kind: str  # run | stood-in | skipped
    outcome: str  # success | failure | skipped
    output: str = ""


@dataclass
class JobRecord:
    name: str
    result: str = "success"  # success | failure | skipped
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)


# ---------------------------------------------------------------- expressions


_TOKEN = re.compile(r"\s*(\|\||&&|==|!=|\(|\)|,|'(?:[^']|'')*'|[A-Za-z_][\w.-]*)")


def evaluate(expr: str, ctx: dict[str, Any]) -> Any:
    """The subset of GitHub's expression language the workflow uses."""
    tokens = [t for t in _TOKEN.findall(expr) if t.strip()]
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def primary() -> Any:
        t = take()
        if t.startswith("'"):
            return t[1:-1].replace("''", "'")
        if t == "(":
            v = disjunction()
            take()
            return v
        if peek() == "(":  # a function call
            take()
            args = []
            while peek() != ")":
                args.append(disjunction())
                if peek() == ",":
                    take()
            take()
            return call(t, args)
        if t in ("true", "false"):
            return t == "true"
        value: Any = ctx
        for part in t.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def comparison() -> Any:
        v = primary()
        while peek() in ("==", "!="):
            op, w = take(), primary()
            v = (v == w) if op == "==" else (v != w)
        return v

    def conjunction() -> Any:
        v = comparison()
        while peek() == "&&":
            take()
            w = comparison()
            v = v and w
        return v

    def disjunction() -> Any:
        v = conjunction()
        while peek() == "||":
            take()
            w = conjunction()
            v = v or w
        return v

    def call(name: str, args: list[Any]) -> Any:
        status = ctx.get("_status", "success")
        if name == "fromJSON":
            return json.loads(args[0])
        if name == "toJSON":
            return json.dumps(args[0])
        if name == "always":
            return True
        if name == "success":
            return status == "success"
        if name == "failure":
            return status == "failure"
        raise ValueError(f"expression function {name}() is not supported here")

    return disjunction()


def substitute(text: str, ctx: dict[str, Any]) -> str:
    def one(m: re.Match[str]) -> str:
        v = evaluate(m.group(1), ctx)
        return "" if v is None else v if isinstance(v, str) else json.dumps(v)

    return re.sub(r"\$\{\{\s*(.*?)\s*\}\}", one, text)


def condition(cond: Any, ctx: dict[str, Any]) -> bool:
    if cond is None:
        return bool(evaluate("success()", ctx))
    text = str(cond).strip()
    text = text[3:-2].strip() if text.startswith("${{") else text
    uses_status = any(f in text for f in ("always()", "success()", "failure()"))
    result = bool(evaluate(text, ctx))
    return result if uses_status else result and ctx.get("_status", "success") == "success"


# ---------------------------------------------------------------- the runner


class WorkflowRun:
    def __init__(
        self,
        workflow: Path,
        checkout: Path,
        work: Path,
        client: Any,
        images: dict[str, str],
        inputs: dict[str, str],
        mounts: dict[str, str] | None = None,
        log: Any = print,
        machine_env: dict[str, str] | None = None,
    ) -> None:
        self.doc = yaml.safe_load(workflow.read_text())
        self.checkout = checkout
        self.work = work
        self.client = client
        self.images = images  # the job's image name -> the local stand-in
        self.inputs = inputs
        self.mounts = mounts or {}  # host path -> container path (caches, this machine's CA)
        self.machine_env = machine_env or {}  # what this machine's network needs in every step
        self.artifacts = work / "artifacts"
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.log = log
        self.jobs: dict[str, JobRecord] = {}
        self.privileged_as = "privileged"  # what --privileged became on this machine

    def run(self) -> dict[str, JobRecord]:
        pending = dict(self.doc["jobs"])
        while pending:
            ready = [j for j, d in pending.items() if all(n in self.jobs for n in _needs(d))]
            if not ready:
                raise ValueError(f"jobs with unmet needs: {sorted(pending)}")
            for name in ready:
                self._job(name, pending.pop(name))
        return self.jobs

    def _context(self) -> dict[str, Any]:
        return {
            "inputs": dict(self.inputs),
            "github": {"event": {"inputs": dict(self.inputs)}, "workspace": WORKSPACE},
            "needs": {n: {"result": r.result, "outputs": r.outputs} for n, r in self.jobs.items()},
        }

    def _job(self, name: str, job: dict[str, Any]) -> None:
        ctx = self._context()
        failed_needs = [n for n in _needs(job) if self.jobs[n].result != "success"]
        ctx["_status"] = "failure" if failed_needs else "success"
        if not condition(job.get("if"), ctx):
            self.jobs[name] = JobRecord(name, "skipped")
            return
        cells: list[dict[str, Any]] = [{}]
        matrix = (job.get("strategy") or {}).get("matrix")
        if matrix is not None:
            include = matrix.get("include")
            cells = evaluate(include[3:-2], ctx) if isinstance(include, str) else include
        records = [self._cell(name, job, cell, ctx) for cell in cells]
        record = JobRecord(name)
        record.steps = [s for r in records for s in r.steps]
        record.result = "failure" if any(r.result == "failure" for r in records) else "success"
        if len(records) == 1:
            record.outputs = records[0].outputs
        self.jobs[name] = record

    def _cell(
        self, name: str, job: dict[str, Any], cell: dict[str, Any], ctx: dict[str, Any]
    ) -> JobRecord:
        label = f"{name} ({cell.get('case', '')})" if cell else name
        rec = JobRecord(label)
        ctx = {**ctx, "matrix": cell, "steps": {}, "_status": "success"}
        env = {k: substitute(str(v), ctx) for k, v in (self.doc.get("env") or {}).items()}
        env |= {k: substitute(str(v), ctx) for k, v in (job.get("env") or {}).items()}
        ctx["env"] = env
        ws = self.work / "jobs" / f"{name}-{uuid.uuid4().hex[:6]}"
        _copy_checkout(self.checkout, ws)
        container = self._container(job, ws)
        try:
            for i, step in enumerate(job["steps"]):
                self._step(rec, container, ws, step, i, ctx, env)
        finally:
            with contextlib.suppress(Exception):
                container.remove(force=True)
        rec.result = ctx["_status"]
        for k, v in (job.get("outputs") or {}).items():
            rec.outputs[k] = substitute(str(v), ctx)
        self.log(f"workflow: job {label}: {rec.result}")
        return rec

    def _container(self, job: dict[str, Any], ws: Path) -> Any:
        spec = job.get("container") or {}
        image = self.images[spec.get("image", "")]
        volumes = {str(ws): {"bind": WORKSPACE, "mode": "rw"}}
        for host, inside in self.mounts.items():
            volumes[host] = {"bind": inside, "mode": "ro" if Path(host).is_file() else "rw"}
        for v in spec.get("volumes") or []:
            host, inside = v.split(":")[:2]
            local = self.work / "volumes" / host.strip("/").replace("/", "_")
            local.mkdir(parents=True, exist_ok=True)
            volumes[str(local)] = {"bind": inside, "mode": "rw"}
        kw: dict[str, Any] = {}
        if "--privileged" in str(spec.get("options", "")):
            caps = our_caps()
            if len(caps) == len(CAPS):
                kw["privileged"] = True
            else:  # as privileged as this machine allows: every capability it has (that
                # Docker 20.10 knows: it refuses the three newest by name)
                caps = [c for c in caps if c not in ("PERFMON", "BPF", "CHECKPOINT_RESTORE")]
                kw = {"cap_add": caps, "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
                      "devices": ["/dev/fuse:/dev/fuse:rwm"]}  # fmt: skip
                self.privileged_as = f"every capability but {sorted(set(CAPS) - set(caps))}"
        return self.client.containers.run(
            image,
            ["sleep", "infinity"],
            detach=True,
            # The host's network: containers on this machine's Docker bridge have no route out
            # (no NAT may be added here), and apt and pip must reach their mirrors. A GitHub
            # job container has its own network with NAT; what a job does inside (network
            # namespaces for the local provider) is the same either way.
            network_mode="host",
            volumes=volumes,
            working_dir=WORKSPACE,
            labels={"splitbrain.owner": "workflow-test"},
            init=True,
            **kw,
        )

    def _step(
        self,
        rec: JobRecord,
        container: Any,
        ws: Path,
        step: dict[str, Any],
        i: int,
        ctx: dict[str, Any],
        env: dict[str, str],
    ) -> None:
        name = step.get("name") or step.get("uses") or f"step {i}"
        if not condition(step.get("if"), ctx):
            rec.steps.append(StepRecord(rec.name, name, "skipped", "skipped"))
            return
        outputs: dict[str, str] = {}
        if "run" in step:
            script = substitute(step["run"], ctx)
            out_file = f"/tmp/github-output-{i}"
            run_env = {**self.machine_env, **env, "GITHUB_OUTPUT": out_file,
                       "GITHUB_WORKSPACE": WORKSPACE, "CI": "true", "HOME": "/root"}  # fmt: skip
            exit_code, output = container.exec_run(
                ["bash", "-e", "-c", script], environment=run_env, workdir=WORKSPACE
            )
            text = output.decode(errors="replace")
            ok = exit_code == 0
            got = container.exec_run(["sh", "-c", f"cat {out_file} 2>/dev/null || true"])[1]
            for line in got.decode().splitlines():
                k, _, v = line.partition("=")
                if k:
                    outputs[k] = v
            kind = "run"
        else:
            ok, text = self._stand_in(step, ws, ctx)
            kind = "stood-in"
        outcome = "success" if ok else "failure"
        rec.steps.append(StepRecord(rec.name, name, kind, outcome, text[-4000:]))
        self.log(f"workflow:   {rec.name}: {name}: {outcome} ({kind})")
        if step.get("id"):
            ctx["steps"][step["id"]] = {"outputs": outputs, "outcome": outcome}
        if not ok and not step.get("continue-on-error"):
            ctx["_status"] = "failure"

    def _stand_in(self, step: dict[str, Any], ws: Path, ctx: dict[str, Any]) -> tuple[bool, str]:
        action = step["uses"].split("@")[0]
        args = {k: substitute(str(v), ctx) for k, v in (step.get("with") or {}).items()}
        if action == "actions/checkout":
            return True, "the checkout is mounted"
        if action == "actions/upload-artifact":
            src = ws / args["path"]
            if not src.exists() or not any(src.rglob("*")):
                return args.get("if-no-files-found", "warn") != "error", f"no files at {src}"
            dest = self.artifacts / args["name"]
            shutil.copytree(src, dest, dirs_exist_ok=True)
            return True, f"{sum(1 for p in dest.rglob('*') if p.is_file())} files in {dest}"
        if action == "actions/download-artifact":
            dest = ws / args["path"]
            names = [p for p in self.artifacts.iterdir() if fnmatch.fnmatch(p.name, args["pattern"])]
            for p in names:
                shutil.copytree(p, dest if args.get("merge-multiple", "").lower() == "true" else dest / p.name,
                                dirs_exist_ok=True)  # fmt: skip
            return True, f"{len(names)} artifacts into {dest}"
        if action == "mikepenz/action-junit-report":
            files = sorted(ws.glob(args["report_paths"]))
            tests = sum(len(re.findall(r"<testcase\b", f.read_text())) for f in files)
            ok = bool(files) and (tests > 0 or args.get("require_tests", "").lower() != "true")
            return ok, f"{len(files)} JUnit files, {tests} test cases: {[str(f) for f in files]}"
        return False, f"no stand-in for {action}"


# Linux capabilities by number (linux/capability.h), to name what "privileged" can give here.
CAPS = ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"]


def our_caps() -> list[str]:
    """The capabilities this process may hand on (a sandbox may lack some, such as
    SYS_RESOURCE here, and then Docker's --privileged cannot start a container at all)."""
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("CapBnd"))
    bits = int(line.split()[1], 16)
    return [c for i, c in enumerate(CAPS) if bits >> i & 1]


def _needs(job: dict[str, Any]) -> list[str]:
    n = job.get("needs") or []
    return [n] if isinstance(n, str) else list(n)


def _copy_checkout(src: Path, dest: Path) -> None:
    """A fresh checkout: the repository's tracked files, as actions/checkout gives them."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=src, capture_output=True, check=True,
    ).stdout.split(b"\0")  # fmt: skip
    for f in files:
        if not f:
            continue
        rel = f.decode()
        s = src / rel
        if s.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(s, dest / rel)
