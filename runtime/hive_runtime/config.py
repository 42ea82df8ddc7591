"""Configuration of one runtime node: a YAML/JSON file validated by pydantic, plus flag overrides.

The operator renders this file into a ConfigMap; ``hive runtime serve --config FILE --set
raft.election_ticks=20`` overrides single fields. Secrets never appear here: only the paths of
mounted files (TLS material, the secrets directory). Every validation error names the field by
its dotted path, e.g. ``listen.peer: port must be 0..65535``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class ConfigError(ValueError):
    """The configuration is invalid; ``fields`` lists the dotted path of every offending field."""

    def __init__(self, message: str, fields: list[str]) -> None:
        super().__init__(message)
        self.fields = fields


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Address(_Strict):
    """``host:port``; port 0 asks the OS for a free port (tests, local clusters)."""

    host: str = Field(min_length=1)
    port: int = Field(ge=0, le=65535)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            host, separator, port = value.rpartition(":")
            if not separator or not port.isdigit():
                raise ValueError(f"expected host:port, got {value!r}")
            return {"host": host.strip("[]"), "port": int(port)}
        return value

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class ListenAddresses(_Strict):
    peer: Address = Address(host="0.0.0.0", port=7100)
    client: Address = Address(host="0.0.0.0", port=7200)
    admin: Address = Address(host="0.0.0.0", port=7300)
    probe: Address = Address(host="0.0.0.0", port=7400)
    metrics: Address = Address(host="0.0.0.0", port=7500)

    @model_validator(mode="after")
    def _distinct_ports(self) -> ListenAddresses:
        seen: dict[tuple[str, int], str] = {}
        for name in ("peer", "client", "admin", "probe", "metrics"):
            address: Address = getattr(self, name)
            key = (address.host, address.port)
            if address.port and key in seen:
                raise ValueError(f"{name} and {seen[key]} both listen on {address}")
            seen[key] = name
        return self


class Member(_Strict):
    """An initial voter: a member of the membership at log index 0, with its addresses."""

    id: int = Field(ge=1)
    name: str = Field(pattern=_NAME_PATTERN)
    peer: Address
    client: Address


class MemberTemplate(_Strict):
    """How to reach a member that joined after bootstrap (it is not in ``initial_members``).

    ``{name}``, ``{id}``, ``{ordinal}``, ``{cluster}`` and ``{namespace}`` are filled in; a
    StatefulSet behind a headless Service uses ``{name}.<service>.{namespace}.svc:7100``.
    """

    peer: str = "{name}:7100"
    client: str = "{name}:7200"

    @model_validator(mode="after")
    def _placeholders(self) -> MemberTemplate:
        for field in ("peer", "client"):
            try:
                text = getattr(self, field).format(name="n", id=1, ordinal=0, cluster="c", namespace="ns")
            except (KeyError, IndexError, ValueError) as error:
                raise ValueError(f"{field}: unknown placeholder {error}") from None
            Address.model_validate(text)
        return self


class TlsFiles(_Strict):
    ca: Path
    cert: Path
    key: Path
    reload_poll_seconds: float = Field(default=1.0, gt=0, le=300)


class RaftTiming(_Strict):
    tick_ms: int = Field(default=10, ge=1, le=1000)
    election_ticks: int = Field(default=15, ge=3, le=10_000)
    heartbeat_ticks: int = Field(default=2, ge=1, le=1000)
    snapshot_every: int = Field(default=50_000, ge=10)
    keep_entries: int = Field(default=5_000, ge=0)

    @model_validator(mode="after")
    def _heartbeat_below_election(self) -> RaftTiming:
        if self.heartbeat_ticks >= self.election_ticks:
            raise ValueError("heartbeat_ticks must be smaller than election_ticks")
        return self


class StorageSettings(_Strict):
    fsync: Literal["always", "never"] = "always"  # "never" loses acknowledged writes: benchmarks only
    segment_bytes: int = Field(default=64 * 1024 * 1024, ge=64 * 1024, le=4 * 1024**3)
    snapshots_kept: int = Field(default=2, ge=1, le=100)


class TransportSettings(_Strict):
    max_frame_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    handshake_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    reconnect_initial_seconds: float = Field(default=0.05, gt=0, le=60)
    reconnect_max_seconds: float = Field(default=2.0, gt=0, le=600)

    @model_validator(mode="after")
    def _backoff_order(self) -> TransportSettings:
        if self.reconnect_initial_seconds > self.reconnect_max_seconds:
            raise ValueError("reconnect_initial_seconds must not exceed reconnect_max_seconds")
        return self


class DigestSettings(_Strict):
    """State digests recorded at every multiple of ``interval`` (each costs one full serialisation
    of the state in a forked child: about 0.7 s of CPU at 100k resting orders), newest ``window``
    kept for ``GET /digest``. At most ``max_captures`` forked children (digests, snapshots,
    backups) run at once; each may come to hold a copy of the heap, so this bounds memory."""

    interval: int = Field(default=100_000, ge=1, le=1_000_000_000)
    window: int = Field(default=256, ge=1, le=100_000)
    max_captures: int = Field(default=3, ge=1, le=16)


class SurveillanceSettings(_Strict):
    """The leader's market surveillance (:mod:`hive_runtime.node.surveillance`): every
    ``evaluate_every_ms`` the leader runs the detectors over the last ``window_seconds`` of
    order flow and proposes their alerts and halts as commands."""

    enabled: bool = True
    evaluate_every_ms: int = Field(default=1_000, ge=10, le=3_600_000)
    window_seconds: float = Field(default=10.0, gt=0, le=86_400)
    min_messages: int = Field(default=50, ge=1)
    order_to_trade_max: float = Field(default=20.0, gt=0)
    layering_levels: int = Field(default=3, ge=2)
    min_returns: int = Field(default=20, ge=2)
    zscore_alert: float = Field(default=4.0, gt=0)
    zscore_halt: float = Field(default=6.0, gt=0)
    cooldown_seconds: float = Field(default=60.0, ge=0, le=86_400)


class CpuSettings(_Strict):
    pin: Literal["auto", "force", "off"] = "auto"
    gc_freeze_after_warmup: bool = True
    warmup_seconds: float = Field(default=10.0, ge=0, le=3600)

    @field_validator("pin", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare ``off``/``no`` as false and ``on``/``yes`` as true.
        if isinstance(value, bool):
            return "auto" if value else "off"
        return value


class ShutdownSettings(_Strict):
    """SIGTERM on a leader hands leadership to the most caught-up voter and waits at most
    ``transfer_timeout_seconds`` for a new leader before exiting (followers and learners exit at
    once). The pod's grace period must exceed it (the operator adds 15 s)."""

    transfer_timeout_seconds: float = Field(default=10.0, ge=0, le=3600)


