"""Bootstrap or join, decided once: the first start records it, later starts read the record.

The Raft log is interpreted from the membership at index 0 (the initial voters), so that
membership must never change under a node's data. The configuration says it (``membership``:
``bootstrap`` or ``join``, and ``initial_members``), but a configuration can be re-rendered. So on
the first start, before any Raft state exists, the decision is written durably to
``<data_dir>/membership.json``; every later start uses the record and ignores the configuration's
fields (logging when they differ). Membership changes after that live in the log.

A joining node is never among the initial voters, so the Raft core never lets it campaign
(``promotable``) until a committed ``ADD_VOTER`` makes it a voter: it cannot elect itself or form
a cluster of its own.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from hive_runtime import raft
from hive_runtime.config import RuntimeConfig

log = logging.getLogger(__name__)

RECORD_NAME = "membership.json"


@dataclass(frozen=True)
class BootstrapDecision:
    mode: str  # "bootstrap" or "join"
    voters: frozenset[int]  # the membership at log index 0
    recorded: bool  # read from an earlier start (True) or taken from the configuration now

    @property
    def conf_state(self) -> raft.ConfState:
        return raft.ConfState(self.voters)


def _has_raft_data(raft_dir: Path) -> bool:
    return raft_dir.exists() and any(path.is_file() for path in raft_dir.rglob("*"))


def _write_durably(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def decide(config: RuntimeConfig) -> BootstrapDecision:
    """The membership at index 0 for this node's data directory (recording it on a first start)."""
    record = config.data_dir / RECORD_NAME
    configured = BootstrapDecision(config.membership, config.initial_voters, recorded=False)
    if record.exists():
        try:
            document = json.loads(record.read_text())
            decision = BootstrapDecision(
                str(document["mode"]), frozenset(int(v) for v in document["voters"]), recorded=True
            )
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise RuntimeError(f"{record}: unreadable membership record: {error}") from None
        if (decision.mode, decision.voters) != (configured.mode, configured.voters):
            log.info(
                "node has data: membership %s with voters %s from %s, configuration (%s, %s) ignored",
                decision.mode, sorted(decision.voters), record, configured.mode, sorted(configured.voters),
            )  # fmt: skip
        return decision
    if _has_raft_data(config.data_dir / "raft"):
        # Data from before the record existed: its index-0 membership was the configuration's.
        return configured
    _write_durably(record, json.dumps({"mode": configured.mode, "voters": sorted(configured.voters)}))
    return configured
