"""Other builds of the runtime for mixed-version tests: ``python builds.py BUILD <hive args...>``.

The product has one build; tests need a second. Each build here is today's code patched from
outside, in this test-only launcher, before ``hive`` runs:

- ``previous``: the release before entry types newer than the base set (``INTRODUCED_IN``). It
  states version 0.0.9, and it does not know ``AUDIT_TICK`` or the risk-defaults command: an
  ``AUDIT_TICK`` entry is an unknown envelope to it (answered, state unchanged, a batch holding
  one is refused whole) and the command does not decode, which is exactly what the older code did.
- ``ungated``: today's build with a leader that ignores ``clusterVersion`` (admits everything):
  the defect the mixed-version test must catch.
- ``self-bootstrapping-joiner``: a build where a joining node counts itself a voter (the old
  implicit rule's failure: a node with no voters listed formed a cluster of its own): the defect
  the join test must catch.
"""

from __future__ import annotations

import os
import sys
from typing import Any

PREVIOUS_VERSION = "0.0.9"


def _previous() -> None:
    os.environ["HIVE_BUILD_VERSION"] = PREVIOUS_VERSION
    from hive_runtime.node import state
    from hive_runtime.trading import codec, commands

    def unknown_envelope(self: state.NodeStateMachine, payload: bytes) -> bytes:
        return state.encode_register_result(ok=False, value="invalid entry envelope")

    state.NodeStateMachine._apply_audit_tick = unknown_envelope  # type: ignore[method-assign]
    state._BATCHABLE = tuple(t for t in state._BATCHABLE if t != state._AUDIT_TICK_TAG)  # type: ignore[assignment]
    newer = getattr(commands, "SetRiskDefaults", None)
    if newer is not None:
        codec.COMMAND_TYPES.pop(codec.COMMAND_CODES[newer], None)


def _ungated() -> None:
    from hive_runtime.node import versions

    versions.ClusterVersionState.admits = lambda self, entry_type: True  # type: ignore[method-assign]


def _self_bootstrapping_joiner() -> None:
    from hive_runtime.node import app, bootstrap

    real = bootstrap.decide

    def decide(config: Any) -> bootstrap.BootstrapDecision:
        decision = real(config)
        return bootstrap.BootstrapDecision(decision.mode, frozenset({config.node_id}), False)

    setattr(app, "decide_bootstrap", decide)  # noqa: B010 - patching the product from outside


BUILDS = {"previous": _previous, "ungated": _ungated, "self-bootstrapping-joiner": _self_bootstrapping_joiner}


def main() -> int:
    build, *args = sys.argv[1:]
    BUILDS[build]()
    from hive_cli.main import main as hive_main

    sys.argv = ["hive", *args]
    return int(hive_main() or 0)


if __name__ == "__main__":
    raise SystemExit(main())
