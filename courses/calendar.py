"""iCalendar (RFC 5545) output for offerings: one timed event per session, times in UTC.

The site's download link publishes the events (``METHOD:PUBLISH``). Each session has one stable
``UID`` (from its id and the site's host), so a later invitation or change notice (RFC 5546
``METHOD:REQUEST`` / ``CANCEL``) updates the same calendar entry instead of adding another.
"""

from datetime import UTC
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone
from icalendar import Calendar, Event

from .models import Offering, Session

PRODID = "-//citreg//CIT course registration//EN"


def session_uid(session: Session) -> str:
    """Return the session's calendar UID, e.g. ``session-42@citreg.example.org`` (stable)."""
    host = urlsplit(settings.SITE_URL).hostname or "citreg.localhost"
    return f"session-{session.pk}@{host}"


def session_event(session: Session, *, offering: Offering, sequence: int = 0) -> Event:
    """Return a VEVENT for one session: UTC ``DTSTART``/``DTEND``, summary naming the course and
    the session's number ("CIT Support Training for 911 (session 1 of 2)"), and the offering's
    public URL."""
    sessions = offering.session_list
    number = next(i for i, s in enumerate(sessions, start=1) if s.pk == session.pk)
    course = offering.course
    url = f"{settings.SITE_URL}{offering.get_absolute_url()}"
    return Event.new(
        uid=session_uid(session),
        summary=f"{course.title} (session {number} of {len(sessions)})",
        start=session.starts_at.astimezone(UTC),
        end=session.ends_at.astimezone(UTC),
        stamp=timezone.now().astimezone(UTC),
        sequence=sequence,
        description=(
            f"{course.title}, live online. {course.participation_requirements}\n\nDetails: {url}"
        ),
        location="Live online",
        url=url,
        status="CANCELLED" if offering.status == Offering.Status.CANCELLED else "CONFIRMED",
    )


def offering_calendar(offering: Offering, *, method: str = "PUBLISH") -> bytes:
    """Return an .ics file (bytes, CRLF lines) with one event per session of ``offering``.

    Args:
        offering: ideally fetched with ``prefetch_related("sessions")`` and its course.
        method: the iTIP method, "PUBLISH" for downloads.
    """
    calendar = Calendar.new(
        prodid=PRODID,
        method=method,
        name=f"{offering.course.title}: {offering.date_label}",
        subcomponents=[session_event(s, offering=offering) for s in offering.session_list],
    )
    return calendar.to_ical()


def ics_filename(offering: Offering) -> str:
    """A download name such as ``cit-support-training-911-2027-01-07-evening.ics``."""
    return f"{offering.course.slug}-{offering.starts_on:%Y-%m-%d}-{offering.part_of_day}.ics"
