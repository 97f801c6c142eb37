"""Creating and rescheduling offerings: the rules that span an offering's sessions.

Every write path — the schedule import and the admin — goes through ``check_session_times``, so
the rules hold whichever way an offering is made:

* the course's number of sessions (``Course.sessions_per_offering``, 2 for the CIT course), each
  exactly ``Course.session_minutes`` long (240);
* sessions on consecutive days in the offering's time zone, one a day, not overlapping;
* the part of day matches the start time (evening from 3:00 pm local time);
* one offering per course, first day and part of day.

Errors are ``django.core.exceptions.ValidationError`` with one plain-English message per problem,
so the admin shows them beside the form and the import prints them with the line number.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import Course, Offering, Session
from .signals import offering_changed
from .timefmt import clock, session_label

EVENING_FROM = time(15, 0)


@dataclass(frozen=True)
class SessionTimes:
    """An aware start and end of one session (any zone; stored as UTC)."""

    starts_at: datetime
    ends_at: datetime


def _a(noun: str) -> str:
    """``noun`` with its indefinite article: "a day class", "an evening class"."""
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def part_of_day_for(local_start: time) -> str:
    """Return ``Offering.PartOfDay`` for a local start time: evening from 3:00 pm, else day."""
    return Offering.PartOfDay.EVENING if local_start >= EVENING_FROM else Offering.PartOfDay.DAY


def registration_closes_at(course: Course, first_start: datetime) -> datetime:
    """When registration closes: ``course.registration_lead_hours`` before the first session."""
    return first_start - course.registration_lead


def check_session_times(
    *,
    course: Course,
    time_zone: str,
    part_of_day: str,
    times: Sequence[SessionTimes],
    offering: Offering | None = None,
) -> date:
    """Check one offering's sessions against the course's rules.

    Args:
        course: the offering's course (its session count and length are the rule).
        time_zone: IANA zone the class is taught in, e.g. "America/Denver".
        part_of_day: an ``Offering.PartOfDay`` value.
        times: the sessions, in any order; datetimes must be aware.
        offering: the offering being edited, excluded from the duplicate check (None when new).

    Returns:
        The first session's date in ``time_zone`` (the offering's ``starts_on``).

    Raises:
        ValidationError: with one message per broken rule.
    """
    zone = ZoneInfo(time_zone)
    ordered = sorted(times, key=lambda s: s.starts_at)
    errors: list[str] = []
    expected = timedelta(minutes=course.session_minutes)
    if len(ordered) != course.sessions_per_offering:
        errors.append(
            f"A class of {course.title} has {course.sessions_per_offering} sessions; "
            f"{len(ordered)} given."
        )
    for session in ordered:
        label = session_label(session.starts_at, session.ends_at, zone)
        if session.ends_at <= session.starts_at:
            errors.append(f"The session on {label} ends before it starts.")
        elif session.ends_at - session.starts_at != expected:
            minutes = int((session.ends_at - session.starts_at).total_seconds() // 60)
            errors.append(
                f"The session on {label} lasts {minutes} minutes; "
                f"sessions of this course last {course.session_minutes} minutes."
            )
    for earlier, later in zip(ordered, ordered[1:], strict=False):
        if later.starts_at < earlier.ends_at:
            errors.append(
                "Sessions overlap: "
                f"{session_label(earlier.starts_at, earlier.ends_at, zone)} and "
                f"{session_label(later.starts_at, later.ends_at, zone)}."
            )
        elif later.starts_at.astimezone(zone).date() != (
            earlier.starts_at.astimezone(zone).date() + timedelta(days=1)
        ):
            errors.append(
                "Sessions must be on consecutive days: "
                f"{earlier.starts_at.astimezone(zone):%A %B %-d} is followed by "
                f"{later.starts_at.astimezone(zone):%A %B %-d}."
            )
    if not ordered:
        raise ValidationError(errors)
    first_local = ordered[0].starts_at.astimezone(zone)
    derived = part_of_day_for(first_local.time())
    if part_of_day != derived:
        errors.append(
            f"A class starting at {clock(first_local)} is "
            f"{_a(Offering.PartOfDay(derived).label.lower())}, not "
            f"{_a(Offering.PartOfDay(part_of_day).label.lower())} "
            f"(evening classes start from {clock(datetime.combine(first_local, EVENING_FROM))})."
        )
    duplicate = Offering.objects.filter(
        course=course, starts_on=first_local.date(), part_of_day=part_of_day
    )
    if offering is not None and offering.pk:
        duplicate = duplicate.exclude(pk=offering.pk)
    if duplicate.exists():
        errors.append(
            f"{course.title} already has a {Offering.PartOfDay(part_of_day).label.lower()} "
            f"starting on {first_local:%B} {first_local.day}, {first_local.year}."
        )
    if errors:
        raise ValidationError(errors)
    return first_local.date()


@transaction.atomic
def offering_create(
    *,
    course: Course,
    part_of_day: str,
    times: Sequence[SessionTimes],
    capacity: int | None = None,
    status: str = Offering.Status.PUBLISHED,
    time_zone: str | None = None,
    registration_opens_at: datetime | None = None,
) -> Offering:
    """Create an offering and its sessions after ``check_session_times``.

    Args:
        capacity: seats; default ``course.default_capacity``.
        time_zone: default ``course.time_zone``.
        registration_opens_at: default now; registration closes at the course's lead time before
            the first session.

    Returns: the saved ``Offering``.
    Raises: ValidationError as ``check_session_times``, or when registration would close before
        it opens.
    """
    time_zone = time_zone or course.time_zone
    starts_on = check_session_times(
        course=course, time_zone=time_zone, part_of_day=part_of_day, times=times
    )
    first_start = min(s.starts_at for s in times)
    opens_at = registration_opens_at or timezone.now()
    closes_at = registration_closes_at(course, first_start)
    if closes_at <= opens_at and first_start > timezone.now():
        raise ValidationError(
            "Registration would open after it closes "
            f"({course.registration_lead_hours} hours before the first session)."
        )
    if closes_at <= opens_at:
        # A class from the past (e.g. a historical schedule): registration is simply closed.
        opens_at = closes_at - timedelta(seconds=1)
    offering = Offering.objects.create(
        course=course,
        starts_on=starts_on,
        part_of_day=part_of_day,
        status=status,
        capacity=capacity if capacity is not None else course.default_capacity,
        time_zone=time_zone,
        registration_opens_at=opens_at,
        registration_closes_at=closes_at,
    )
    Session.objects.bulk_create(
        Session(offering=offering, starts_at=s.starts_at, ends_at=s.ends_at)
        for s in sorted(times, key=lambda s: s.starts_at)
    )
    return offering


def offering_duplicate(offering: Offering, first_day: date) -> Offering:
    """A new draft class of the same course, part of day, capacity, zone and notes, whose first
    session is on ``first_day``: every session at the same wall-clock times in the offering's
    zone (so 9:00 am – 1:00 pm MT stays 9:00 am – 1:00 pm MT across a daylight-saving switch),
    the same number of days apart. Not copied: registrations, the meeting link, instructors.
    Registration opens now and closes at the course's lead time.

    Raises: ValidationError as ``offering_create`` (e.g. a class already on that day and part of
    day, or a first day whose registration would already be closed).
    """
    zone = offering.zone
    sessions = offering.session_list
    if not sessions:
        raise ValidationError("This class has no sessions to copy.")
    first_local = sessions[0].starts_at.astimezone(zone).date()
    times = []
    for session in sessions:
        start = session.starts_at.astimezone(zone)
        end = session.ends_at.astimezone(zone)
        day = first_day + (start.date() - first_local)
        end_day = day + (end.date() - start.date())
        times.append(
            SessionTimes(
                datetime.combine(day, start.time(), tzinfo=zone),
                datetime.combine(end_day, end.time(), tzinfo=zone),
            )
        )
    with transaction.atomic():
        copy = offering_create(
            course=offering.course,
            part_of_day=offering.part_of_day,
            times=times,
            capacity=offering.capacity,
            status=Offering.Status.DRAFT,
            time_zone=offering.time_zone,
        )
        if offering.notes:
            copy.notes = offering.notes
            copy.save(update_fields=["notes"])
    return copy


@transaction.atomic
def offering_reschedule(
    *, offering: Offering, times: Sequence[SessionTimes], capacity: int | None = None
) -> Offering:
    """Move an offering's sessions to new times (and optionally change its capacity).

    Existing session rows are updated in start order, so their ids — and the calendar UIDs made
    from them — stay stable. Registration closes again at the course's lead time before the new
    first session. When the times differ from the stored ones, ``offering_schedule_changed`` raises
    the schedule version and confirmed attendees are told (one update each).

    Raises: ValidationError as ``check_session_times``.
    """
    offering = Offering.objects.select_for_update().get(pk=offering.pk)
    course = offering.course
    offering.starts_on = check_session_times(
        course=course,
        time_zone=offering.time_zone,
        part_of_day=offering.part_of_day,
        times=times,
        offering=offering,
    )
    ordered = sorted(times, key=lambda s: s.starts_at)
    existing = list(offering.sessions.order_by("starts_at"))
    before = session_times(existing)
    for index, new in enumerate(ordered):
        if index < len(existing):
            session = existing[index]
            session.starts_at, session.ends_at = new.starts_at, new.ends_at
            session.save(update_fields=["starts_at", "ends_at"])
        else:
            Session.objects.create(offering=offering, starts_at=new.starts_at, ends_at=new.ends_at)
    for extra in existing[len(ordered) :]:
        extra.delete()
    offering.registration_closes_at = registration_closes_at(course, ordered[0].starts_at)
    if offering.registration_opens_at >= offering.registration_closes_at:
        offering.registration_opens_at = offering.registration_closes_at - timedelta(seconds=1)
    if capacity is not None:
        offering.capacity = capacity
    offering.save()
    if session_times(offering.sessions.order_by("starts_at")) != before:
        offering = offering_schedule_changed(offering, times_changed=True, previous_times=before)
    return offering


def session_times(sessions: Iterable[Session]) -> list[tuple[datetime, datetime]]:
    """``[(starts_at, ends_at), ...]`` of ``sessions`` in start order (for comparing schedules)."""
    return sorted((s.starts_at, s.ends_at) for s in sessions)


@transaction.atomic
def offering_schedule_changed(
    offering: Offering,
    *,
    times_changed: bool = False,
    link_changed: bool = False,
    previous_times: Sequence[tuple[datetime, datetime]] = (),
) -> Offering:
    """Record that an offering's session times or meeting link changed (already saved).

    Raises ``schedule_version`` by one — the calendar ``SEQUENCE`` (RFC 5546 §2.1.4) and part of
    reminder keys — and sends ``courses.signals.offering_changed`` in the same transaction; the
    registrations app then queues one update per confirmed attendee, stating the old times
    (``previous_times``: aware (start, end) pairs before the change, ``session_times``) and the
    new ones. The admin asks staff to confirm first (``OfferingAdmin``, a preview through
    ``courses.signals.offering_change_preview``); the schedule import, run deliberately with
    ``--update``, tells attendees at once.

    Returns: the offering re-read with its new version.
    """
    Offering.objects.filter(pk=offering.pk).update(schedule_version=F("schedule_version") + 1)
    offering = Offering.objects.select_related("course").get(pk=offering.pk)
    offering_changed.send(
        sender=Offering,
        offering=offering,
        times_changed=times_changed,
        link_changed=link_changed,
        previous_times=list(previous_times),
    )
    return offering
