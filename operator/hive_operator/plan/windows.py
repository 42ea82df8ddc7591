"""When a rollout may replace pods: ``spec.upgrade.paused`` and the maintenance windows.

Pure: ``now`` is passed in. A window opens on each of its days at ``start`` (UTC) and stays open
for ``duration``, which may run past midnight into the next days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hive_operator.api.operations import MaintenanceWindow, Upgrade
from hive_operator.api.types import parse_duration

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _openings(window: MaintenanceWindow, around: datetime, *, days: range) -> list[datetime]:
    hour, minute = (int(part) for part in window.start.split(":"))
    wanted = {day.value for day in window.days}
    found = []
    for offset in days:
        date = (around + timedelta(days=offset)).date()
        if _WEEKDAYS[date.weekday()] in wanted:
            found.append(datetime(date.year, date.month, date.day, hour, minute, tzinfo=UTC))
    return found


def in_window(windows: list[MaintenanceWindow], now: datetime) -> bool:
    """No windows means any time."""
    if not windows:
        return True
    for window in windows:
        length = parse_duration(window.duration)
        for opening in _openings(window, now, days=range(-8, 1)):
            if opening <= now < opening + length:
                return True
    return False


def next_opening(windows: list[MaintenanceWindow], now: datetime) -> datetime | None:
    openings = [o for w in windows for o in _openings(w, now, days=range(0, 8)) if o > now]
    return min(openings) if openings else None


def rollout_hold(upgrade: Upgrade, now: datetime) -> str | None:
    """Why outdated pods may not be replaced now (None: they may)."""
    if upgrade.paused:
        return "spec.upgrade.paused is true"
    if not in_window(upgrade.maintenance_windows, now):
        opening = next_opening(upgrade.maintenance_windows, now)
        when = opening.strftime("%a %Y-%m-%d %H:%M UTC") if opening else "never"
        return f"outside spec.upgrade.maintenanceWindows (next opens {when})"
    return None
