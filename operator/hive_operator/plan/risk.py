"""``spec.risk``: the cluster-wide default limits, sent to the runtime as a replicated command.

The runtime keeps default limits for every account without limits of its own (``PUT
/risk/defaults`` of the admin contract, operator role only) and reports the SHA-256 of what it
applied as ``riskDefaultsHash`` in ``/status``. The planner compares the leader's hash with the
hash of the spec's limits and asks for the command only when they differ, so a quiet reconcile
sends nothing and the status shows when the limits have landed on every member.

The runtime's defaults cover order quantity, order notional, gross and net position and the
credit limit; ``priceCollarBps``, ``maxMessagesPerSecond``, ``restrictedSymbols`` and the circuit
breaker are per-instrument or per-account commands in the runtime, not cluster defaults, so they
are not sent (docs/api.md says so).
"""

from __future__ import annotations

from collections.abc import Mapping

import yaml
from pydantic import ValidationError

from hive_operator.api import HiveCluster
from hive_operator.api.risk import RiskLimits
from hive_operator.plan.model import MemberReport
from hive_runtime.contract.models import RiskDefaults
from hive_runtime.trading.engine import risk_defaults_hash


def risk_defaults(limits: RiskLimits) -> RiskDefaults:
    return RiskDefaults(
        max_order_quantity=limits.max_order_quantity,
        max_order_notional=limits.max_order_notional,
        max_gross_position=limits.max_gross_position,
        max_net_position=limits.max_net_position,
        credit_limit=limits.credit_limit,
    )


def expected_hash(defaults: RiskDefaults) -> str:
    """What ``/status`` reports as ``riskDefaultsHash`` once ``defaults`` are applied."""
    return risk_defaults_hash(
        [
            defaults.max_order_quantity,
            defaults.max_order_notional,
            defaults.max_gross_position,
            defaults.max_net_position,
            defaults.credit_limit,
        ]
    )


def desired_limits(cluster: HiveCluster, config_map_text: str | None) -> tuple[RiskLimits | None, str | None]:
    """The spec's limits (inline, or the YAML under ``configMapRef``), or a problem naming the
    field. ``config_map_text`` is the referenced key's text as read (None: missing)."""
    risk = cluster.spec.risk
    if risk.limits is not None:
        return risk.limits, None
    reference = risk.config_map_ref
    if reference is None:
        return None, None
    where = f"spec.risk.configMapRef (ConfigMap {reference.name}, key {reference.key})"
    if config_map_text is None:
        return None, f"{where} does not exist"
    try:
        document = yaml.safe_load(config_map_text) or {}
        return RiskLimits.model_validate(document), None
    except (yaml.YAMLError, ValidationError, ValueError) as error:
        first = str(error).splitlines()[0:3]
        return None, f"{where} is not valid limits: {' '.join(first)}"


def landed(reports: Mapping[str, MemberReport], wanted: str) -> tuple[bool, list[str]]:
    """Whether the leader applied ``wanted``, and the pods that report another hash."""
    behind = sorted(pod for pod, report in reports.items() if report.risk_defaults_hash != wanted)
    leader = [report for report in reports.values() if report.role == "leader"]
    return bool(leader) and all(report.risk_defaults_hash == wanted for report in leader), behind
