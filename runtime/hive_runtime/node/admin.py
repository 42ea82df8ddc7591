"""The admin API (HTTPS, client certificate required), the operator's view into a node.

Endpoints, bodies and roles come from the shared contract (:mod:`hive_runtime.contract`):
handlers are registered from its route table by operation id, requests are validated strictly
with its models (a wrong JSON type, an unknown field or an out-of-range id is a 400 naming the
field) and responses are built with its models. ``GET /status`` (constant time) is built in
:mod:`hive_runtime.node.status`. Backups serialise the state in a forked child.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from aiohttp import web
from pydantic import ValidationError

from hive_runtime import raft
from hive_runtime.contract import (
    ROUTES,
    AddLearnerRequest,
    BackupRequest,
    BackupResponse,
    DigestQuery,
    DigestResponse,
    EmptyRequest,
    ErrorResponse,
    MembershipResponse,
    RiskDefaults,
    RiskDefaultsResponse,
    TransferOutcome,
    TransferRequest,
    TransferResponse,
)
from hive_runtime.contract.models import MAX_NODE_ID, ContractModel
from hive_runtime.identity import Role
from hive_runtime.node.backup import BackupContents, BackupError, load_key, write_backup
from hive_runtime.node.digests import Capture
from hive_runtime.node.driver import NotLeader, OutcomeUnknown
from hive_runtime.node.http import require_identity
from hive_runtime.node.state import trading_entry
from hive_runtime.node.status import members, node_status
from hive_runtime.node.versions import INTRODUCED_IN, RISK_DEFAULTS
from hive_runtime.trading import decode_outcome, encode_command
from hive_runtime.trading.commands import SetRiskDefaults
from hive_runtime.trading.engine import risk_defaults_hash

if TYPE_CHECKING:
    from hive_runtime.node.app import RuntimeNode

ANY_ROLE = frozenset({Role.OPERATOR, Role.CLIENT, Role.PEER})
OPERATOR_ONLY = frozenset({Role.OPERATOR})
MEMBERSHIP_TIMEOUT = 10.0
T = TypeVar("T", bound=ContractModel)


def _json(model: ContractModel, status: int = 200) -> web.Response:
    return web.Response(
        text=model.model_dump_json(by_alias=True), status=status, content_type="application/json"
    )


class AdminError(web.HTTPException):
    """An error answer with an :class:`ErrorResponse` body."""

    def __init__(
        self, status: int, error: str, message: str, *, field: str | None = None, leader: int | None = None
    ) -> None:
        self.status_code = status
        body = ErrorResponse(error=error, message=message, field=field, leader=leader)
        super().__init__(text=body.model_dump_json(by_alias=True), content_type="application/json")


def _invalid(error: ValidationError) -> AdminError:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    if first["type"] == "json_invalid":
        return AdminError(400, "invalid", "body is not valid JSON")
    message = f"{field}: {first['msg']}" if field else first["msg"]
    return AdminError(400, "invalid", message, field=field)


async def _body(request: web.Request, model: type[T]) -> T:
    raw = await request.read() if request.can_read_body else b""
    try:
        return model.model_validate_json(raw if raw.strip() else b"{}")
    except ValidationError as error:
        raise _invalid(error) from None


def _member_id(request: web.Request) -> int:
    text = request.match_info["id"]
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_NODE_ID:
        raise AdminError(400, "invalid", f"id: must be a node id in 1..{MAX_NODE_ID}", field="id")
    return int(text)


def _not_leader(node: RuntimeNode, refused: NotLeader) -> AdminError:
    leader = refused.leader_id
    name = node.config.name_of(leader) if leader else "unknown"
    return AdminError(409, "notLeader", f"not the leader; leader is {name}", leader=leader)


def _digest(node: RuntimeNode, request: web.Request) -> DigestResponse:
    keys = list(request.query.keys())
    if len(keys) != len(set(keys)):
        raise AdminError(400, "invalid", "a query parameter is repeated")
    try:
        query = DigestQuery.model_validate(dict(request.query))
    except ValidationError as error:
        raise _invalid(error) from None
    if query.index is not None and query.at_least is not None:
        raise AdminError(400, "invalid", "give index or atLeast, not both", field="atLeast")
    log = node.digests
    if query.index is not None:
        found, wanted = log.exact(query.index), f"at index {query.index}"
    elif query.at_least is not None:
        found, wanted = log.at_least(query.at_least), f"at or after index {query.at_least}"
    else:
        found, wanted = log.latest(), "yet"
    if found is None:
        span = log.span()
        kept = f"recorded {span[0]}..{span[1]}" if span else "none recorded yet"
        raise AdminError(
            404,
            "notFound",
            f"no digest recorded {wanted} ({kept}; every {log.interval} entries, applied "
            f"{node.driver.applied_index})",
        )
    return DigestResponse(index=found.index, digest=found.digest, reason=found.reason)


async def _capture(node: RuntimeNode) -> Capture:
    future: asyncio.Future[Capture] = asyncio.get_running_loop().create_future()

    def done(capture: Capture | None, error: BaseException | None) -> None:
        if future.done():
            return
        if capture is not None:
            future.set_result(capture)
        else:
            future.set_exception(error if error is not None else RuntimeError("capture failed"))

    if not node.capture_state(done):
        raise AdminError(409, "busy", "state captures are busy (snapshot or digests); retry shortly")
    return await future


def admin_app(node: RuntimeNode) -> web.Application:
    async def status(_: web.Request) -> web.Response:
        return _json(node_status(node))

    async def digest(request: web.Request) -> web.Response:
        return _json(_digest(node, request))

    async def transfer(request: web.Request) -> web.Response:
        body = await _body(request, TransferRequest)
        target = body.target if body.target is not None else node.best_transfer_target()
        if target is None:
            raise AdminError(409, "noTarget", "no voter to transfer leadership to")
        if target == node.config.node_id and node.driver.is_leader:
            raise AdminError(400, "invalid", "target: this node is already the leader", field="target")
        try:
            node.driver.transfer_leadership(target)
        except NotLeader as refused:
            raise _not_leader(node, refused) from None
        except ValueError as error:
            raise AdminError(400, "invalid", f"target: {error}", field="target") from None
        record = node.transfers.start(target)
        waited = await node.transfers.wait(record.id, within=body.wait_seconds)
        record = waited if waited is not None else record
        code = 202 if record.outcome is TransferOutcome.PENDING else 200
        return _json(TransferResponse(transfer=record.to_contract()), code)

    async def change_membership(change: raft.ConfChange) -> web.Response:
        try:
            future = node.driver.propose_conf_change(change)
            async with asyncio.timeout(MEMBERSHIP_TIMEOUT):
                await future
        except NotLeader as refused:
            raise _not_leader(node, refused) from None
        except (ValueError, raft.ProposalDropped) as error:
            raise AdminError(409, "conflict", str(error)) from None
        except (OutcomeUnknown, TimeoutError) as error:
            raise AdminError(503, "outcomeUnknown", f"membership change outcome unknown: {error}") from None
        return _json(MembershipResponse(members=members(node)))

    async def add_learner(request: web.Request) -> web.Response:
        body = await _body(request, AddLearnerRequest)
        return await change_membership(raft.ConfChange(raft.ConfChangeKind.ADD_LEARNER, body.id))

    def _refuse_unless_leader() -> None:
        if not node.driver.is_leader:
            raise _not_leader(node, NotLeader(node.driver.leader_id))

    async def promote(request: web.Request) -> web.Response:
        member = _member_id(request)
        await _body(request, EmptyRequest)
        _refuse_unless_leader()
        status = node.driver.status()
        if member not in status.conf_state.learners:  # ADD_VOTER of a stranger would add a voter
            raise AdminError(409, "notLearner", f"node {member} is not a learner of this cluster")
        behind = status.last_index - status.match_index.get(member, 0)
        if behind > node.config.ready_max_lag_entries:
            message = f"learner {member} is {behind} entries behind; promote it once caught up"
            raise AdminError(409, "notCaughtUp", message)
        return await change_membership(raft.ConfChange(raft.ConfChangeKind.ADD_VOTER, member))

    async def remove(request: web.Request) -> web.Response:
        member = _member_id(request)
        await _body(request, EmptyRequest)
        _refuse_unless_leader()
        conf = node.driver.status().conf_state
        if member not in conf.members:
            raise AdminError(409, "notMember", f"node {member} is not a member of this cluster")
        if conf.voters == {member}:
            raise AdminError(409, "lastVoter", f"node {member} is the only voter; the cluster would stop")
        return await change_membership(raft.ConfChange(raft.ConfChangeKind.REMOVE, member))

    async def backup(request: web.Request) -> web.Response:
        body = await _body(request, BackupRequest)
        if node.config.backup_key_file is None:
            raise AdminError(409, "noBackupKey", "no backup key is configured on this node")
        try:
            await node.driver.read_barrier()
        except NotLeader as refused:
            raise _not_leader(node, refused) from None
        captured = await _capture(node)
        index = captured.index
        conf = node.driver.conf_at(index)
        assert captured.data is not None
        contents = BackupContents(
            index=index,
            term=node.storage.term(index) if index else 0,
            voters=tuple(sorted(conf.voters)),
            learners=tuple(sorted(conf.learners)),
            state=captured.data,
            digest=captured.digest,
        )
        try:
            key = load_key(node.config.backup_key_file)
            receipt = await asyncio.to_thread(write_backup, contents, key=key, directory=Path(body.directory))
        except (BackupError, OSError) as error:
            raise AdminError(500, "backupFailed", f"backup failed: {error}") from None
        return _json(BackupResponse(**receipt.__dict__), 201)

    async def set_risk_defaults(request: web.Request) -> web.Response:
        body = await _body(request, RiskDefaults)
        _refuse_unless_leader()
        if not node.version_gate.admits(RISK_DEFAULTS):
            raise AdminError(
                409,
                "notAdmitted",
                f"clusterVersion {node.cluster_version} does not admit risk defaults (introduced in "
                f"{INTRODUCED_IN[RISK_DEFAULTS]}): every member must run that release first",
            )
        values = [
            body.max_order_quantity,
            body.max_order_notional,
            body.max_gross_position,
            body.max_net_position,
            body.credit_limit,
        ]
        command = SetRiskDefaults(node.client_service.next_timestamp_us(), *values)
        try:
            future = node.driver.propose(trading_entry(encode_command(command)))
            async with asyncio.timeout(MEMBERSHIP_TIMEOUT):
                outcome = decode_outcome(await future)
        except NotLeader as refused:
            raise _not_leader(node, refused) from None
        except (OutcomeUnknown, TimeoutError) as error:
            raise AdminError(503, "outcomeUnknown", f"risk defaults outcome unknown: {error}") from None
        if not outcome.accepted:
            raise AdminError(409, "rejected", f"risk defaults rejected (reason {outcome.reject_reason})")
        response = RiskDefaultsResponse(
            defaults=body, index=node.driver.applied_index, hash=risk_defaults_hash(values)
        )
        return _json(response)

    handlers: dict[str, Callable[[web.Request], Awaitable[web.Response]]] = {
        "getStatus": status,
        "getDigest": digest,
        "transferLeadership": transfer,
        "addLearner": add_learner,
        "promoteLearner": promote,
        "removeMember": remove,
        "createBackup": backup,
        "setRiskDefaults": set_risk_defaults,
    }
    read = require_identity(node, roles=ANY_ROLE)
    mutate = require_identity(node, roles=OPERATOR_ONLY)
    app = web.Application(middlewares=[_errors_as_contract])
    for route in ROUTES:
        guard = mutate if route.operator_only else read
        app.router.add_route(route.method, route.path, guard(handlers[route.operation]))
    return app


@web.middleware
async def _errors_as_contract(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every error answer has an :class:`ErrorResponse` body, including the router's own 404/405
    and the certificate checks' 401/403."""
    try:
        return await handler(request)
    except AdminError:
        raise
    except web.HTTPException as error:
        if error.status_code < 400:
            raise
        codes = {401: "unauthenticated", 403: "forbidden", 404: "notFound", 405: "methodNotAllowed"}
        raise AdminError(
            error.status_code, codes.get(error.status_code, "error"), error.text or error.reason
        ) from None
