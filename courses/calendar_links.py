"""The "add to calendar" links of web calendars (Google Calendar, Outlook on the web).

A link opens the calendar's new-event form filled with one session: title, UTC start and end,
a description and the location. Unlike the emailed invitation (``courses.calendar``, iTIP
``METHOD:REQUEST`` with a stable ``UID``), the event saved from such a form is a copy: a later
change of times or meeting link does not reach it. Pages that offer these links say so.

Typed text (the course title, its requirements, the meeting link) is written with
``courses.text.one_line`` / ``multi_line`` and then percent-encoded (``urllib.parse.urlencode``),
so it can neither break the URL nor add parameters.

Formats: Google's ``calendar/render?action=TEMPLATE`` (``dates=YYYYMMDDTHHMMSSZ/…`` in UTC) and
Outlook's compose deep link (``startdt``/``enddt`` as ISO 8601 in UTC), both documented by the
providers for "add event" buttons.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from django.conf import settings

from .models import Offering, Session
from .text import multi_line, one_line

GOOGLE_URL = "https://calendar.google.com/calendar/render"
OUTLOOK_URL = "https://outlook.office.com/calendar/0/deeplink/compose"


@dataclass(frozen=True)
class SessionLinks:
    """The web-calendar links of one session: its number (1-based), Google's and Outlook's."""

    number: int
    session: Session
    google: str
    outlook: str


def _utc(moment: datetime, pattern: str) -> str:
    return moment.astimezone(UTC).strftime(pattern)


def _event_text(session: Session, offering: Offering, meeting_url: str) -> tuple[str, str, str]:
    """(title, description, location) of one session, as the calendar download writes them."""
    sessions = offering.session_list
    number = next(i for i, s in enumerate(sessions, start=1) if s.pk == session.pk)
    course = offering.course
    title = one_line(f"{course.title} (session {number} of {len(sessions)})")
    meeting_url = one_line(meeting_url)
    join = f"Join: {meeting_url}\n\n" if meeting_url else ""
    details = multi_line(
        f"{one_line(course.title)}, live online. {course.participation_requirements}\n\n{join}"
        f"Details: {settings.SITE_URL}{offering.get_absolute_url()}"
    )
    return title, details, meeting_url or "Live online"


def google_calendar_url(session: Session, offering: Offering, *, meeting_url: str = "") -> str:
    """The Google Calendar "new event" URL for ``session`` (times in UTC).

    Args:
        session: one session of ``offering``.
        offering: its class, with sessions (prefetched ideally) and course.
        meeting_url: the meeting link, only for a confirmed attendee ("" leaves it out).
    """
    title, details, location = _event_text(session, offering, meeting_url)
    dates = f"{_utc(session.starts_at, '%Y%m%dT%H%M%SZ')}/{_utc(session.ends_at, '%Y%m%dT%H%M%SZ')}"
    query = {
        "action": "TEMPLATE",
        "text": title,
        "dates": dates,
        "details": details,
        "location": location,
    }
    return f"{GOOGLE_URL}?{urlencode(query)}"


def outlook_calendar_url(session: Session, offering: Offering, *, meeting_url: str = "") -> str:
    """The Outlook on the web (Microsoft 365) "new event" URL for ``session`` (times in UTC).

    Args: as ``google_calendar_url``.
    """
    title, details, location = _event_text(session, offering, meeting_url)
    query = {
        "path": "/calendar/action/compose",
        "rru": "addevent",
        "subject": title,
        "startdt": _utc(session.starts_at, "%Y-%m-%dT%H:%M:%SZ"),
        "enddt": _utc(session.ends_at, "%Y-%m-%dT%H:%M:%SZ"),
        "body": details,
        "location": location,
    }
    return f"{OUTLOOK_URL}?{urlencode(query)}"


def session_links(offering: Offering, *, meeting_url: str = "") -> list[SessionLinks]:
    """Both web-calendar links for every session of ``offering``, in start order."""
    return [
        SessionLinks(
            number=number,
            session=session,
            google=google_calendar_url(session, offering, meeting_url=meeting_url),
            outlook=outlook_calendar_url(session, offering, meeting_url=meeting_url),
        )
        for number, session in enumerate(offering.session_list, start=1)
    ]
