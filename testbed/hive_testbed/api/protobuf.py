"""Decoding of Kubernetes protobuf request bodies into the JSON-shaped dicts the emulator handles.

Why this exists: client-go's typed clients send built-in kinds as ``application/vnd.kubernetes.protobuf``
(helm stores every release as a Secret that way; ``kubectl create namespace|configmap|secret``
do the same). The emulator works on JSON-shaped objects only, so such a body is decoded here, by
hand-written field tables, into exactly what the JSON encoding of the same object would be; every
later step (validation, defaulting, admission, storage) runs unchanged. Responses stay JSON, which
client-go accepts because its ``Accept`` header lists ``application/json`` as a fallback.

The format (k8s.io/apimachinery/pkg/runtime/serializer/protobuf): the magic ``k8s\\x00`` and then a
``runtime.Unknown`` message {typeMeta{apiVersion=1, kind=2}=1, raw=2, contentEncoding=3,
contentType=4} whose ``raw`` is the object, encoded by gogo-protobuf from the field numbers in
k8s.io/api/core/v1/generated.proto and k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto.

Only the kinds in :data:`KINDS` are known. Anything else (another kind, an unknown field number, a
wrong wire type, truncated or malformed bytes) is refused with a 400 or 415 ``ApiError`` that names
what was wrong; nothing is silently dropped.
"""

from __future__ import annotations

import base64
import datetime
import enum
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hive_testbed.api import errors

MAGIC = b"k8s\x00"
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class Kind(enum.Enum):
    STRING = "string"
    BOOL = "bool"
    INT = "int"  # int32 / int64 (two's complement varint)
    BYTES = "bytes"  # base64 in JSON
    TIME = "time"  # meta/v1 Time {seconds=1, nanos=2} -> RFC 3339
    RAW_JSON = "raw-json"  # meta/v1 FieldsV1 {raw=1}: JSON bytes
    MESSAGE = "message"
    MAP_STRING = "map<string,string>"
    MAP_BYTES = "map<string,bytes>"


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    message: Message | None = None
    repeated: bool = False
    keep_zero: bool = False  # a pointer field in Go (present means set, even to 0/false/"")


@dataclass(frozen=True)
class Message:
    name: str
    fields: dict[int, Field] = field(default_factory=dict)


def _message(name: str, *fields: tuple[int, Field]) -> Message:
    return Message(name, dict(fields))


# --- k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto
OWNER_REFERENCE = _message(
    "OwnerReference",
    (1, Field("kind", Kind.STRING, keep_zero=True)),
    (3, Field("name", Kind.STRING, keep_zero=True)),
    (4, Field("uid", Kind.STRING, keep_zero=True)),
    (5, Field("apiVersion", Kind.STRING, keep_zero=True)),
    (6, Field("controller", Kind.BOOL, keep_zero=True)),
    (7, Field("blockOwnerDeletion", Kind.BOOL, keep_zero=True)),
)
MANAGED_FIELDS_ENTRY = _message(
    "ManagedFieldsEntry",
    (1, Field("manager", Kind.STRING)),
    (2, Field("operation", Kind.STRING)),
    (3, Field("apiVersion", Kind.STRING)),
    (4, Field("time", Kind.TIME)),
    (6, Field("fieldsType", Kind.STRING)),
    (7, Field("fieldsV1", Kind.RAW_JSON)),
    (8, Field("subresource", Kind.STRING)),
)
OBJECT_META = _message(
    "ObjectMeta",
    (1, Field("name", Kind.STRING)),
    (2, Field("generateName", Kind.STRING)),
    (3, Field("namespace", Kind.STRING)),
    (4, Field("selfLink", Kind.STRING)),
    (5, Field("uid", Kind.STRING)),
    (6, Field("resourceVersion", Kind.STRING)),
    (7, Field("generation", Kind.INT)),
    (8, Field("creationTimestamp", Kind.TIME)),
    (9, Field("deletionTimestamp", Kind.TIME)),
    (10, Field("deletionGracePeriodSeconds", Kind.INT, keep_zero=True)),
    (11, Field("labels", Kind.MAP_STRING)),
    (12, Field("annotations", Kind.MAP_STRING)),
    (13, Field("ownerReferences", Kind.MESSAGE, OWNER_REFERENCE, repeated=True)),
    (14, Field("finalizers", Kind.STRING, repeated=True)),
    (17, Field("managedFields", Kind.MESSAGE, MANAGED_FIELDS_ENTRY, repeated=True)),
)
PRECONDITIONS = _message(
    "Preconditions",
    (1, Field("uid", Kind.STRING, keep_zero=True)),
    (2, Field("resourceVersion", Kind.STRING, keep_zero=True)),
)
DELETE_OPTIONS = _message(
    "DeleteOptions",
    (1, Field("gracePeriodSeconds", Kind.INT, keep_zero=True)),
    (2, Field("preconditions", Kind.MESSAGE, PRECONDITIONS)),
    (3, Field("orphanDependents", Kind.BOOL, keep_zero=True)),
    (4, Field("propagationPolicy", Kind.STRING, keep_zero=True)),
    (5, Field("dryRun", Kind.STRING, repeated=True)),
    (6, Field("ignoreStoreReadErrorWithClusterBreakingPotential", Kind.BOOL, keep_zero=True)),
)

