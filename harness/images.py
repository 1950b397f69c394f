"""The node images the project builds itself: `splitbrain images build [--db X] [--rebuild]`.

Each database has compose/<db>/Dockerfile, starting `FROM ${BASE}` (debian:bookworm-slim by
default) and installing Debian's packages (Cassandra: Java 17 and the cassandra-all jars
that harness.install.maven resolved from Maven Central, the same release the local
provider runs). Images are tagged with the database's Deployment.image,
`splitbrain/<db>:<version>`, never an official image's name, and labelled with a hash of
their build context so that a changed Dockerfile is rebuilt.

Where no registry answers (this project's machines: `docker pull` fails), the base is made
from Debian's packages: `debootstrap --variant=minbase bookworm` into a folder, then
imported as splitbrain/debian:bookworm, with the host's apt sources (so the packages in
the images are the versions the local provider runs).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.cluster import failure_line
from harness.errors import EnvironmentProblem, SpecError, one_line

COMPOSE_DIR = Path(__file__).resolve().parents[1] / "compose"
BASE = "debian:bookworm-slim"
LOCAL_BASE = "splitbrain/debian:bookworm"
HASH_LABEL = "splitbrain.context-hash"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
Echo = Callable[[str], None]
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NOISE = re.compile(r"^\s*(Step \d|---> |Removing intermediate|Successfully|debconf:)")


@dataclass(frozen=True)
class Built:
    db: str
    tag: str
    seconds: float
    action: str  # "built" | "present" | "rebuilt"


def databases() -> list[str]:
    """Every database with a Dockerfile (compose/<db>/Dockerfile)."""
    return sorted(p.parent.name for p in COMPOSE_DIR.glob("*/Dockerfile"))


def tag_of(db: str) -> str:
    from harness.db import database_class

    return database_class(db).deployment.image


def present(client: Any, image: str) -> dict[str, Any] | None:
    import docker

    try:
        info: dict[str, Any] = client.api.inspect_image(image)
    except docker.errors.ImageNotFound:
        return None
    return info


@contextlib.contextmanager
def context(db: str) -> Iterator[Path]:
    """The build context: the database's folder; for Cassandra with the jars in lib/."""
    folder = COMPOSE_DIR / db
    if db != "cassandra":
        yield folder
        return
    from harness.install import maven

    maven.resolve()  # EnvironmentProblem in one line when Java or Maven is missing
    with tempfile.TemporaryDirectory(prefix="splitbrain-cassandra-image-") as tmp:
        ctx = Path(tmp)
        shutil.copy2(folder / "Dockerfile", ctx / "Dockerfile")
        (ctx / "lib").mkdir()
        for jar in sorted(maven.classpath_dir().glob("*.jar")):
            try:
                (ctx / "lib" / jar.name).hardlink_to(jar)
            except OSError:
                shutil.copy2(jar, ctx / "lib" / jar.name)
        yield ctx


def context_hash(ctx: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in ctx.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(ctx)).encode() + b"\0")
        h.update(f.read_bytes() if f.stat().st_size < 1 << 20 else str(f.stat().st_size).encode())
    return h.hexdigest()[:16]


def _sources() -> str:
    """The host's Debian apt lines for bookworm (main, updates, security), or the defaults."""
    found = []
    for f in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        with contextlib.suppress(OSError):
            found.append(f.read_text())
    text = "\n".join(found)
    security = "debian-security" in text
    mirror = DEBIAN_MIRROR
    for line in text.splitlines():
        parts = line.split()
        uris = [p for p in parts if p.startswith("http") and p.rstrip("/").endswith("/debian")]
        if uris:
            mirror = uris[0].rstrip("/")
            break
    lines = [f"deb {mirror} bookworm main", f"deb {mirror} bookworm-updates main"]
    if security or mirror == DEBIAN_MIRROR:
        lines.append(f"deb {mirror}-security bookworm-security main")
    return "\n".join(lines) + "\n"


