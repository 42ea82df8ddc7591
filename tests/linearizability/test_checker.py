"""The linearizability checker accepts known-good histories and rejects known-bad ones."""

from __future__ import annotations

import random

from hive_sim.linearizability import CheckOutcome, Operation, OpKind, check_history


def put(client: int, value: int, start: int, end: int | None, key: str = "x") -> Operation:
    return Operation(client, key, OpKind.PUT, start, end, value=value)


def get(client: int, output: int | None, start: int, end: int, key: str = "x") -> Operation:
    return Operation(client, key, OpKind.GET, start, end, output=output)


def cas(
    client: int, expected: int | None, value: int, output: bool | None, span: tuple[int, int | None]
) -> Operation:
    start, end = span
    return Operation(client, "x", OpKind.CAS, start, end, value=value, expected=expected, output=output)


def outcome(*ops: Operation) -> CheckOutcome:
    return check_history(list(ops)).outcome


# ---------------------------------------------------------------- known good
def test_sequential_history_is_linearizable() -> None:
    assert (
        outcome(put(1, 1, 0, 1), get(2, 1, 2, 3), cas(1, 1, 2, True, (4, 5)), get(2, 2, 6, 7))
        is CheckOutcome.LINEARIZABLE
    )


def test_concurrent_read_may_see_old_or_new_value() -> None:
    base = put(1, 1, 0, 1)
    write = put(1, 2, 2, 10)
    assert outcome(base, write, get(2, 1, 3, 4)) is CheckOutcome.LINEARIZABLE
    assert outcome(base, write, get(2, 2, 3, 4)) is CheckOutcome.LINEARIZABLE


def test_read_of_absent_key_before_any_write() -> None:
    assert outcome(get(1, None, 0, 1), put(2, 5, 2, 3)) is CheckOutcome.LINEARIZABLE


def test_write_that_never_returned_may_take_effect_later() -> None:
    # An indeterminate write may be observed after its invocation, even much later.
    assert (
        outcome(put(1, 1, 0, 1), put(2, 2, 2, None), get(3, 1, 5, 6), get(3, 2, 7, 8))
        is CheckOutcome.LINEARIZABLE
    )


def test_write_that_never_returned_may_never_take_effect() -> None:
    assert outcome(put(1, 1, 0, 1), put(2, 2, 2, None), get(3, 1, 50, 60)) is CheckOutcome.LINEARIZABLE


def test_cas_with_unknown_outcome_is_either() -> None:
    assert (
        outcome(put(1, 1, 0, 1), cas(2, 1, 3, None, (2, None)), get(1, 3, 10, 11))
        is CheckOutcome.LINEARIZABLE
    )
    assert (
        outcome(put(1, 1, 0, 1), cas(2, 1, 3, None, (2, None)), get(1, 1, 10, 11))
        is CheckOutcome.LINEARIZABLE
    )


def test_keys_are_independent() -> None:
    ops = [
        put(1, 1, 0, 1, key="a"),
        put(1, 7, 0, 1, key="b"),
        get(2, 1, 2, 3, key="a"),
        get(2, 7, 2, 3, key="b"),
    ]
    result = check_history(ops)
    assert result.ok and result.keys_checked == 2


# ---------------------------------------------------------------- known bad
def test_stale_read_is_rejected() -> None:
    # The read starts after the write of 2 completed but returns the old value.
    result = check_history([put(1, 1, 0, 1), put(1, 2, 2, 3), get(2, 1, 4, 5)])
    assert result.outcome is CheckOutcome.VIOLATION and result.failing_key == "x"


def test_lost_write_is_rejected() -> None:
    # An acknowledged write disappears: a later read sees the absent register.
    assert outcome(put(1, 1, 0, 1), get(2, None, 2, 3)) is CheckOutcome.VIOLATION


def test_duplicated_write_is_rejected() -> None:
    # The write of 1 takes effect twice: after 2 overwrote it, 1 reappears.
    history = [put(1, 1, 0, 1), put(2, 2, 2, 3), get(3, 2, 4, 5), get(3, 1, 6, 7)]
    assert outcome(*history) is CheckOutcome.VIOLATION


def test_out_of_order_cas_is_rejected() -> None:
    # cas(1->2) then cas(2->3) both succeed sequentially, yet a later read sees 2.
    history = [put(1, 1, 0, 1), cas(1, 1, 2, True, (2, 3)), cas(2, 2, 3, True, (4, 5)), get(3, 2, 6, 7)]
    assert outcome(*history) is CheckOutcome.VIOLATION
    # Two CAS from the same expected value cannot both succeed.
    both = [put(1, 1, 0, 1), cas(1, 1, 2, True, (2, 5)), cas(2, 1, 3, True, (2, 5))]
    assert outcome(*both) is CheckOutcome.VIOLATION


def test_failed_cas_that_should_have_succeeded_is_rejected() -> None:
    assert outcome(put(1, 1, 0, 1), cas(2, 1, 5, False, (2, 3))) is CheckOutcome.VIOLATION


def test_time_limit_gives_unknown() -> None:
    # Many concurrent writes with no reads to prune the search explode the state space;
    # a deadline already passed must yield UNKNOWN rather than a verdict.
    ops = [put(c, c, 0, 100) for c in range(1, 40)] + [get(99, 5, 200, 201)]
    ticks = iter(range(10**9))
    result = check_history(ops, time_limit_s=0.0, clock=lambda: float(next(ticks)))
    assert result.outcome is CheckOutcome.UNKNOWN


def test_random_linearizable_histories_are_accepted() -> None:
    # Property: histories generated from a real sequential register with random overlapping
    # intervals around each linearization point are always linearizable.
    rng = random.Random(5)
    for _ in range(30):
        state: int | None = None
        ops: list[Operation] = []
        for step in range(60):
            point = step * 10
            start, end = point - rng.randint(0, 25), point + rng.randint(0, 25)
            client = step
            roll = rng.random()
            if roll < 0.4:
                ops.append(put(client, step, start, end))
                state = step
            elif roll < 0.8:
                ops.append(get(client, state, start, end))
            else:
                expected = rng.choice([state, step - 1])
                success = expected == state
                ops.append(cas(client, expected, step, success, (start, end)))
                if success:
                    state = step
        assert check_history(ops).ok