# --- k8s.io/api/core/v1/generated.proto
SECRET = _message(
    "Secret",
    (1, Field("metadata", Kind.MESSAGE, OBJECT_META)),
    (2, Field("data", Kind.MAP_BYTES)),
    (3, Field("type", Kind.STRING)),
    (4, Field("stringData", Kind.MAP_STRING)),
    (5, Field("immutable", Kind.BOOL, keep_zero=True)),
)
CONFIG_MAP = _message(
    "ConfigMap",
    (1, Field("metadata", Kind.MESSAGE, OBJECT_META)),
    (2, Field("data", Kind.MAP_STRING)),
    (3, Field("binaryData", Kind.MAP_BYTES)),
    (4, Field("immutable", Kind.BOOL, keep_zero=True)),
)
NAMESPACE_CONDITION = _message(
    "NamespaceCondition",
    (1, Field("type", Kind.STRING, keep_zero=True)),
    (2, Field("status", Kind.STRING, keep_zero=True)),
    (4, Field("lastTransitionTime", Kind.TIME)),
    (5, Field("reason", Kind.STRING)),
    (6, Field("message", Kind.STRING)),
)
NAMESPACE = _message(
    "Namespace",
    (1, Field("metadata", Kind.MESSAGE, OBJECT_META)),
    (
        2,
        Field(
            "spec",
            Kind.MESSAGE,
            _message("NamespaceSpec", (1, Field("finalizers", Kind.STRING, repeated=True))),
        ),
    ),
    (
        3,
        Field(
            "status",
            Kind.MESSAGE,
            _message(
                "NamespaceStatus",
                (1, Field("phase", Kind.STRING)),
                (2, Field("conditions", Kind.MESSAGE, NAMESPACE_CONDITION, repeated=True)),
            ),
        ),
    ),
)

# (apiVersion, kind) of the envelope -> the message table of ``raw``.
KINDS: dict[tuple[str, str], Message] = {
    ("v1", "Secret"): SECRET,
    ("v1", "ConfigMap"): CONFIG_MAP,
    ("v1", "Namespace"): NAMESPACE,
    # the body of a DELETE: helm's typed client sends it in protobuf when it purges a release
    ("v1", "DeleteOptions"): DELETE_OPTIONS,
    ("meta.k8s.io/v1", "DeleteOptions"): DELETE_OPTIONS,
}

_UNKNOWN_TYPE_META = _message(
    "runtime.TypeMeta", (1, Field("apiVersion", Kind.STRING)), (2, Field("kind", Kind.STRING))
)
_UNKNOWN = _message(
    "runtime.Unknown",
    (1, Field("typeMeta", Kind.MESSAGE, _UNKNOWN_TYPE_META)),
    (2, Field("raw", Kind.BYTES)),
    (3, Field("contentEncoding", Kind.STRING)),
    (4, Field("contentType", Kind.STRING)),
)


def _bad(message: str) -> errors.ApiError:
    return errors.bad_request(f"cannot decode the protobuf body: {message}")


# ------------------------------------------------------------------ wire format
def _varint(buf: bytes, pos: int, where: str) -> tuple[int, int]:
    result = 0
    for shift in range(0, 70, 7):
        if pos >= len(buf):
            raise _bad(f"truncated varint in {where} at byte {pos}")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if result >= 1 << 64:
                raise _bad(f"varint longer than 64 bits in {where}")
            return result, pos
    raise _bad(f"varint longer than 10 bytes in {where}")


