"""How the admin writes money and moments: dollars (money is stored in integer cents) and times
in Mountain Time with their zone label (``courses.timefmt``'s wording), so no admin column
or field shows cents or a time without its zone."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings

from courses.timefmt import clock


def money(cents: int | None) -> str:
    """Integer cents as dollars with two decimals, e.g. 25000 → "$250.00"; None → "—"."""
    if cents is None:
        return "—"
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) / 100:,.2f}"


def admin_zone() -> ZoneInfo:
    """The zone admin pages show times in (``settings.TIME_ZONE``, Mountain Time)."""
    return ZoneInfo(settings.TIME_ZONE)


def moment(value: datetime | None, zone: ZoneInfo | None = None) -> str:
    """An aware moment as "Dec 2, 2026, 4:42 pm MST" in ``zone`` (default: the admin's zone,
    ``admin_zone``); None → "—"."""
    if value is None:
        return "—"
    local = value.astimezone(zone or admin_zone())
    return f"{local:%b} {local.day}, {local.year}, {clock(local)} {local.tzname()}"


def waited(since: datetime | None, now: datetime) -> str:
    """How long ago ``since`` was, in the largest useful unit: "45 min", "5 h", "3 days"."""
    if since is None:
        return "—"
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} days"
