"""Build the lossyfs daemon from its C source on first use, once per source version."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from harness.errors import EnvironmentProblem

SOURCE = Path(__file__).with_name("lossyfs.c")
CACHE = Path(os.environ.get("SPLITBRAIN_POWERLOSS_CACHE", "/var/tmp/splitbrain-powerloss"))
INSTALL_HINT = "apt-get install fuse3 libfuse3-dev gcc pkg-config"


def preflight() -> None:
    """EnvironmentProblem (one line) naming the first thing the layer cannot work without."""
    if not os.path.exists("/dev/fuse"):
        raise EnvironmentProblem("/dev/fuse not found: power-loss needs FUSE (modprobe fuse)")
    for tool in ("fusermount3", "gcc", "pkg-config"):
        if shutil.which(tool) is None:
            raise EnvironmentProblem(f"`{tool}` not found (power-loss layer): {INSTALL_HINT}")


def binary() -> Path:
    """The daemon's path, compiled now if this source version was never built here."""
    preflight()
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    out = CACHE / f"lossyfs-{digest}"
    if out.is_file() and os.access(out, os.X_OK):
        return out
    flags = subprocess.run(
        ["pkg-config", "--cflags", "--libs", "fuse3"], capture_output=True, text=True
    )
    if flags.returncode != 0:
        raise EnvironmentProblem(f"libfuse3 development files not found: {INSTALL_HINT}")
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    cc = subprocess.run(
        ["gcc", "-O2", "-Wall", "-o", str(tmp), str(SOURCE), *flags.stdout.split(), "-lpthread"],
        capture_output=True,
        text=True,
    )
    if cc.returncode != 0:
        lines = cc.stderr.strip().splitlines()
        raise EnvironmentProblem(
            f"could not build the power-loss layer: {lines[-1] if lines else 'gcc failed'}"
        )
    os.replace(tmp, out)  # atomic: a concurrent build never runs a half-written file
    return out