def fields(buf: bytes, where: str) -> Iterator[tuple[int, int, int | bytes]]:
    """``(field number, wire type, value)`` of each field of one message; LEN values as bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos, where)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _bad(f"field number 0 in {where}")
        value: int | bytes
        if wire == _VARINT:
            value, pos = _varint(buf, pos, where)
        elif wire == _LEN:
            length, pos = _varint(buf, pos, where)
            if pos + length > len(buf):
                raise _bad(
                    f"field {number} of {where} declares {length} bytes but only {len(buf) - pos} remain"
                )
            value, pos = buf[pos : pos + length], pos + length
        elif wire in (_I64, _I32):
            size = 8 if wire == _I64 else 4
            if pos + size > len(buf):
                raise _bad(f"truncated fixed-size field {number} in {where}")
            value, pos = buf[pos : pos + size], pos + size
        else:
            raise _bad(f"unsupported wire type {wire} (field {number}) in {where}")
        yield number, wire, value


# ------------------------------------------------------------------ messages
def _text(value: bytes, where: str) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError as exc:
        raise _bad(f"{where} is not valid UTF-8") from exc


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _time(value: bytes, where: str) -> str | None:
    seconds = nanos = 0
    for number, wire, item in fields(value, where):
        if wire != _VARINT or number not in (1, 2):
            raise _bad(f"unexpected field {number} (wire type {wire}) in {where} (a Time)")
        assert isinstance(item, int)
        if number == 1:
            seconds = _signed(item)
        else:
            nanos = _signed(item)
    if seconds == 0 and nanos == 0:
        return None  # Go's zero time: absent in JSON
    try:
        moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise _bad(f"{where} is out of range ({seconds} s)") from exc
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _map_entry(value: bytes, where: str, *, binary: bool) -> tuple[str, str]:
    key, item = "", b""
    for number, wire, part in fields(value, where):
        if wire != _LEN or number not in (1, 2):
            raise _bad(f"unexpected field {number} (wire type {wire}) in a map entry of {where}")
        assert isinstance(part, bytes)
        if number == 1:
            key = _text(part, f"a key of {where}")
        else:
            item = part
    return key, (base64.b64encode(item).decode() if binary else _text(item, f"{where}[{key!r}]"))


def _scalar(spec: Field, wire: int, value: int | bytes, where: str) -> Any:
    expected = _VARINT if spec.kind in (Kind.BOOL, Kind.INT) else _LEN
    if wire != expected:
        raise _bad(f"{where} has wire type {wire}, expected {expected} for {spec.kind.value}")
    if isinstance(value, int):
        return bool(value) if spec.kind is Kind.BOOL else _signed(value)
    match spec.kind:
        case Kind.STRING:
            return _text(value, where)
        case Kind.BYTES:
            return value
        case Kind.TIME:
            return _time(value, where)
        case Kind.RAW_JSON:
            raw = b""
            for number, item_wire, item in fields(value, where):
                if number != 1 or item_wire != _LEN:
                    raise _bad(f"unexpected field {number} in {where} (a FieldsV1)")
                assert isinstance(item, bytes)
                raw = item
            try:
                return json.loads(raw) if raw else None
            except ValueError as exc:
                raise _bad(f"{where} does not hold JSON") from exc
        case Kind.MESSAGE:
            assert spec.message is not None
            return decode_message(value, spec.message, where)
    raise AssertionError(spec.kind)  # maps are handled by decode_message


def _is_zero(value: Any) -> bool:
    return value is None or (value in ("", 0, False, b"") and not isinstance(value, dict))


def decode_message(buf: bytes, message: Message, where: str | None = None) -> dict[str, Any]:
    """One message decoded by its field table into the dict its JSON encoding would give."""
    where = where or message.name
    result: dict[str, Any] = {}
    for number, wire, value in fields(buf, where):
        spec = message.fields.get(number)
        if spec is None:
            raise _bad(f"unknown field {number} (wire type {wire}) in {where} (a {message.name})")
        path = f"{where}.{spec.name}"
        if spec.kind in (Kind.MAP_STRING, Kind.MAP_BYTES):
            if wire != _LEN:
                raise _bad(f"{path} has wire type {wire}, expected 2 for a map entry")
            assert isinstance(value, bytes)
            key, item = _map_entry(value, path, binary=spec.kind is Kind.MAP_BYTES)
            result.setdefault(spec.name, {})[key] = item
            continue
        decoded = _scalar(spec, wire, value, path)
        if spec.repeated:
            result.setdefault(spec.name, []).append(decoded)
        elif spec.keep_zero or not _is_zero(decoded):
            result[spec.name] = decoded
        else:
            result.pop(spec.name, None)  # proto: the last occurrence wins, and here it is empty
    return result


def decode(body: bytes) -> dict[str, Any]:
    """A whole request body (magic + ``runtime.Unknown``) decoded into a JSON-shaped object."""
    if not body.startswith(MAGIC):
        raise _bad(f"it does not start with the magic bytes {MAGIC!r} (got {body[:4]!r})")
    envelope = decode_message(body[len(MAGIC) :], _UNKNOWN)
    if envelope.get("contentEncoding"):
        raise errors.ApiError(
            415,
            "UnsupportedMediaType",
            f"protobuf bodies with contentEncoding {envelope['contentEncoding']!r} are not supported",
        )
    type_meta = envelope.get("typeMeta") or {}
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    message = KINDS.get((api_version, kind))
    if message is None:
        known = ", ".join(f"{v}/{k}" for v, k in KINDS)
        raise errors.ApiError(
            415,
            "UnsupportedMediaType",
            f"the test bed cannot decode protobuf bodies of kind {api_version or '?'}/{kind or '?'} "
            f"(only {known}); send JSON instead",
        )
    raw = envelope.get("raw", b"")
    assert isinstance(raw, bytes)
    obj = decode_message(raw, message)
    return {"apiVersion": api_version, "kind": kind, **obj}
