"""When to renew a certificate: a pure schedule so the operator's planner can be tested with any clock."""

from __future__ import annotations

from datetime import datetime, timedelta


def renewal_time(*, not_before: datetime, not_after: datetime, renew_before: timedelta) -> datetime:
    """The instant renewal should happen: ``renew_before`` ahead of expiry.

    If ``renew_before`` is longer than the certificate's whole life, renew at two thirds of the
    life instead, so a short-lived certificate is not renewed the moment it is issued.
    """
    if not_after <= not_before:
        raise ValueError("not_after must be later than not_before")
    if renew_before <= timedelta(0):
        raise ValueError("renew_before must be positive")
    lifetime = not_after - not_before
    if renew_before >= lifetime:
        return not_before + lifetime * 2 / 3
    return not_after - renew_before


def renewal_due(*, now: datetime, not_before: datetime, not_after: datetime, renew_before: timedelta) -> bool:
    """True when a certificate valid over [not_before, not_after] should be renewed at ``now``."""
    return now >= renewal_time(not_before=not_before, not_after=not_after, renew_before=renew_before)
