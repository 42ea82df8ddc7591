"""Any well-formed command, however nonsensical its values, is answered and never crashes a replica."""

from __future__ import annotations

from dataclasses import fields

from hypothesis import given, settings
from hypothesis import strategies as st

from hive_runtime.trading.codec import COMMAND_CODES, decode_outcome, encode_command
from hive_runtime.trading.machine import TradingStateMachine

small_ints = st.integers(0, 12) | st.sampled_from([100, 995, 1000, 1005, 10_000, 2**40])
names = st.sampled_from(["a", "b", "X", "Y", "*"])
FLAGS = {"post_only", "engaged", "halted", "restricted"}
TEXT = {"account", "cl_ord_id", "orig_cl_ord_id", "symbol", "kind", "detail"}


def command_strategy(cls: type) -> st.SearchStrategy[object]:
    arguments = {}
    for f in fields(cls):
        if f.name in FLAGS:
            arguments[f.name] = st.booleans()
        elif f.name in TEXT:
            arguments[f.name] = names
        else:
            arguments[f.name] = small_ints
    return st.builds(cls, **arguments)


commands = st.one_of(*(command_strategy(cls) for cls in COMMAND_CODES))


@settings(max_examples=150, deadline=None)
@given(st.lists(commands, min_size=1, max_size=60))
def test_random_commands_never_raise_and_snapshots_round_trip(stream: list[object]) -> None:
    machine = TradingStateMachine(checkpoint_every=7)
    for index, command in enumerate(stream, start=1):
        outcome = decode_outcome(machine.apply(index, encode_command(command)))  # type: ignore[arg-type]
        assert outcome.reject_reason >= 0
    copy = TradingStateMachine()
    copy.restore(machine.snapshot())
    assert copy.digest() == machine.digest()
    assert machine.audit.size == len(stream)
