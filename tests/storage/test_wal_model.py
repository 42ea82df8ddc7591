"""Model-based test: random appends, syncs, truncations, compactions, restarts and crashes.

A crash keeps every synced byte and an arbitrary prefix of what was written after the last sync,
possibly followed by zero bytes (blocks the filesystem allocated but never wrote); recovery must
return exactly a prefix of the model's log that includes everything synced. A clean restart must
return the model's log exactly.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hive_runtime.storage import LogEntry, WriteAheadLog

SEGMENT_BYTES = 400


class WalMachine(RuleBasedStateMachine):
    preallocate_bytes = 256  # one chunk, then the rest up to SEGMENT_BYTES

    def _open(self) -> WriteAheadLog:
        return WriteAheadLog(
            self.directory, segment_bytes=SEGMENT_BYTES, preallocate_bytes=self.preallocate_bytes
        )

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="walmodel"))
        self.wal = self._open()
        self.model: list[LogEntry] = []  # entries from index 1 (compacted ones included)
        self.first_index = 1
        self.synced = 0
        self.term = 1

    def teardown(self) -> None:
        self.wal.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    @rule(count=st.integers(1, 6), size=st.integers(0, 60))
    def append(self, count: int, size: int) -> None:
        start = len(self.model) + 1
        entries = [
            LogEntry(index=i, term=self.term, data=bytes([i % 251]) * size)
            for i in range(start, start + count)
        ]
        self.wal.append(entries)
        self.model.extend(entries)

    @rule()
    def sync(self) -> None:
        assert self.wal.sync() == len(self.model)
        self.synced = len(self.model)

    @precondition(lambda self: len(self.model) >= self.first_index)
    @rule(data=st.data())
    def truncate(self, data: st.DataObject) -> None:
        keep = data.draw(st.integers(self.first_index - 1, len(self.model)))
        self.term += 1
        self.wal.truncate_after(keep)
        del self.model[keep:]
        self.synced = min(self.synced, keep)

    @precondition(lambda self: len(self.model) > 0)
    @rule(data=st.data())
    def compact(self, data: st.DataObject) -> None:
        through = data.draw(st.integers(0, len(self.model)))
        self.wal.compact_through(through)
        assert self.wal.first_index() <= through + 1 or self.wal.first_index() <= len(self.model) + 1
        self.first_index = self.wal.first_index()

    @rule()
    def restart(self) -> None:
        self.wal.sync()
        self.synced = len(self.model)
        self.wal.close()
        self.wal = self._open()
        assert self.wal.recovery.torn_bytes_truncated == 0

    @rule(data=st.data())
    def crash(self, data: st.DataObject) -> None:
        """Lose an arbitrary part of what was written after the last sync, maybe leave zero blocks."""
        segments = sorted(self.directory.glob("*.wal"))
        self.wal.close()
        last = segments[-1]
        raw = last.read_bytes()
        durable_size = self._durable_size_of(last)
        cut = data.draw(st.integers(durable_size, len(raw)))
        garbage = data.draw(st.sampled_from([b"", b"\0" * 7, b"\0" * 40]))  # unwritten blocks read as zeros
        last.write_bytes(raw[:cut] + (garbage if cut < len(raw) else b""))
        self.wal = self._open()
        recovered = self.wal.last_index()
        assert self.synced <= recovered <= len(self.model)
        del self.model[recovered:]
        self.synced = recovered

    def _durable_size_of(self, segment: Path) -> int:
        """Bytes of ``segment`` holding entries up to the synced index (computed from the model)."""
        from hive_runtime.storage.record import SEGMENT_HEADER, encode_record

        first = int(segment.name.removesuffix(".wal"))
        size = SEGMENT_HEADER.size
        for entry in self.model[first - 1 : self.synced]:
            size += len(encode_record(entry))
        return size

    @invariant()
    def matches_model(self) -> None:
        assert self.wal.last_index() == len(self.model)
        assert self.wal.first_index() == self.first_index or self.wal.first_index() >= self.first_index
        self.first_index = self.wal.first_index()
        assert self.wal.entries(self.first_index, len(self.model) + 1) == self.model[self.first_index - 1 :]


class GrowingWalMachine(WalMachine):
    preallocate_bytes = 0


WalMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=30, deadline=None)
GrowingWalMachine.TestCase.settings = WalMachine.TestCase.settings
test_wal_model = WalMachine.TestCase
test_wal_model_without_preallocation = GrowingWalMachine.TestCase
