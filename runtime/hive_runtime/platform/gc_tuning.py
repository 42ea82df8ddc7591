"""Garbage-collector settings for a latency-critical event loop.

After start-up (config, certificates, recovered state machine) most objects live for the whole
run; :func:`freeze_after_warmup` moves them to the permanent generation so later collections do
not rescan them, and raises the generation-0 threshold so collections run less often on the hot
path.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass


@dataclass(frozen=True)
class GcReport:
    frozen_objects: int
    thresholds: tuple[int, int, int]


def freeze_after_warmup(*, gen0_threshold: int = 50_000) -> GcReport:
    """Collect, freeze every surviving object, and raise the gen-0 threshold."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)
    threshold = gc.get_threshold()
    return GcReport(
        frozen_objects=gc.get_freeze_count(), thresholds=(threshold[0], threshold[1], threshold[2])
    )
