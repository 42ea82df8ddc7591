"""Tamper detection: each kind of tampering is caught and the first tampered record is named."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import msgpack
import pytest

from hive_cli.main import main
from hive_runtime.audit.records import decode_record
from hive_runtime.audit.signing import generate_key_files, load_private_key, load_public_key
from hive_runtime.audit.trail import AuditWriter
from hive_runtime.audit.verify import verify_trail
from hive_runtime.trading.machine import TradingStateMachine


def check(trail: Any, kind: str, seq: int | None) -> None:
    result = verify_trail(trail.path, load_public_key(trail.public))
    assert result.problem is not None, "tampering went undetected"
    assert (result.problem.kind, result.problem.seq) == (kind, seq), result.problem.message
    assert main(["audit", "verify", str(trail.path), "--public-key", str(trail.public)]) == 1


def test_intact_trail_verifies(trail: Any, capsys: pytest.CaptureFixture[str]) -> None:
    result = verify_trail(trail.path, load_public_key(trail.public))
    assert result.ok and result.records == 43 and result.checkpoints == 5 and result.unsigned_tail == 3
    assert main(["audit", "verify", str(trail.path), "--public-key", str(trail.public)]) == 0
    assert "intact" in capsys.readouterr().out
    record = decode_record(trail.items()[1][2])
    assert record.command_type == 10 and record.decision == "A"


def test_record_fields_are_rts24_style(trail: Any) -> None:
    orders = [decode_record(item[2]) for item in trail.items() if item[0] == "R"][3:]
    first = orders[0]
    assert (first.account, first.symbol, first.cl_ord_id, first.side, first.qty, first.price) == (
        "b",
        "X",
        "c1000-0",
        2,
        1,
        100,
    )
    assert first.ts_us == 1_000 and first.decision == "A" and first.reason == 0


def test_modified_record(trail: Any) -> None:
    def edit(items: list[Any]) -> None:
        position = trail.record_position(17)
        items[position][2] = items[position][2].replace(b"\xa1a", b"\xa1b", 1)

    trail.rewrite(edit)
    check(trail, "modified", 17)


def test_deleted_record(trail: Any) -> None:
    position = trail.record_position(20)
    trail.rewrite(lambda items: items.pop(position))
    check(trail, "deleted", 20)


def test_reordered_records(trail: Any) -> None:
    first, second = trail.record_position(9), trail.record_position(10)

    def edit(items: list[Any]) -> None:
        items[first], items[second] = items[second], items[first]

    trail.rewrite(edit)
    check(trail, "reordered", 9)


def test_inserted_record_with_a_valid_chain_link(trail: Any) -> None:
    position = trail.record_position(12)

    def edit(items: list[Any]) -> None:
        previous = items[position - 1]
        forged = items[position][2].replace(b"\xa1a", b"\xa1b", 1)
        link = hashlib.sha256(previous[3] + hashlib.sha256(b"\x00" + forged).digest()).digest()
        items.insert(position, ["R", 12, forged, link])

    trail.rewrite(edit)
    check(trail, "inserted", 12)


def test_rewritten_records_with_recomputed_links_fail_at_the_checkpoint(trail: Any) -> None:
    def edit(items: list[Any]) -> None:
        head = None
        for item in items[1:]:
            if item[0] == "R" and item[1] >= 18:
                if item[1] == 18:
                    item[2] = item[2].replace(b"\xa1a", b"\xa1b", 1)
                item[3] = hashlib.sha256(head + hashlib.sha256(b"\x00" + item[2]).digest()).digest()
            if item[0] == "R":
                head = item[3]

    trail.rewrite(edit)
    check(trail, "checkpoint", 23)  # the checkpoint after record 23 covers records 16..23


def test_forged_signature(trail: Any) -> None:
    def edit(items: list[Any]) -> None:
        checkpoint = next(item for item in items if item[0] == "C")
        checkpoint[5] = bytes([checkpoint[5][0] ^ 1]) + checkpoint[5][1:]

    trail.rewrite(edit)
    check(trail, "signature", None)


def test_wrong_public_key(trail: Any, tmp_path: Path) -> None:
    generate_key_files(tmp_path / "other.key", tmp_path / "other.pub")
    result = verify_trail(trail.path, load_public_key(tmp_path / "other.pub"))
    assert result.problem is not None and result.problem.kind == "signature"
    assert main(["audit", "verify", str(trail.path), "--public-key", str(tmp_path / "other.pub")]) == 1


def test_deleted_checkpoint(trail: Any) -> None:
    position = next(i for i, item in enumerate(trail.items()) if item[0] == "C")
    trail.rewrite(lambda items: items.pop(position))
    check(trail, "checkpoint", 7)


def test_inserted_checkpoint(trail: Any) -> None:
    def edit(items: list[Any]) -> None:
        position = next(i for i, item in enumerate(items) if item[0] == "C")
        items.insert(position + 1, list(items[position]))

    trail.rewrite(edit)
    check(trail, "inserted", None)


def test_truncated_file(trail: Any) -> None:
    data = trail.path.read_bytes()
    trail.path.write_bytes(data[:-5])
    result = verify_trail(trail.path, load_public_key(trail.public))
    assert result.problem is not None and result.problem.kind == "truncated"


def test_not_a_trail(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(msgpack.packb(["something", 1]))
    assert verify_trail(path).problem.kind == "header"  # type: ignore[union-attr]
    assert main(["audit", "verify", str(tmp_path / "missing")]) == 2


def test_without_public_key_uses_the_embedded_key(trail: Any) -> None:
    result = verify_trail(trail.path)
    assert result.ok and result.key_from_file


def test_replicas_write_identical_trails_except_signatures(tmp_path: Path, drive_machine: Any) -> None:
    files = []
    for name in ("r1", "r2"):
        generate_key_files(tmp_path / f"{name}.key", tmp_path / f"{name}.pub")
        machine = TradingStateMachine(checkpoint_every=5)
        path = tmp_path / f"{name}.audit"
        with AuditWriter(
            path, load_private_key(tmp_path / f"{name}.key"), start_state=machine.audit.state()
        ) as writer:
            drive_machine(machine, 23)
            writer.write(machine.take_audit())
        assert verify_trail(path, load_public_key(tmp_path / f"{name}.pub")).ok
        with open(path, "rb") as handle:
            files.append([list(i) for i in msgpack.Unpacker(handle, use_list=False, raw=False)])
    first, second = files
    assert len(first) == len(second)
    for a, b in zip(first[1:], second[1:], strict=True):
        if a[0] == "C":
            assert a[:5] == b[:5] and a[5] != b[5]
        else:
            assert a == b


def test_trail_started_from_a_snapshot_verifies(tmp_path: Path, drive_machine: Any) -> None:
    generate_key_files(tmp_path / "k", tmp_path / "k.pub")
    original = TradingStateMachine(checkpoint_every=6)
    drive_machine(original, 13)
    original.take_audit()
    restored = TradingStateMachine()
    restored.restore(original.snapshot())
    path = tmp_path / "t.audit"
    with AuditWriter(path, load_private_key(tmp_path / "k"), start_state=restored.audit.state()) as writer:
        drive_machine(restored, 20, start_ts=50_000)
        writer.write(restored.take_audit())
    result = verify_trail(path, load_public_key(tmp_path / "k.pub"))
    assert result.ok and result.records == 20 and result.checkpoints >= 3


def test_checkpoints_by_command_time(tmp_path: Path, drive_machine: Any) -> None:
    machine = TradingStateMachine(checkpoint_every=1_000, checkpoint_interval_ms=1)  # 1 ms of command time
    drive_machine(machine, 30)  # orders 100 us apart
    checkpoints = [e for e in machine.take_audit() if not hasattr(e, "record")]
    assert [c.ts_us for c in checkpoints] == [2_000, 3_000]


def test_keygen_cli_refuses_to_overwrite(tmp_path: Path) -> None:
    args = ["audit", "keygen", "--private", str(tmp_path / "k"), "--public", str(tmp_path / "k.pub")]
    assert main(args) == 0
    assert (tmp_path / "k").stat().st_mode & 0o777 == 0o600
    assert main(args) == 2
    assert isinstance(
        load_private_key(tmp_path / "k").public_key(), type(load_public_key(tmp_path / "k.pub"))
    )


def test_writer_reopens_after_restart_and_refuses_a_different_key(tmp_path: Path, drive_machine: Any) -> None:
    generate_key_files(tmp_path / "k", tmp_path / "k.pub")
    generate_key_files(tmp_path / "other", tmp_path / "other.pub")
    machine = TradingStateMachine(checkpoint_every=4)
    path = tmp_path / "t.audit"
    with AuditWriter(path, load_private_key(tmp_path / "k"), start_state=machine.audit.state()) as writer:
        drive_machine(machine, 10)
        writer.write(machine.take_audit())
    with AuditWriter(path, load_private_key(tmp_path / "k"), start_state=machine.audit.state()) as writer:
        drive_machine(machine, 10, start_ts=90_000)
        writer.write(machine.take_audit())
    result = verify_trail(path, load_public_key(tmp_path / "k.pub"))
    assert result.ok and result.records == 23
    with pytest.raises(ValueError, match="different schedule or key"):
        AuditWriter(path, load_private_key(tmp_path / "other"), start_state=machine.audit.state())


def _quiet_trail(tmp_path: Path, drive_machine: Any, *, checkpoint_at_us: int) -> tuple[Path, Any]:
    """5 orders 100 us apart from t=1,000 us (interval 1 ms, so no scheduled checkpoint), then a
    checkpoint at ``checkpoint_at_us`` with no record after it: what an audit tick produces."""
    generate_key_files(tmp_path / "k.key", tmp_path / "k.pub")
    machine = TradingStateMachine(checkpoint_every=1_000, checkpoint_interval_ms=1)
    path = tmp_path / "quiet.audit"
    with AuditWriter(path, load_private_key(tmp_path / "k.key"), start_state=machine.audit.state()) as writer:
        drive_machine(machine, 5)
        machine.audit.checkpoint(checkpoint_at_us)  # signed by the writer like any other checkpoint
        writer.write(machine.take_audit())
    return path, load_public_key(tmp_path / "k.pub")


def test_a_quiet_trail_checkpointed_by_an_audit_tick_verifies_with_no_unsigned_tail(
    tmp_path: Path, drive_machine: Any
) -> None:
    path, key = _quiet_trail(tmp_path, drive_machine, checkpoint_at_us=2_000)
    result = verify_trail(path, key)
    assert result.ok, result.problem
    assert (result.records, result.checkpoints, result.unsigned_tail) == (8, 1, 0)


def test_a_checkpoint_no_audit_tick_could_have_emitted_is_inserted(
    tmp_path: Path, drive_machine: Any
) -> None:
    # 1,900 us is less than one interval after the first record: neither the schedule nor a tick
    # emits a checkpoint there, so a signed one in that place was not produced by the replica.
    path, key = _quiet_trail(tmp_path, drive_machine, checkpoint_at_us=1_900)
    result = verify_trail(path, key)
    assert result.problem is not None and result.problem.kind == "inserted", result.problem
