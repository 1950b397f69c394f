"""How long the compose provider's images take to build (`splitbrain images build`): cold
(no image and no base: debootstrap + import where no registry answers, then each
database's Dockerfile) and warm (every image present and current: a context hash per
database). Prints figures; asserts nothing.

    python bench/bench_images.py [--db postgres ...] [--rebuild | --cold]

By default only the warm pass is timed; --rebuild times a rebuild of each image from the
cached base first, --cold removes this project's images and base first (a few minutes).
Needs a Docker engine (python3 -m harness.quickstart install starts none; the test command
does).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import images  # noqa: E402
from harness.providers.compose_engine import connect  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", action="append", choices=[d for d in images.databases() if d != "mongodb"])
    ap.add_argument("--cold", action="store_true", help="remove the images and the base first")
    ap.add_argument("--rebuild", action="store_true", help="rebuild each image first")
    args = ap.parse_args()
    dbs = args.db or [d for d in images.databases() if d != "mongodb"]  # no MongoDB repo here
    client = connect()
    if args.cold:
        import docker

        for tag in [*(images.tag_of(d) for d in dbs), images.LOCAL_BASE]:
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(tag, force=True)
        client.images.prune()
    passes = [("cold", False)] if args.cold else [("rebuild", True)] if args.rebuild else []
    passes.append(("warm", False))
    print(f"image builds ({', then '.join(p for p, _ in passes)}), s")
    for name, rebuild in passes:
        t0 = time.monotonic()
        for db in dbs:
            t = time.monotonic()
            b = images.build(client, db, rebuild=rebuild, echo=lambda s: None)
            print(f"  {name:<8} {db:<10} {time.monotonic() - t:7.1f}  ({b.action})", flush=True)
        print(f"  {name:<8} {'all':<10} {time.monotonic() - t0:7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