class RuntimeConfig(_Strict):
    """Everything one runtime node needs to start."""

    node_id: int = Field(ge=1, le=100_000)
    namespace: str = Field(default="default", pattern=_NAME_PATTERN)
    cluster: str = Field(pattern=_NAME_PATTERN)
    name: str | None = Field(default=None, pattern=_NAME_PATTERN)  # default: "<cluster>-<node_id - 1>"
    listen: ListenAddresses = ListenAddresses()
    # "bootstrap": this node is one of initial_members, which form a brand-new cluster.
    # "join": this node joins an existing cluster as a learner added through the admin API;
    # initial_members are the voters that cluster was bootstrapped with, and this node is not one.
    # Both are read on the first start only: then they are recorded in the data directory
    # (node.bootstrap) and later membership lives in the log.
    membership: Literal["bootstrap", "join"]
    initial_members: tuple[Member, ...] = Field(default=(), validate_default=True)
    data_dir: Path
    tls: TlsFiles
    secrets_dir: Path | None = None
    raft: RaftTiming = RaftTiming()
    storage: StorageSettings = StorageSettings()
    transport: TransportSettings = TransportSettings()
    cpu: CpuSettings = CpuSettings()
    digests: DigestSettings = DigestSettings()
    surveillance: SurveillanceSettings = SurveillanceSettings()
    shutdown: ShutdownSettings = ShutdownSettings()
    member_template: MemberTemplate = MemberTemplate()
    backup_key_file: Path | None = None
    audit_key_file: Path | None = None
    ready_max_lag_entries: int = Field(default=1_000, ge=0)
    # Audit checkpoint schedule: part of the replicated state, so equal on every replica.
    audit_checkpoint_every: int = Field(default=1_000, ge=1, le=1_000_000)
    audit_checkpoint_interval_ms: int = Field(default=1_000, ge=1, le=3_600_000)
    version: str | None = None
    # Test and benchmark aid, never rendered by the operator: the register space
    # (hive_runtime.node.registers). Off, register requests are refused and the state machine
    # holds trading state only. ``hive local up``, tests and benchmarks turn it on.
    register_space: bool = False

    @field_validator("initial_members")
    @classmethod
    def _distinct_members(cls, members: tuple[Member, ...], info: ValidationInfo) -> tuple[Member, ...]:
        for attribute in ("id", "name"):
            values = [getattr(member, attribute) for member in members]
            duplicates = sorted({value for value in values if values.count(value) > 1})
            if duplicates:
                raise ValueError(f"duplicate member {attribute}s: {duplicates}")
        mode, node_id = info.data.get("membership"), info.data.get("node_id")
        listed = node_id in {member.id for member in members}
        if mode == "bootstrap" and not listed:
            raise ValueError(
                f"membership is bootstrap: node {node_id} must be one of initial_members (the new voters)"
            )
        if mode == "join" and not members:
            raise ValueError(
                "membership is join: list the voters the cluster was bootstrapped with (a joining node "
                "never forms a cluster of its own)"
            )
        if mode == "join" and listed:
            raise ValueError(
                f"membership is join: node {node_id} must not be one of initial_members (a joining node "
                "is added as a learner and never elects itself)"
            )
        return members

    @property
    def member_name(self) -> str:
        return self.name if self.name is not None else f"{self.cluster}-{self.node_id - 1}"

    # -- members by id -------------------------------------------------------------------------
    @property
    def initial_voters(self) -> frozenset[int]:
        """The membership at log index 0: ``initial_members`` (never empty, see the validator)."""
        return frozenset(member.id for member in self.initial_members)

    def _initial(self, node_id: int) -> Member | None:
        return next((member for member in self.initial_members if member.id == node_id), None)

    def name_of(self, node_id: int) -> str:
        if node_id == self.node_id:
            return self.member_name
        member = self._initial(node_id)
        return member.name if member is not None else f"{self.cluster}-{node_id - 1}"

    def _templated(self, template: str, node_id: int) -> Address:
        text = template.format(
            name=self.name_of(node_id), id=node_id, ordinal=node_id - 1, cluster=self.cluster,
            namespace=self.namespace,
        )  # fmt: skip
        return Address.model_validate(text)

    def peer_address(self, node_id: int) -> tuple[str, int]:
        member = self._initial(node_id)
        address = member.peer if member is not None else self._templated(self.member_template.peer, node_id)
        return address.host, address.port

    def client_address(self, node_id: int) -> tuple[str, int]:
        member = self._initial(node_id)
        address = (
            member.client if member is not None else self._templated(self.member_template.client, node_id)
        )
        return address.host, address.port


