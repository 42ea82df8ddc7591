"""Deterministic trading state machine: order books, pre-trade risk, positions, audit chain.

Public interface for the runtime node: :class:`TradingStateMachine` (``apply``, ``snapshot``,
``restore``, ``digest``, ``take_audit``, ``lookup_client_order``), :func:`encode_command`,
:func:`decode_command` (raises :class:`CommandDecodeError`), :func:`decode_outcome`.
"""

from hive_runtime.trading.codec import (
    CommandDecodeError,
    decode_command,
    decode_outcome,
    encode_command,
    encode_outcome,
)
from hive_runtime.trading.commands import Command, ExecutionReport, Outcome
from hive_runtime.trading.machine import TradingStateMachine

__all__ = [
    "Command",
    "CommandDecodeError",
    "ExecutionReport",
    "Outcome",
    "TradingStateMachine",
    "decode_command",
    "decode_outcome",
    "encode_command",
    "encode_outcome",
]
