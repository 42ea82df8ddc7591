"""The admin API's endpoints as data: method, path, who may call, request and response models.

The runtime registers its handlers from this table (by ``operation``) and the OpenAPI document is
generated from it, so the document cannot list an endpoint the server lacks or the other way
round (``tests/contract`` checks both).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hive_runtime.contract.models import (
    AddLearnerRequest,
    BackupRequest,
    BackupResponse,
    ContractModel,
    DigestQuery,
    DigestResponse,
    EmptyRequest,
    MembershipResponse,
    RiskDefaults,
    RiskDefaultsResponse,
    StatusResponse,
    TransferRequest,
    TransferResponse,
)


@dataclass(frozen=True)
class Route:
    operation: str
    method: str
    path: str
    summary: str
    operator_only: bool
    responses: dict[int, type[ContractModel]]
    request: type[ContractModel] | None = None
    query: type[ContractModel] | None = None
    path_ids: tuple[str, ...] = ()
    errors: tuple[int, ...] = field(default=(400, 401, 403))


ROUTES: tuple[Route, ...] = (
    Route(
        "getStatus", "GET", "/status",
        "This node's view of itself and the cluster; constant time, no state hashing",
        operator_only=False, responses={200: StatusResponse},
    ),
    Route(
        "getDigest", "GET", "/digest",
        "State digest recorded at exactly `index`, the first at or after `atLeast`, or the latest",
        operator_only=False, query=DigestQuery, responses={200: DigestResponse},
        errors=(400, 401, 403, 404),
    ),
    Route(
        "transferLeadership", "POST", "/leadership/transfer",
        "Hand leadership to `target` (default: the most caught-up voter); outcome now or in /status",
        operator_only=True, request=TransferRequest,
        responses={200: TransferResponse, 202: TransferResponse}, errors=(400, 401, 403, 409),
    ),
    Route(
        "addLearner", "POST", "/members",
        "Add a non-voting learner (leader only); answers once the change is applied",
        operator_only=True, request=AddLearnerRequest, responses={200: MembershipResponse},
        errors=(400, 401, 403, 409, 503),
    ),
    Route(
        "promoteLearner", "POST", "/members/{id}/promote",
        "Make a caught-up learner a voter (leader only)",
        operator_only=True, request=EmptyRequest, path_ids=("id",), responses={200: MembershipResponse},
        errors=(400, 401, 403, 409, 503),
    ),
    Route(
        "removeMember", "DELETE", "/members/{id}",
        "Remove a voter or learner (leader only)",
        operator_only=True, request=EmptyRequest, path_ids=("id",), responses={200: MembershipResponse},
        errors=(400, 401, 403, 409, 503),
    ),
    Route(
        "createBackup", "POST", "/backups",
        "Snapshot committed state (after a read barrier), encrypt it into `directory`, verify it",
        operator_only=True, request=BackupRequest, responses={201: BackupResponse},
        errors=(400, 401, 403, 409, 500),
    ),
    Route(
        "setRiskDefaults", "PUT", "/risk/defaults",
        "Replace the cluster-wide default limits (a replicated command; leader only, and only once "
        "clusterVersion admits it)",
        operator_only=True, request=RiskDefaults, responses={200: RiskDefaultsResponse},
        errors=(400, 401, 403, 409, 503),
    ),
)  # fmt: skip

ROUTES_BY_OPERATION = {route.operation: route for route in ROUTES}
