"""Runtime configuration: files plus overrides, and errors that name the offending field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hive_runtime.config import Address, ConfigError, RuntimeConfig, load_config, parse_overrides

VALID: dict[str, Any] = {
    "node_id": 2,
    "namespace": "prod",
    "cluster": "alpha",
    "listen": {"peer": "0.0.0.0:7100", "client": "0.0.0.0:7200"},
    "membership": "bootstrap",
    "initial_members": [
        {"id": 1, "name": "alpha-0", "peer": "alpha-0.alpha:7100", "client": "alpha-0.alpha:7200"},
        {"id": 2, "name": "alpha-1", "peer": "alpha-1.alpha:7100", "client": "alpha-1.alpha:7200"},
    ],
    "data_dir": "/var/lib/hive",
    "tls": {"ca": "/tls/ca.crt", "cert": "/tls/tls.crt", "key": "/tls/tls.key"},
    "raft": {"election_ticks": 20},
}


def _write(tmp_path: Path, document: Any, suffix: str = ".yaml") -> Path:
    path = tmp_path / f"config{suffix}"
    path.write_text(json.dumps(document) if suffix == ".json" else yaml.safe_dump(document))
    return path


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_valid_file_loads_with_defaults(tmp_path: Path, suffix: str) -> None:
    config = load_config(_write(tmp_path, VALID, suffix))
    assert isinstance(config, RuntimeConfig)
    assert config.member_name == "alpha-1"
    assert config.listen.peer == Address(host="0.0.0.0", port=7100)
    assert config.listen.metrics.port == 7500
    assert config.raft.election_ticks == 20 and config.raft.heartbeat_ticks == 2
    assert config.storage.fsync == "always"
    assert config.cpu.pin == "auto"
    assert config.initial_members[0].peer == Address(host="alpha-0.alpha", port=7100)
    assert config.tls.key == Path("/tls/tls.key")


def test_overrides_from_flags_apply_and_are_validated(tmp_path: Path) -> None:
    flags = ["raft.election_ticks=30", "cpu.pin=off", "listen.admin=127.0.0.1:9300", "storage.fsync=never"]
    config = load_config(_write(tmp_path, VALID), parse_overrides(flags))
    assert config.raft.election_ticks == 30
    assert config.cpu.pin == "off"
    assert str(config.listen.admin) == "127.0.0.1:9300"
    assert config.storage.fsync == "never"
    with pytest.raises(ConfigError) as raised:
        load_config(_write(tmp_path, VALID), parse_overrides(["raft.heartbeat_ticks=25"]))
    assert raised.value.fields == ["raft"]
    assert "heartbeat_ticks must be smaller than election_ticks" in str(raised.value)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"node_id": 0}, "node_id"),
        ({"cluster": "Alpha_1"}, "cluster"),
        ({"listen": {"peer": "no-port"}}, "listen.peer"),
        ({"listen": {"client": "0.0.0.0:70000"}}, "listen.client.port"),
        ({"listen": {"peer": "0.0.0.0:7100", "client": "0.0.0.0:7100"}}, "listen"),
        ({"tls": {"ca": "/tls/ca.crt", "cert": "/tls/tls.crt"}}, "tls.key"),
        ({"storage": {"fsync": "sometimes"}}, "storage.fsync"),
        ({"transport": {"max_frame_bytes": 10}}, "transport.max_frame_bytes"),
        ({"cpu": {"pin": "yes"}}, "cpu.pin"),
        ({"surprise": 1}, "surprise"),
        ({"event_loop": "uvloop"}, "event_loop"),  # the TLS server cannot run on uvloop: no such option
        ({"initial_members": [VALID["initial_members"][0]] * 2}, "initial_members"),
        ({"initial_members": [{"id": 1, "name": "a", "peer": "a:1"}]}, "initial_members.0.client"),
    ],
)
def test_invalid_field_is_named(tmp_path: Path, change: dict[str, Any], field: str) -> None:
    document = {**VALID, **change}
    with pytest.raises(ConfigError) as raised:
        load_config(_write(tmp_path, document))
    assert field in raised.value.fields
    assert f"{field}:" in str(raised.value)


def test_missing_required_fields_are_all_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(_write(tmp_path, {"node_id": 1}))
    assert set(raised.value.fields) == {"cluster", "data_dir", "tls", "membership"}


@pytest.mark.parametrize(
    ("content", "message"),
    [("node_id: [unclosed", "not valid YAML"), ("- a list", "top level must be a mapping")],
)
def test_unparseable_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_file_and_bad_override_syntax(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_overrides(["raft.election_ticks"])
    with pytest.raises(ConfigError) as raised:
        load_config(_write(tmp_path, VALID), {"node_id.sub": 1})
    assert raised.value.fields == ["node_id"]


def test_yaml_words_are_not_booleans_in_flags_and_pin(tmp_path: Path) -> None:
    assert parse_overrides(["cpu.pin=off", "a=true", "b=12", "c=x:1"]) == {
        "cpu.pin": "off",
        "a": True,
        "b": 12,
        "c": "x:1",
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(VALID) + "cpu:\n  pin: off\n")
    assert load_config(tmp_path / "config.yaml").cpu.pin == "off"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"membership": "bootstrap", "node_id": 3}, "node 3 must be one of initial_members"),
        ({"membership": "bootstrap", "initial_members": []}, "must be one of initial_members"),
        ({"membership": "join"}, "node 2 must not be one of initial_members"),
        ({"membership": "join", "node_id": 3, "initial_members": []}, "never forms a cluster of its own"),
        ({"membership": "maybe"}, "membership"),
    ],
)
def test_bootstrap_or_join_bad_combinations_name_the_field(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    field = "membership" if change["membership"] == "maybe" else "initial_members"
    with pytest.raises(ConfigError) as raised:
        load_config(_write(tmp_path, {**VALID, **change}))
    assert field in raised.value.fields
    assert message in str(raised.value)


def test_joining_node_is_not_an_initial_voter(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, {**VALID, "membership": "join", "node_id": 3}))
    assert config.membership == "join"
    assert config.initial_voters == frozenset({1, 2})
    assert config.node_id not in config.initial_voters
