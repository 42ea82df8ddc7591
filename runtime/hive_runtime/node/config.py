"""Configuration of one runtime node: a YAML or JSON file (the operator writes it into a
ConfigMap), plus command-line overrides. A bad file exits non-zero naming the field.

Members are numbered 1..N; member ``i`` is named ``<cluster>-<i-1>`` (the StatefulSet pod) and
reached at ``peer_host_template`` / ``client_host_template`` with ``{name}``, ``{id}``,
``{ordinal}``, ``{cluster}`` and ``{namespace}`` filled in, on the same ports as this node. That
rule works for a StatefulSet behind a headless Service and for the local test bed, where each
pod has a loopback address of its own; it also lets a member added at run time be reached
without any address book in the log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ConfigError(ValueError):
    """The configuration is invalid; the message names each offending field."""


class Ports(BaseModel):
    model_config = ConfigDict(extra="forbid")

    peer: int = Field(default=7100, ge=0, le=65535)
    client: int = Field(default=7200, ge=0, le=65535)
    admin: int = Field(default=7300, ge=0, le=65535)
    probe: int = Field(default=7400, ge=0, le=65535)
    metrics: int = Field(default=7500, ge=0, le=65535)


class TlsFiles(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ca: Path
    cert: Path
    key: Path
    poll_seconds: float = Field(default=1.0, gt=0, le=300)


class RaftTiming(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tick_ms: int = Field(default=10, ge=1, le=1000)
    election_ticks: int = Field(default=15, ge=3, le=1000)
    heartbeat_ticks: int = Field(default=2, ge=1, le=100)
    snapshot_every: int = Field(default=50_000, ge=10)
    keep_entries: int = Field(default=5_000, ge=0)

    @model_validator(mode="after")
    def _heartbeat_below_election(self) -> RaftTiming:
        if self.heartbeat_ticks >= self.election_ticks:
            raise ValueError("heartbeat_ticks must be smaller than election_ticks")
        return self


class RuntimeConfig(BaseModel):
    """Everything a node needs to start."""

    model_config = ConfigDict(extra="forbid")

    node_id: int = Field(ge=1, le=1000)
    namespace: str = Field(default="default", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    cluster: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    initial_members: list[int] = Field(min_length=1, description="Voters of a brand-new cluster")
    listen_host: str = "0.0.0.0"
    peer_host_template: str = "{name}"
    client_host_template: str = "{name}"
    ports: Ports = Field(default_factory=Ports)
    data_dir: Path
    tls: TlsFiles
    secrets_dir: Path | None = None
    backup_key_file: Path | None = None
    audit_key_file: Path | None = None
    raft: RaftTiming = Field(default_factory=RaftTiming)
    max_frame_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    pin_cpu: bool = True
    gc_freeze_after_seconds: float = Field(default=10.0, ge=0, le=3600)
    event_loop: Literal["asyncio", "uvloop"] = Field(
        default="asyncio",
        description="uvloop is faster but its server-side start_tls can stall handshakes (seen here); "
        "asyncio is the default until the transport accepts TLS without start_tls",
    )
    ready_max_lag_entries: int = Field(default=1_000, ge=0)
    version: str | None = None

    @field_validator("initial_members")
    @classmethod
    def _distinct(cls, members: list[int]) -> list[int]:
        if len(set(members)) != len(members) or min(members) < 1:
            raise ValueError("members must be distinct positive ids")
        return sorted(members)

    @model_validator(mode="after")
    def _templates(self) -> RuntimeConfig:
        for field in ("peer_host_template", "client_host_template"):
            template = getattr(self, field)
            try:
                template.format(name="n", id=1, ordinal=0, cluster="c", namespace="ns")
            except (KeyError, IndexError, ValueError) as error:
                raise ValueError(f"{field}: unknown placeholder {error}") from None
        return self

    # -- naming -----------------------------------------------------------------------------------
    def member_name(self, node_id: int) -> str:
        return f"{self.cluster}-{node_id - 1}"

    def _fill(self, template: str, node_id: int) -> str:
        return template.format(
            name=self.member_name(node_id),
            id=node_id,
            ordinal=node_id - 1,
            cluster=self.cluster,
            namespace=self.namespace,
        )

    def peer_address(self, node_id: int) -> tuple[str, int]:
        return self._fill(self.peer_host_template, node_id), self.ports.peer

    def client_address(self, node_id: int) -> tuple[str, int]:
        return self._fill(self.client_host_template, node_id), self.ports.client

    @property
    def name(self) -> str:
        return self.member_name(self.node_id)


def _set_dotted(document: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    target = document
    for key in keys[:-1]:
        target = target.setdefault(key, {})
        if not isinstance(target, dict):
            raise ConfigError(f"{dotted}: cannot set below a non-mapping value")
    target[keys[-1]] = value


def parse_config(document: dict[str, Any]) -> RuntimeConfig:
    try:
        return RuntimeConfig.model_validate(document)
    except ValidationError as error:
        lines = []
        for item in error.errors():
            path = ".".join(str(part) for part in item["loc"]) or "(config)"
            lines.append(f"{path}: {item['msg']}")
        raise ConfigError("invalid runtime configuration:\n  " + "\n  ".join(lines)) from None


def load_config(path: Path, overrides: dict[str, Any] | None = None) -> RuntimeConfig:
    """Read ``path`` (YAML or JSON), apply ``overrides`` (dotted keys), validate."""
    try:
        loaded = yaml.safe_load(Path(path).read_text())
    except OSError as error:
        raise ConfigError(f"cannot read configuration {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"configuration {path} is not valid YAML: {error}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"configuration {path} must be a mapping")
    for dotted, value in (overrides or {}).items():
        _set_dotted(loaded, dotted, value)
    return parse_config(loaded)
