"""Prometheus metrics of the transport, on a registry the caller owns."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class TransportMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.frames_rejected = Counter(
            "hive_frames_rejected",
            "Frames that closed their connection, by reason",
            ["port", "reason"],
            registry=self.registry,
        )
        self.connections_refused = Counter(
            "hive_connections_refused",
            "Connections refused during TLS or identity checks, by reason",
            ["port", "reason"],
            registry=self.registry,
        )
        self.frames_received = Counter(
            "hive_frames_received", "Frames received and dispatched", ["port"], registry=self.registry
        )
        self.open_connections = Gauge(
            "hive_open_connections", "Authenticated open connections", ["port"], registry=self.registry
        )
        self.reconnects = Counter(
            "hive_peer_reconnects",
            "Outbound peer connection attempts after a failure",
            ["peer"],
            registry=self.registry,
        )
