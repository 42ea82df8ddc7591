"""Cluster-wide default pre-trade risk limits (``spec.risk``).

The runtime changes limits only through replicated commands; the operator turns these into the
runtime's risk-defaults command (``hive_operator.plan.risk``) whenever the leader reports other
defaults, so editing them takes effect at run time.
"""

from __future__ import annotations

from pydantic import Field

from hive_operator.api.base import CelRule, HiveModel
from hive_operator.api.types import Duration, ResourceName, SecretKey


class CircuitBreaker(HiveModel):
    """Halt a symbol when its price moves more than bandBps within window."""

    band_bps: int = Field(default=500, ge=1, le=10_000, description="Allowed move in basis points.")
    window: Duration = Field(default="60s", description="Window over which the move is measured.")


class RiskLimits(HiveModel):
    """Per-order and per-account limits (SEC 15c3-5 / MiFID II RTS 6 pre-trade controls)."""

    max_order_quantity: int = Field(
        default=10_000, ge=1, description="Largest quantity of one order, in lots."
    )
    max_order_notional: int = Field(
        default=10_000_000, ge=1, description="Largest notional of one order, in price ticks times lots."
    )
    price_collar_bps: int = Field(
        default=1_000,
        ge=1,
        le=10_000,
        description="Orders priced further than this from the reference price are rejected (basis points).",
    )
    max_gross_position: int = Field(
        default=100_000, ge=1, description="Largest gross position per account and symbol, in lots."
    )
    max_net_position: int = Field(
        default=50_000, ge=1, description="Largest net position per account and symbol."
    )
    credit_limit: int = Field(default=100_000_000, ge=1, description="Largest open notional per account.")
    max_messages_per_second: int = Field(
        default=1_000, ge=1, description="Message-rate throttle per account (orders, cancels, replaces)."
    )
    restricted_symbols: list[str] = Field(
        default_factory=list, max_length=10_000, description="Symbols no order may be entered for."
    )
    circuit_breaker: CircuitBreaker = Field(
        default_factory=CircuitBreaker, description="Symbol halt on large price moves."
    )

    cel_rules = (
        CelRule(
            rule="self.maxNetPosition <= self.maxGrossPosition",
            message="maxNetPosition must not exceed maxGrossPosition",
            field_path=".maxNetPosition",
        ),
    )


class ConfigMapKeyRef(HiveModel):
    """A key of a ConfigMap in the cluster's namespace."""

    name: ResourceName = Field(description="Name of the ConfigMap.")
    key: SecretKey = Field(default="risk.yaml", description="Key holding the limits as YAML.")


class Risk(HiveModel):
    """Cluster-wide default risk limits, inline or from a ConfigMap key (not both). The operator
    sends maxOrderQuantity, maxOrderNotional, maxGrossPosition, maxNetPosition and creditLimit to the
    runtime, which applies them to every account without limits of its own
    (status.members[].riskDefaultsHash shows when they have landed); priceCollarBps,
    maxMessagesPerSecond, restrictedSymbols and circuitBreaker are per-instrument or per-account
    settings in the runtime and are not sent yet."""

    limits: RiskLimits | None = Field(default=None, description="Inline default limits.")
    config_map_ref: ConfigMapKeyRef | None = Field(
        default=None, description="A ConfigMap key holding the limits as YAML, same fields as limits."
    )

    cel_rules = (
        CelRule(
            rule="!(has(self.limits) && has(self.configMapRef))",
            message="set either limits or configMapRef, not both",
            field_path=".configMapRef",
        ),
    )
