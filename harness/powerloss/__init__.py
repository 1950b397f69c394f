"""A filesystem layer that loses what was never fsynced (the idea of LazyFS).

`lossyfs.c` is a passthrough FUSE daemon (libfuse3), built on first use (build.py); one daemon
per node is mounted over the node's directory with its backing directory beside it
(layer.py). A power loss restores every block written since its file's last fsync and
truncates every file to its size at that fsync; metadata is durable at once. leftovers.py
finds and removes mounts and daemons of runs that are gone. See docs/power-loss.md.
"""
