"""Cluster version: the lowest build version every member runs, replicated, gating new entry types.

During a rolling upgrade or with a canary, replicas of two builds apply the same log. An entry
type the older build does not know would be applied by one and not the other, and the replicas
would drift apart silently. So every member advertises its build version (a ``hello`` frame on
each peer connection it opens), the leader proposes a ``VERSIONS`` entry carrying every current
member's version whenever membership or a member's version changes, and every replica applies it
into :class:`ClusterVersionState`. ``clusterVersion`` is the lowest of those versions and never
goes down (as etcd's cluster version): once every member ran a release, the log may hold entries
of that release, so a node of an older build that meets a higher ``clusterVersion`` stops instead
of applying what it cannot (:func:`older_than_cluster`).

Entry types newer than the base set are proposed only when ``clusterVersion`` admits them
(:meth:`ClusterVersionState.admits`, table :data:`INTRODUCED_IN`); until the first ``VERSIONS``
entry is applied nothing new is admitted. Everything here is deterministic: the same entries give
the same state and the same snapshot value on every replica of every build that has this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgpack

VERSIONS_TAG = 5
"""Envelope tag of a ``VERSIONS`` entry (see :mod:`hive_runtime.node.state`)."""

AUDIT_TICK = "auditTick"
RISK_DEFAULTS = "riskDefaults"
INTRODUCED_IN: dict[str, str] = {
    AUDIT_TICK: "0.1.0",
    RISK_DEFAULTS: "0.1.0",
}
"""Entry types (and trading commands) newer than the base set, with the release that introduced
them: the leader proposes one only when ``clusterVersion`` is at least that release."""

_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)

VersionKey = tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]


def version_key(text: str) -> VersionKey | None:
    """A sort key for a semantic version (``1.4.2``, ``1.5.0-rc.1``); None if ``text`` is not one.

    A pre-release sorts below its release (semver 2.0 rules for the pre-release identifiers)."""
    match = _SEMVER.match(text)
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    identifiers: tuple[tuple[int, int | str], ...] = ()
    if pre:
        identifiers = tuple((0, int(part)) if part.isdigit() else (1, part) for part in pre.split("."))
    return int(major), int(minor), int(patch), 0 if pre else 1, identifiers


def lowest(versions: list[str]) -> str | None:
    """The lowest version; None if the list is empty or any version is not a semantic version
    (a member whose version cannot be compared admits nothing new)."""
    keyed = [(version_key(version), version) for version in versions]
    if not keyed or any(key is None for key, _ in keyed):
        return None
    return min(keyed, key=lambda pair: pair[0] or ())[1]


def at_least(version: str | None, required: str) -> bool:
    have, need = (version_key(version) if version else None), version_key(required)
    return have is not None and need is not None and have >= need


def older_than_cluster(build: str, cluster_version: str | None) -> bool:
    """True when this build must not go on applying a log whose ``clusterVersion`` is given."""
    if cluster_version is None:
        return False
    mine, theirs = version_key(build), version_key(cluster_version)
    if mine is None or theirs is None:
        return mine is None and theirs is not None  # an unparseable build cannot prove it is new enough
    return mine < theirs


def versions_entry(members: Mapping[int, str], cluster_version: str | None) -> bytes:
    """A ``VERSIONS`` entry: every current member's build version and the resulting cluster version."""
    payload = [sorted(members.items()), cluster_version]
    packed: bytes = msgpack.packb(payload)
    return bytes([VERSIONS_TAG]) + packed


class ClusterVersionState:
    """The replicated part: member versions and ``clusterVersion`` as of the last ``VERSIONS`` entry."""

    def __init__(self) -> None:
        self.members: dict[int, str] = {}
        self.cluster_version: str | None = None
        self.entries_applied = 0

    def apply(self, payload: bytes) -> str | None:
        """Apply a ``VERSIONS`` payload; returns an error text (state unchanged) or None."""
        try:
            members, proposed = msgpack.unpackb(payload, raw=False)
            pairs = [(node, version) for node, version in members]
            if not all(type(node) is int and type(version) is str for node, version in pairs):
                raise ValueError("member versions must be (int, str) pairs")
            if proposed is not None and version_key(proposed) is None:
                raise ValueError("cluster version is not a semantic version")
        except Exception:
            return "invalid versions entry"
        # Never down: a lower proposal (an older member joined late) leaves the cluster version.
        if self.cluster_version is not None and not at_least(proposed, self.cluster_version):
            proposed = self.cluster_version
        self.members = dict(pairs)
        self.cluster_version = proposed
        self.entries_applied += 1
        return None

    def admits(self, entry_type: str) -> bool:
        """May the leader propose ``entry_type`` now? Base types always; newer ones per the table."""
        required = INTRODUCED_IN.get(entry_type)
        return required is None or at_least(self.cluster_version, required)

    def snapshot_value(self) -> list[Any]:
        return [sorted(self.members.items()), self.cluster_version, self.entries_applied]

    def restore(self, value: list[Any] | None) -> None:
        if value is None:  # a snapshot written before cluster versions existed
            self.members, self.cluster_version, self.entries_applied = {}, None, 0
            return
        members, cluster_version, applied = value
        self.members = {int(node): str(version) for node, version in members}
        self.cluster_version = cluster_version
        self.entries_applied = int(applied)

    def wanted(self, known: Mapping[int, str], members: frozenset[int]) -> dict[int, str] | None:
        """The member versions a leader should replicate now, or None when nothing needs
        proposing (all current members' versions known, and they differ from the replicated
        ones). A member whose version is unknown holds the proposal back."""
        if not members or not members <= known.keys():
            return None
        wanted = {member: known[member] for member in sorted(members)}
        return wanted if wanted != self.members else None

    def next_cluster_version(self, wanted: Mapping[int, str]) -> str | None:
        """The cluster version a ``VERSIONS`` entry with ``wanted`` would carry (never lower)."""
        low = lowest(list(wanted.values()))
        if self.cluster_version is not None and not at_least(low, self.cluster_version):
            return self.cluster_version
        return low