def _set_dotted(document: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    if not all(keys):
        raise ConfigError(f"{dotted}: empty key in override", [dotted])
    target = document
    for depth, key in enumerate(keys[:-1]):
        child = target.setdefault(key, {})
        if not isinstance(child, dict):
            path = ".".join(keys[: depth + 1])
            raise ConfigError(f"{path}: cannot override below a value that is not a mapping", [path])
        target = child
    target[keys[-1]] = value


_YAML11_WORDS = {"yes", "no", "on", "off", "y", "n"}


def _parse_value(text: str) -> Any:
    """A flag value as YAML, except that only ``true``/``false`` are booleans (YAML 1.2 rule)."""
    stripped = text.strip()
    if not stripped or stripped.lower() in _YAML11_WORDS:
        return stripped
    return yaml.safe_load(stripped)


def parse_overrides(flags: Iterable[str]) -> dict[str, Any]:
    """``["raft.election_ticks=20", "cpu.pin=off"]`` -> dotted mapping; values parsed as YAML scalars."""
    overrides: dict[str, Any] = {}
    for flag in flags:
        key, separator, text = flag.partition("=")
        if not separator or not key:
            raise ConfigError(f"override {flag!r} is not KEY=VALUE", [key or flag])
        overrides[key.strip()] = _parse_value(text)
    return overrides


def validate_config(document: Mapping[str, Any]) -> RuntimeConfig:
    """Validate a parsed document; :class:`ConfigError` names each bad field."""
    try:
        return RuntimeConfig.model_validate(dict(document))
    except ValidationError as error:
        fields: list[str] = []
        lines: list[str] = []
        for item in error.errors():
            path = ".".join(str(part) for part in item["loc"]) or "(document)"
            fields.append(path)
            lines.append(f"{path}: {item['msg']}")
        raise ConfigError("invalid runtime configuration:\n  " + "\n  ".join(lines), fields) from None


def load_config(path: Path, overrides: Mapping[str, Any] | None = None) -> RuntimeConfig:
    """Read ``path`` (YAML, or JSON which is YAML), apply dotted ``overrides``, validate.

    Relative paths inside the file (data_dir, TLS files, secrets_dir) stay relative to the
    working directory, as the pod's entrypoint runs from a fixed directory.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read configuration: {error.strerror}", ["(file)"]) from None
    try:
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path}: not valid YAML/JSON: {error}", ["(file)"]) from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: top level must be a mapping", ["(document)"])
    for dotted, value in (overrides or {}).items():
        _set_dotted(document, dotted, value)
    return validate_config(document)
