"""When to renew a certificate: a pure schedule so the operator's planner can be tested with any clock.

Leaves are renewed ``renewBefore`` ahead of expiry, or at two thirds of their lifetime when no
``renewBefore`` applies (none given, or one longer than the certificate's whole life, as happens
to a leaf cut short by its CA's expiry). The CA is renewed at two thirds of its lifetime, which
leaves a third of it for the overlap in which old and new CA are both trusted.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def renewal_time(*, not_before: datetime, not_after: datetime, renew_before: timedelta | None) -> datetime:
    """The instant renewal should happen: ``renew_before`` ahead of expiry.

    If ``renew_before`` is None or at least the certificate's whole life, renew at two thirds of
    the life instead, so a short-lived certificate is not renewed the moment it is issued.
    """
    if not_after <= not_before:
        raise ValueError("not_after must be later than not_before")
    if renew_before is not None and renew_before <= timedelta(0):
        raise ValueError("renew_before must be positive")
    lifetime = not_after - not_before
    if renew_before is None or renew_before >= lifetime:
        return not_before + lifetime * 2 / 3
    return not_after - renew_before


def renewal_due(
    *, now: datetime, not_before: datetime, not_after: datetime, renew_before: timedelta | None
) -> bool:
    """True when a certificate valid over [not_before, not_after] should be renewed at ``now``."""
    return now >= renewal_time(not_before=not_before, not_after=not_after, renew_before=renew_before)


def ca_renewal_time(*, not_before: datetime, not_after: datetime) -> datetime:
    """When a CA's rotation starts: two thirds into its life."""
    return renewal_time(not_before=not_before, not_after=not_after, renew_before=None)
