"""Template tags and filters that write times the way ``courses.timefmt`` does.

Times are marked up for ``static/js/localtime.js``: the Mountain Time text inside ``<time>``
with the UTC instants and the published zone in ``data-`` attributes, so the HTML is the same for
every visitor (cacheable) and the script adds the visitor's own time, written by the same rules.
Without JavaScript the published zone's text stands alone (``docs/architecture.md``, "How times
are written")."""

from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from courses.models import Offering, Session
from courses.timefmt import day_label, instant_label, time_range_label

register = template.Library()


@register.filter
def session_day(session: Session) -> str:
    """ "Thursday, January 7, 2027" in the offering's zone."""
    return day_label(session.starts_at, session.offering.zone)


@register.simple_tag
def session_times(session: Session, offering: Offering) -> SafeString:
    """The session's start–end in the offering's zone, marked up for the local-time script:
    ``<span class="session-time" data-start data-end data-zone><time datetime>4:00 pm – 8:00 pm
    MST</time></span>``; the script appends "(your time: …)" (``timefmt.local_range_label``)."""
    return format_html(
        '<span class="session-time" data-start="{}" data-end="{}" data-zone="{}">'
        '<time datetime="{}">{}</time></span>',
        iso_utc(session.starts_at),
        iso_utc(session.ends_at),
        offering.time_zone,
        iso_utc(session.starts_at),
        time_range_label(session.starts_at, session.ends_at, offering.zone),
    )


def _zone(where: Offering | ZoneInfo | str) -> ZoneInfo:
    if isinstance(where, Offering):
        return where.zone
    if isinstance(where, ZoneInfo):
        return where
    return ZoneInfo(where)


def deadline_html(moment: datetime | None, where: Offering | ZoneInfo | str) -> SafeString:
    """A single moment (registration close, seat hold, waitlist offer, refund cut-off) in the
    zone of ``where`` (an offering, a ``ZoneInfo`` or an IANA name), marked up for the script:
    ``<span class="moment-time" data-instant data-zone><time datetime>Tuesday, December 1,
    2026, 11:53 pm MST</time></span>``; the script appends "(your time: Wednesday, December 2,
    1:53 am EST)" (``timefmt.local_instant_label``). ``None`` renders as an empty string.

    Raises: ``zoneinfo.ZoneInfoNotFoundError`` for an unknown zone name."""
    if moment is None:
        return SafeString("")
    zone = _zone(where)
    return format_html(
        '<span class="moment-time" data-instant="{}" data-zone="{}">'
        '<time datetime="{}">{}</time></span>',
        iso_utc(moment),
        zone.key,
        iso_utc(moment),
        instant_label(moment, zone),
    )


register.simple_tag(deadline_html, name="deadline_time")


@register.simple_tag
def local_hours_note(offering: Offering) -> SafeString:
    """A hidden note the script fills and shows when, for the visitor, the offering's sessions
    start at different hours because of a daylight saving switch in one zone only
    (``timefmt.start_hours_note``). Put it once after an offering's session list."""
    sessions: Iterable[Session] = offering.sessions.all()
    return format_html(
        '<p class="local-hours-note small" data-starts="{}" data-zone="{}" hidden></p>',
        " ".join(iso_utc(session.starts_at) for session in sessions),
        offering.time_zone,
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


def iso_utc(moment: datetime) -> str:
    """An aware datetime as an ISO 8601 UTC instant, "2027-01-07T23:00:00Z"."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
