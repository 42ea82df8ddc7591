"""Fixtures for audit tests: a signed trail written from real engine traffic, and file surgery."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest

from hive_runtime.audit.signing import generate_key_files, load_private_key
from hive_runtime.audit.trail import AuditWriter
from hive_runtime.trading.commands import AddAccount, AddInstrument, NewOrderSingle
from hive_runtime.trading.machine import TradingStateMachine


def drive(machine: TradingStateMachine, count: int, start_ts: int = 1_000) -> None:
    """Add a symbol and accounts (first time), then ``count`` alternating crossing orders."""
    if "X" not in machine.engine.instruments:
        machine.execute(AddInstrument(start_ts, "X", 1, 1, 100))
        machine.execute(AddAccount(start_ts, "a"))
        machine.execute(AddAccount(start_ts, "b"))
    for i in range(count):
        ts = start_ts + 100 * i
        account, side = ("a", 1) if i % 2 else ("b", 2)
        machine.execute(NewOrderSingle(ts, account, f"c{start_ts}-{i}", "X", side, 2, 1 + i % 3, 100))


class Trail:
    """A trail file of a machine that applied 3 setup commands and 40 orders (checkpoint every 8)."""

    def __init__(self, directory: Path) -> None:
        self.private = directory / "audit.key"
        self.public = directory / "audit.pub"
        generate_key_files(self.private, self.public)
        self.path = directory / "trail.audit"
        machine = TradingStateMachine(checkpoint_every=8, checkpoint_interval_ms=1_000_000)
        with AuditWriter(
            self.path, load_private_key(self.private), start_state=machine.audit.state()
        ) as writer:
            drive(machine, 40)
            writer.write(machine.take_audit())
        self.machine = machine

    def items(self) -> list[Any]:
        unpacker = msgpack.Unpacker(use_list=False, raw=False)
        unpacker.feed(self.path.read_bytes())
        return [list(item) for item in unpacker]

    def rewrite(self, edit: Callable[[list[Any]], None]) -> None:
        items = self.items()
        edit(items)
        self.path.write_bytes(b"".join(msgpack.packb(item) for item in items))

    def record_position(self, seq: int) -> int:
        return next(i for i, item in enumerate(self.items()) if item[0] == "R" and item[1] == seq)


@pytest.fixture
def trail(tmp_path: Path) -> Trail:
    return Trail(tmp_path)


@pytest.fixture
def drive_machine() -> Callable[..., None]:
    return drive