def make_local_base(client: Any, echo: Echo) -> str:
    """splitbrain/debian:bookworm from Debian's packages (debootstrap + import)."""
    if shutil.which("debootstrap") is None:
        raise EnvironmentProblem(
            f"no registry gives {BASE} and debootstrap is missing: apt-get install debootstrap"
        )
    t0 = time.monotonic()
    echo(f"images: no registry gives {BASE}; making {LOCAL_BASE} with debootstrap (about 1 min)")
    with tempfile.TemporaryDirectory(prefix="splitbrain-base-") as tmp:
        root = Path(tmp) / "root"
        mirror = _sources().split()[1]
        r = subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", str(root), mirror],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0:
            raise EnvironmentProblem(f"debootstrap failed: {failure_line(r.stderr or r.stdout, r.returncode)}")
        (root / "etc/apt/sources.list").write_text(_sources())
        (root / "etc/apt/apt.conf.d/90splitbrain").write_text(
            'APT::Install-Recommends "false";\nAcquire::Retries "3";\n'
        )
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        try:
            client.api.import_image_from_stream(tar.stdout, repository=LOCAL_BASE.split(":")[0],
                                                tag=LOCAL_BASE.split(":")[1])  # fmt: skip
        finally:
            tar.stdout.close()
            tar.wait()
    if present(client, LOCAL_BASE) is None:
        raise EnvironmentProblem(f"importing {LOCAL_BASE} failed")
    echo(f"images: {LOCAL_BASE} made in {time.monotonic() - t0:.0f} s")
    return LOCAL_BASE


def base_image(client: Any, echo: Echo) -> str:
    """debian:bookworm-slim if the engine has it or can pull it, else the local base."""
    import docker

    if present(client, BASE):
        return BASE
    if present(client, LOCAL_BASE):
        return LOCAL_BASE
    repo, _, tag = BASE.partition(":")
    try:
        client.api.pull(repo, tag=tag)
        return BASE
    except (docker.errors.APIError, OSError):
        pass
    return make_local_base(client, echo)


def _build(client: Any, ctx: Path, tag: str, base: str, digest: str) -> None:
    import docker

    tail = ""  # the build's output so far (its last 16 KB), said in one line on failure
    try:
        for chunk in client.api.build(
            path=str(ctx),
            tag=tag,
            buildargs={"BASE": base},
            network_mode="host",
            labels={HASH_LABEL: digest},
            rm=True,
            forcerm=True,
            decode=True,
        ):
            if "error" in chunk:  # say the build's own last output line, not the RUN command
                lines = [ln.strip() for ln in _ANSI.sub("", tail).splitlines()]
                said = [ln for ln in lines if ln and not _NOISE.match(ln)]
                why = said[-1] if said else one_line(chunk["error"])
                raise EnvironmentProblem(f"building {tag} failed: {why}")
            tail = (tail + (chunk.get("stream") or ""))[-16384:]
    except docker.errors.APIError as e:
        raise EnvironmentProblem(f"building {tag}: {one_line(e)}") from None
    if present(client, tag) is None:
        raise EnvironmentProblem(f"building {tag}: no image came out")


def build(client: Any, db: str, *, rebuild: bool = False, echo: Echo = print) -> Built:
    """The database's image, built unless it is there from the same context."""
    if db not in databases():
        raise SpecError(f"--db {db!r}: no compose/{db}/Dockerfile; known: {', '.join(databases())}")
    tag = tag_of(db)
    t0 = time.monotonic()
    with context(db) as ctx:
        digest = context_hash(ctx)
        info = present(client, tag)
        labels = ((info or {}).get("Config") or {}).get("Labels") or {}
        if info is not None and not rebuild and labels.get(HASH_LABEL) == digest:
            return Built(db, tag, 0.0, "present")
        base = base_image(client, echo)
        echo(f"images: building {tag} from {base} ...")
        _build(client, ctx, tag, base, digest)
    action = "built" if info is None else "rebuilt"
    return Built(db, tag, round(time.monotonic() - t0, 1), action)


def missing(client: Any, dbs: list[str]) -> list[str]:
    """The databases among dbs whose image is not there."""
    return [db for db in dbs if present(client, tag_of(db)) is None]
