"""The node's view of its log: stable entries in :class:`Storage` plus an unstable tail in memory.

New entries (and a received snapshot) sit in the unstable part until the driver has persisted
them and called ``advance``; ``committed``/``applied`` are tracked here too (§5.3).
"""

from __future__ import annotations

from hive_runtime.raft.errors import CompactedError, SafetyViolation, UnavailableError
from hive_runtime.raft.storage import Storage
from hive_runtime.raft.types import Entry, Snapshot


class Unstable:
    """Entries and snapshot not yet persisted; ``offset`` is the index of ``entries[0]``."""

    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.entries: list[Entry] = []
        self.snapshot: Snapshot | None = None

    def maybe_last_index(self) -> int | None:
        if self.entries:
            return self.offset + len(self.entries) - 1
        if self.snapshot is not None:
            return self.snapshot.meta.index
        return None

    def maybe_term(self, index: int) -> int | None:
        if index < self.offset:
            if self.snapshot is not None and self.snapshot.meta.index == index:
                return self.snapshot.meta.term
            return None
        position = index - self.offset
        if position < len(self.entries):
            return self.entries[position].term
        return None

    def stable_to(self, index: int, term: int) -> None:
        if index < self.offset or self.maybe_term(index) != term:
            return  # overwritten meanwhile; the next Ready persists the replacement
        del self.entries[: index + 1 - self.offset]
        self.offset = index + 1

    def stable_snapshot_to(self, index: int) -> None:
        if self.snapshot is not None and self.snapshot.meta.index == index:
            self.snapshot = None

    def restore(self, snapshot: Snapshot) -> None:
        self.offset = snapshot.meta.index + 1
        self.entries = []
        self.snapshot = snapshot

    def truncate_and_append(self, entries: list[Entry]) -> None:
        after = entries[0].index
        if after == self.offset + len(self.entries):
            self.entries.extend(entries)
        elif after <= self.offset:
            self.offset = after  # replaces stable entries from ``after`` on
            self.entries = list(entries)
        else:
            del self.entries[after - self.offset :]
            self.entries.extend(entries)


class RaftLog:
    """Stable storage view + unstable tail + commit/applied indices."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        first = storage.first_index()
        last = storage.last_index()
        self.unstable = Unstable(last + 1)
        self.committed = first - 1
        self.applied = first - 1

    # -- indices and terms ------------------------------------------------------------------
    def persisted_index(self) -> int:
        """Last index the driver has reported durable (0 while a received snapshot is pending)."""
        if self.unstable.snapshot is not None:
            return 0
        return self.unstable.offset - 1

    def first_index(self) -> int:
        if self.unstable.snapshot is not None:
            return self.unstable.snapshot.meta.index + 1
        return self.storage.first_index()

    def last_index(self) -> int:
        last = self.unstable.maybe_last_index()
        return last if last is not None else self.storage.last_index()

    def term(self, index: int) -> int | None:
        """Term at ``index``; None when compacted away or beyond the end."""
        unstable = self.unstable.maybe_term(index)
        if unstable is not None:
            return unstable
        if index < self.first_index() - 1 or index > self.last_index():
            return None
        try:
            return self.storage.term(index)
        except (CompactedError, UnavailableError):
            return None

    def last_term(self) -> int:
        term = self.term(self.last_index())
        assert term is not None
        return term

    def match_term(self, index: int, term: int) -> bool:
        return self.term(index) == term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """§5.4.1: the other log is at least as up to date as ours."""
        our_term = self.last_term()
        return last_term > our_term or (last_term == our_term and last_index >= self.last_index())

    # -- reading entries --------------------------------------------------------------------
    def slice(self, lo: int, hi: int, max_count: int | None = None) -> list[Entry]:
        """Entries ``lo <= index < hi``; raises CompactedError if ``lo`` is compacted."""
        if max_count is not None:
            hi = min(hi, lo + max_count)
        if lo >= hi:
            return []
        if lo < self.first_index():
            raise CompactedError(f"index {lo} is compacted")
        result: list[Entry] = []
        offset = self.unstable.offset
        if lo < offset:
            result.extend(self.storage.entries(lo, min(hi, offset)))
        if hi > offset:
            start = max(lo, offset) - offset
            result.extend(self.unstable.entries[start : hi - offset])
        return result

    def entries_from(self, lo: int, max_count: int) -> list[Entry]:
        return self.slice(lo, self.last_index() + 1, max_count)

    # -- appending --------------------------------------------------------------------------
    def append(self, entries: list[Entry]) -> int:
        if entries:
            if entries[0].index - 1 < self.committed:
                raise SafetyViolation(
                    f"append at {entries[0].index} would truncate committed {self.committed}"
                )
            self.unstable.truncate_and_append(entries)
        return self.last_index()

    def find_conflict(self, entries: tuple[Entry, ...]) -> int:
        """Index of the first entry whose term differs from ours, or 0 if none (§5.3)."""
        for entry in entries:
            if not self.match_term(entry.index, entry.term):
                return entry.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> int:
        """Largest index <= ``index`` whose term is <= ``term`` (fast backtracking hint)."""
        while index > 0:
            our = self.term(index)
            if our is None or our <= term:
                break
            index -= 1
        return index

    def commit_to(self, index: int) -> None:
        if index > self.committed:
            if index > self.last_index():
                raise SafetyViolation(f"commit {index} beyond last index {self.last_index()}")
            self.committed = index

    def restore(self, snapshot: Snapshot) -> None:
        self.committed = snapshot.meta.index
        self.unstable.restore(snapshot)
