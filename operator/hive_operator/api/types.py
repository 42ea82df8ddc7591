"""Constrained scalar types of the API, each carrying its OpenAPI pattern and a description.

Patterns are written in the dialect both the Kubernetes API server (RE2) and Python accept.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import Field

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
GO_DURATION = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$"
SEMVER = r"^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"
CRON_FIELD = r"[0-9*/,-]+"
CRON = rf"^(@(hourly|daily|weekly|monthly|yearly)|{CRON_FIELD}( {CRON_FIELD}){{4}})$"
CLOCK_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
HTTP_URL = r"^https?://[^\s/$.?#][^\s]*$"
IMAGE_REPOSITORY = r"^[a-z0-9]+([._/:-][a-z0-9]+)*$"

ResourceName = Annotated[
    str,
    Field(min_length=1, max_length=253, pattern=DNS1123_SUBDOMAIN, description="A Kubernetes object name."),
]
SecretKey = Annotated[
    str,
    Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$", description="A key inside a Secret."),
]
Quantity = Annotated[
    str,
    Field(pattern=QUANTITY, description="A Kubernetes quantity such as 4Gi or 500M."),
]
Duration = Annotated[
    str,
    Field(pattern=GO_DURATION, description="A duration such as 90s, 15m or 2160h."),
]
Version = Annotated[
    str,
    Field(pattern=SEMVER, description="A semantic version of the Hive runtime, such as 1.4.2."),
]
CronSchedule = Annotated[
    str,
    Field(pattern=CRON, description="A five-field cron expression (UTC) or @hourly/@daily/..."),
]
ClockTime = Annotated[str, Field(pattern=CLOCK_TIME, description="A UTC time of day, HH:MM.")]
HttpUrl = Annotated[str, Field(pattern=HTTP_URL, description="An http(s) URL.")]

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)")
_DURATION_UNIT = {
    "ns": timedelta(microseconds=0.001),
    "us": timedelta(microseconds=1),
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
}


def parse_duration(text: str) -> timedelta:
    """A Go duration (``90s``, ``1h30m``, ``2160h``) as a timedelta; ``ValueError`` otherwise."""
    if not re.fullmatch(GO_DURATION, text):
        raise ValueError(f"{text!r} is not a duration such as 90s or 2160h")
    return sum(
        (_DURATION_UNIT[unit] * float(number) for number, unit in _DURATION_PART.findall(text)),
        timedelta(0),
    )
