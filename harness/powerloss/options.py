"""The layer's knob, declared by the power-loss fault and read by the provider that mounts."""

from __future__ import annotations

from harness.options import Option

WRITEBACK_S = Option(
    "power_loss_writeback_s",
    float,
    5.0,
    "power-loss: an inode dirtied this long ago is written back whole, as Linux's flusher "
    "does (its default is 30 s); 0: only fsync makes data durable",
    minimum=0,
    maximum=3600,
)
