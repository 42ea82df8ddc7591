"""The admin API (HTTPS, client certificate required), the operator's view into a node.

``GET /status`` and ``GET /digest`` for any certificate of this cluster; leadership transfer,
membership changes and backups only for the ``operator`` role. Shapes are documented in
``docs/runtime.md`` and ``../shared/DESIGN.md`` section 2.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hive_runtime import raft
from hive_runtime.identity import Role
from hive_runtime.node.backup import BackupContents, BackupError, load_key, write_backup
from hive_runtime.node.driver import NotLeader, OutcomeUnknown
from hive_runtime.node.http import require_identity

if TYPE_CHECKING:
    from hive_runtime.node.app import RuntimeNode

ANY_ROLE = frozenset({Role.OPERATOR, Role.CLIENT, Role.PEER})
OPERATOR_ONLY = frozenset({Role.OPERATOR})


def node_status(node: RuntimeNode) -> dict[str, Any]:
    status = node.driver.status()
    conf = status.conf_state
    certificate = node.tls.certificate
    members = []
    for member in sorted(conf.members):
        members.append(
            {
                "id": member,
                "name": node.config.name_of(member),
                "role": "voter" if member in conf.voters else "learner",
                "match_index": status.match_index.get(member) if node.driver.is_leader else None,
            }
        )
    return {
        "node_id": status.node_id,
        "name": node.config.member_name,
        "role": status.role.value,
        "term": status.term,
        "leader": status.leader_id,
        "leader_name": node.config.name_of(status.leader_id) if status.leader_id else None,
        "commit_index": status.commit,
        "applied_index": node.driver.applied_index,
        "snapshot_index": node.driver.snapshot_index,
        "members": members,
        "version": node.version,
        "digest": node.state.digest(),
        "digest_index": node.driver.applied_index,
        "cpuset": node.pinning.get("cpuset"),
        "pinned": node.pinning.get("pinned", False),
        "pinned_core": node.pinning.get("core"),
        "pinning": node.pinning.get("reason"),
        "certificate": {
            "serial": format(certificate.serial_number, "x"),
            "not_after": certificate.not_valid_after_utc.isoformat(),
        },
        "secrets_hash": node.secrets.versions_hash if node.secrets is not None else None,
        "ready": node.is_ready(),
    }


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body is not JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return body


def _not_leader(node: RuntimeNode, refused: NotLeader) -> web.HTTPException:
    leader = refused.leader_id
    return web.HTTPConflict(
        text=f"not the leader; leader is {node.config.name_of(leader) if leader else 'unknown'}",
        headers={"X-Hive-Leader": node.config.name_of(leader) if leader else ""},
    )


def admin_app(node: RuntimeNode) -> web.Application:
    read = require_identity(node, roles=ANY_ROLE)
    mutate = require_identity(node, roles=OPERATOR_ONLY)

    async def status(_: web.Request) -> web.Response:
        return web.json_response(node_status(node))

    async def digest(request: web.Request) -> web.Response:
        wanted = request.query.get("index")
        applied = node.driver.applied_index
        if wanted is not None and (not wanted.isdigit() or int(wanted) != applied):
            recorded = node.digests.get(int(wanted)) if wanted.isdigit() else None
            if recorded is None:
                raise web.HTTPNotFound(text=f"no digest recorded at index {wanted}; applied is {applied}")
            return web.json_response({"index": int(wanted), "digest": recorded})
        return web.json_response({"index": applied, "digest": node.record_digest()})

    async def transfer(request: web.Request) -> web.Response:
        body = await _json_body(request)
        target = body.get("target")
        if target is None:
            target = node.best_transfer_target()
            if target is None:
                raise web.HTTPConflict(text="no caught-up voter to transfer leadership to")
        if not isinstance(target, int):
            raise web.HTTPBadRequest(text="target must be a node id")
        try:
            node.driver.transfer_leadership(target)
        except NotLeader as refused:
            raise _not_leader(node, refused) from None
        except ValueError as error:
            raise web.HTTPBadRequest(text=str(error)) from None
        return web.json_response({"transferring_to": target}, status=202)

    async def change_membership(change: raft.ConfChange) -> web.Response:
        try:
            future = node.driver.propose_conf_change(change)
            await asyncio.wait_for(future, timeout=10)
        except NotLeader as refused:
            raise _not_leader(node, refused) from None
        except (ValueError, raft.ProposalDropped) as error:
            raise web.HTTPConflict(text=str(error)) from None
        except (OutcomeUnknown, TimeoutError) as error:
            raise web.HTTPServiceUnavailable(text=f"membership change outcome unknown: {error}") from None
        return web.json_response({"members": node_status(node)["members"]})

    async def add_learner(request: web.Request) -> web.Response:
        body = await _json_body(request)
        member = body.get("id")
        if not isinstance(member, int) or member < 1:
            raise web.HTTPBadRequest(text="id must be a positive node id")
        return await change_membership(raft.ConfChange(raft.ConfChangeKind.ADD_LEARNER, member))

    def _member_id(request: web.Request) -> int:
        text = request.match_info["member"]
        if not text.isdigit():
            raise web.HTTPBadRequest(text="member id must be an integer")
        return int(text)

    async def promote(request: web.Request) -> web.Response:
        member = _member_id(request)
        status = node.driver.status()
        if node.driver.is_leader and member in status.conf_state.learners:
            behind = status.last_index - status.match_index.get(member, 0)
            if behind > node.config.ready_max_lag_entries:
                raise web.HTTPConflict(
                    text=f"learner {member} is {behind} entries behind; promote it once caught up"
                )
        return await change_membership(raft.ConfChange(raft.ConfChangeKind.ADD_VOTER, member))

    async def remove(request: web.Request) -> web.Response:
        return await change_membership(raft.ConfChange(raft.ConfChangeKind.REMOVE, _member_id(request)))

    async def backup(request: web.Request) -> web.Response:
        body = await _json_body(request)
        destination = body.get("directory")
        if not isinstance(destination, str) or not destination.startswith("/"):
            raise web.HTTPBadRequest(text="directory must be an absolute path")
        if node.config.backup_key_file is None:
            raise web.HTTPConflict(text="no backup key is configured on this node")
        try:
            await node.driver.read_barrier()
        except NotLeader as refused:
            raise _not_leader(node, refused) from None
        index = node.driver.applied_index
        conf = node.driver.conf_at(index)
        state = node.state.snapshot()
        contents = BackupContents(
            index=index,
            term=node.storage.term(index) if index else 0,
            voters=tuple(sorted(conf.voters)),
            learners=tuple(sorted(conf.learners)),
            state=state,
            digest=hashlib.sha256(state).hexdigest(),
        )
        try:
            key = load_key(node.config.backup_key_file)
            receipt = await asyncio.to_thread(write_backup, contents, key=key, directory=Path(destination))
        except (BackupError, OSError) as error:
            raise web.HTTPInternalServerError(text=f"backup failed: {error}") from None
        return web.json_response(receipt.__dict__, status=201)

    app = web.Application()
    app.router.add_get("/status", read(status))
    app.router.add_get("/digest", read(digest))
    app.router.add_post("/leadership/transfer", mutate(transfer))
    app.router.add_post("/members", mutate(add_learner))
    app.router.add_post("/members/{member}/promote", mutate(promote))
    app.router.add_delete("/members/{member}", mutate(remove))
    app.router.add_post("/backups", mutate(backup))
    return app
