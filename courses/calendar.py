"""iCalendar (RFC 5545) output for offerings: one timed event per session, times in UTC.

The site's download link publishes the events (``METHOD:PUBLISH``). Each session has one stable
``UID`` (from its id and the site's host), so a later invitation or change notice (RFC 5546
``METHOD:REQUEST`` / ``CANCEL``) updates the same calendar entry instead of adding another.
``SEQUENCE`` is the offering's ``schedule_version``, raised on every change of times or meeting
link (RFC 5546 §2.1.4), so calendars apply the newest invitation and ignore older ones.

Text that staff and attendees typed (the course title and requirements, the meeting link, the
attendee's name) is written through ``courses.text``: one-line properties (``SUMMARY``,
``LOCATION``, ``X-WR-CALNAME``, a ``CN``: ``common_name``) with ``one_line``, the
``DESCRIPTION`` with ``multi_line``. A control character left in an older row would otherwise
make a content line that calendar programs cannot parse (RFC 5545 §3.1 allows no controls but
tab in a value), and they drop the property or the whole event.
"""

from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone
from icalendar import Calendar, Event, vCalAddress

from .models import Offering, Session
from .text import multi_line, one_line

PRODID = "-//citreg//CIT course registration//EN"


def session_uid(session: Session) -> str:
    """Return the session's calendar UID, e.g. ``session-42@citreg.example.org`` (stable)."""
    host = urlsplit(settings.SITE_URL).hostname or "citreg.localhost"
    return f"session-{session.pk}@{host}"


def session_event(
    session: Session,
    *,
    offering: Offering,
    sequence: int = 0,
    meeting_url: str = "",
    **extra: Any,
) -> Event:
    """Return a VEVENT for one session: UTC ``DTSTART``/``DTEND``, summary naming the course and
    the session's number ("CIT Support Training for 911 (session 1 of 2)"), and the offering's
    public URL.

    Args:
        sequence: the event's ``SEQUENCE`` (0 for downloads).
        meeting_url: when given (invitations to confirmed attendees only), the ``LOCATION`` and a
            line of the description.
        **extra: further ``Event.new`` properties (``organizer``, ``attendees``, ``status``).
    """
    sessions = offering.session_list
    number = next(i for i, s in enumerate(sessions, start=1) if s.pk == session.pk)
    course = offering.course
    title = one_line(course.title)
    meeting_url = one_line(meeting_url)
    url = f"{settings.SITE_URL}{offering.get_absolute_url()}"
    join = f"Join: {meeting_url}\n\n" if meeting_url else ""
    return Event.new(
        uid=session_uid(session),
        summary=f"{title} (session {number} of {len(sessions)})",
        start=session.starts_at.astimezone(UTC),
        end=session.ends_at.astimezone(UTC),
        stamp=timezone.now().astimezone(UTC),
        sequence=sequence,
        description=multi_line(
            f"{title}, live online. {course.participation_requirements}\n\n{join}Details: {url}"
        ),
        location=meeting_url or "Live online",
        url=url,
        **extra,
    )


def offering_calendar(
    offering: Offering, *, method: str = "PUBLISH", meeting_url: str = ""
) -> bytes:
    """Return an .ics file (bytes, CRLF lines) with one event per session of ``offering``.

    Args:
        offering: ideally fetched with ``prefetch_related("sessions")`` and its course.
        method: the iTIP method, "PUBLISH" for downloads.
        meeting_url: the meeting link, only in a confirmed attendee's own download ("" for the
            public one); the events keep the invitation's UIDs, so an import updates the same
            entries.
    """
    calendar = Calendar.new(
        prodid=PRODID,
        method=method,
        name=one_line(f"{offering.course.title}: {offering.date_label}"),
        subcomponents=[
            session_event(
                s,
                offering=offering,
                sequence=offering.schedule_version,
                meeting_url=meeting_url,
                status="CANCELLED" if offering.status == Offering.Status.CANCELLED else "CONFIRMED",
            )
            for s in offering.session_list
        ],
    )
    return calendar.to_ical()


def common_name(name: str) -> str:
    """A name as the ``CN`` parameter of an ``ATTENDEE`` or ``ORGANIZER``: one line
    (``courses.text.one_line``), without backslashes. RFC 5545 §3.2 gives a backslash no meaning
    in a parameter value, but readers disagree (icalendar reads ``CN=Ana\\;RSVP=FALSE`` as an
    escaped semicolon, and the name swallows the next parameter), and no name needs one."""
    return one_line(name.replace("\\", " "))


def offering_invitation(
    offering: Offering,
    *,
    method: str,
    attendee_email: str,
    attendee_name: str = "",
    meeting_url: str = "",
) -> bytes:
    """Return an iTIP invitation (RFC 5546) for one attendee: one VEVENT per session.

    Args:
        offering: the class (its sessions and course are read).
        method: "REQUEST" (new or changed: the same UIDs with a higher ``SEQUENCE`` replace the
            earlier entries) or "CANCEL" (the attendee's place ended: removes the entries).
        attendee_email: the ``ATTENDEE`` address; ``RSVP=FALSE`` (no reply is expected).
        attendee_name: its ``CN``.
        meeting_url: the meeting link, for confirmed attendees only.

    Returns: the .ics bytes (CRLF lines). ``ORGANIZER`` is ``TRAINING_ADMIN_EMAIL`` with
    ``ORGANISATION_NAME``; times are UTC; ``SEQUENCE`` is ``offering.schedule_version``;
    ``STATUS`` is CONFIRMED, or CANCELLED for "CANCEL".

    Raises: ValueError for another method.
    """
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"Unsupported iTIP method {method!r}.")
    organizer = vCalAddress.new(
        settings.TRAINING_ADMIN_EMAIL, cn=common_name(settings.ORGANISATION_NAME)
    )
    attendee = vCalAddress.new(
        attendee_email,
        cn=common_name(attendee_name) or None,
        cutype="INDIVIDUAL",
        role="REQ-PARTICIPANT",
        rsvp=False,
    )
    events = [
        session_event(
            s,
            offering=offering,
            sequence=offering.schedule_version,
            meeting_url=meeting_url,
            organizer=organizer,
            attendees=[attendee],
            status="CANCELLED" if method == "CANCEL" else "CONFIRMED",
        )
        for s in offering.session_list
    ]
    calendar = Calendar.new(
        prodid=PRODID,
        method=method,
        name=one_line(f"{offering.course.title}: {offering.date_label}"),
        subcomponents=events,
    )
    return calendar.to_ical()


def ics_filename(offering: Offering) -> str:
    """A download name such as ``cit-support-training-911-2027-01-07-evening.ics``."""
    return f"{offering.course.slug}-{offering.starts_on:%Y-%m-%d}-{offering.part_of_day}.ics"
