"""Template filters that write times the way ``courses.timefmt`` does."""

from datetime import UTC, datetime

from django import template
from django.utils.html import format_html

from courses.models import Offering, Session
from courses.timefmt import day_label, time_range_label

register = template.Library()


@register.filter
def session_day(session: Session) -> str:
    """ "Thursday, January 7, 2027" in the offering's zone."""
    return day_label(session.starts_at, session.offering.zone)


@register.simple_tag
def session_times(session: Session, offering: Offering) -> str:
    """The session's start–end in the offering's zone, marked up for the local-time script.

    Renders ``<time>`` elements carrying the UTC instants; ``static/js/localtime.js`` adds the
    visitor's own time beside them. Without JavaScript the zone's text stands alone.
    """
    return format_html(
        '<span class="session-time" data-start="{}" data-end="{}">'
        '<time datetime="{}">{}</time></span>',
        _iso(session.starts_at),
        _iso(session.ends_at),
        _iso(session.starts_at),
        time_range_label(session.starts_at, session.ends_at, offering.zone),
    )


@register.filter
def offering_dates(offering: Offering) -> str:
    """Both dates, "June 6–7, 2024"."""
    return offering.date_label


@register.filter
def dollars(cents: int) -> str:
    """Integer cents as dollars: 25000 → "$250", 12345 → "$123.45"."""
    whole, part = divmod(int(cents), 100)
    return f"${whole:,}" if part == 0 else f"${whole:,}.{part:02d}"


@register.simple_tag
def registration_state(offering: Offering, now: datetime) -> Offering.RegistrationState:
    """The offering's ``RegistrationState`` at ``now``."""
    return offering.registration_state(now)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
