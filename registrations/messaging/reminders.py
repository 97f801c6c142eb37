"""Reminders before each class: which are due, and sending each exactly once.

A course's reminder schedule (``Course.reminder_schedule``, edited in the admin; default 7 days
and 1 day before the first session and 1 hour before each session) gives, for every confirmed
registration, one reminder per (session, offset). Celery beat runs ``reminders_send_due`` every few
minutes (no long-ETA tasks: ``docs/architecture.md``, "An email's life"). A reminder is *due*
once its moment (session start − offset) has passed and until its session starts, so one whose
moment passed while the worker was down still goes out before the session.

Rules:

* Only confirmed registrations get reminders; a reminder queued before a cancellation is skipped
  when sent (the ``still_wanted`` hook).
* Each reminder is one ``OutboundEmail`` with ``dedupe_key``
  ``reminder:<registration>:<session>:<offset minutes>:<schedule version>``, so running the task
  twice, or on two workers at once, queues it once.
* A reminder counts as done when a reminder row for the same (registration, session, offset),
  of any schedule version, was made at or after its moment. After a change of times (a new
  schedule version) a reminder whose moment moved later is therefore sent again at its new
  moment; one already sent inside its new window is not repeated.
* When several reminders of one registration are due and not done at once (a late registrant,
  a long outage), only the latest of them is sent; the others are recorded as ``skipped``. So is
  any due reminder older than one already done.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import shared_task
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from courses.models import Session
from courses.reminder_schedule import MAX_MINUTES, ReminderOffset
from courses.timefmt import local_range_label, session_label, with_viewer
from registrations.enums import RegistrationState as S
from registrations.models import Registration

from .models import OutboundEmail
from .notices import attendee_context, attendee_zone, confirmed_only, with_links
from .outbox import email_queue, register_kind

logger = logging.getLogger("citreg.reminders")

# The manage link is made when the reminder is sent (``notices.with_links``), never stored.
REMINDER = register_kind(
    "reminder", "Reminder", still_wanted=confirmed_only, refresh_context=with_links
)


@dataclass(frozen=True)
class DueReminder:
    """One (registration, session, offset) whose moment ``due_at`` has passed before its
    session starts."""

    registration: Registration
    session: Session
    number: int
    offset: ReminderOffset
    due_at: datetime

    @property
    def prefix(self) -> str:
        return f"reminder:{self.registration.pk}:{self.session.pk}:{self.offset.minutes}:"

    @property
    def dedupe_key(self) -> str:
        return f"{self.prefix}{self.registration.offering.schedule_version}"


@dataclass(frozen=True)
class ReminderRun:
    """What ``reminders_send_due`` did: rows queued and rows recorded as skipped."""

    queued: int = 0
    skipped: int = 0


def due_reminders(registration: Registration, now: datetime) -> list[DueReminder]:
    """The reminders of ``registration`` whose moment is at or before ``now`` and whose session
    has not started, oldest moment first (none unless confirmed).

    Args:
        registration: with ``offering__course`` and the offering's sessions loaded ideally.
        now: aware datetime.
    """
    if registration.state != S.CONFIRMED:
        return []
    offering = registration.offering
    try:
        offsets = offering.course.reminder_offsets
    except ValidationError:
        logger.error("reminders.bad_schedule course=%s", offering.course_id)
        return []
    found: dict[tuple[int, int], DueReminder] = {}
    for number, session in enumerate(offering.session_list, start=1):
        if session.starts_at <= now:
            continue
        for offset in offsets:
            if number > 1 and not offset.each_session:
                continue
            due_at = session.starts_at - timedelta(minutes=offset.minutes)
            if due_at <= now:
                found.setdefault(
                    (session.pk, offset.minutes),
                    DueReminder(registration, session, number, offset, due_at),
                )
    return sorted(found.values(), key=lambda r: (r.due_at, r.session.starts_at))


def _done(reminder: DueReminder, rows: list[tuple[str, datetime]]) -> bool:
    return any(
        key == reminder.dedupe_key or (key.startswith(reminder.prefix) and made >= reminder.due_at)
        for key, made in rows
    )


def when_label(registration: Registration, session: Session) -> str:
    """The session's day and times for a reminder's subject and first line: MT, and the
    attendee's own time beside it when their recorded zone reads differently (the
    ``courses.timefmt`` rules, as on the pages), e.g. "Thursday, March 18, 2027, 9:00 am –
    1:00 pm MDT (your time: 11:00 am – 3:00 pm EDT)"."""
    zone = registration.offering.zone
    text = session_label(session.starts_at, session.ends_at, zone)
    own = attendee_zone(registration)
    if own is None:
        return text
    return with_viewer(text, local_range_label(session.starts_at, session.ends_at, zone, own))


def _context(reminder: DueReminder) -> dict:
    return {
        **attendee_context(reminder.registration),
        "session_number": reminder.number,
        "when": when_label(reminder.registration, reminder.session),
    }


def _skip(reminder: DueReminder, because: str) -> bool:
    registration = reminder.registration
    try:
        with transaction.atomic():
            _, created = OutboundEmail.objects.get_or_create(
                dedupe_key=reminder.dedupe_key,
                defaults={
                    "kind": REMINDER,
                    "status": OutboundEmail.Status.SKIPPED,
                    "to_email": registration.email,
                    "to_name": registration.full_name,
                    "template": "emails/reminder",
                    "registration": registration,
                    "next_attempt_at": None,
                    "last_error": because,
                },
            )
    except IntegrityError:
        return False
    return created


def reminders_for_registration(registration: Registration, now: datetime) -> ReminderRun:
    """Queue the latest due, not yet done reminder of one registration; record the other due
    ones as skipped. Returns the counts of rows made by this call."""
    due = due_reminders(registration, now)
    if not due:
        return ReminderRun()
    rows = list(
        OutboundEmail.objects.filter(
            registration=registration,
            kind=REMINDER,
            dedupe_key__startswith=f"reminder:{registration.pk}:",
        ).values_list("dedupe_key", "created_at")
    )
    latest = due[-1]
    queued = skipped = 0
    for reminder in due[:-1]:
        if not _done(reminder, rows):
            label = latest.offset.label
            skipped += _skip(reminder, f"Skipped: the later reminder ({label}) was due too.")
    if not _done(latest, rows):
        queued_now = email_queue(
            kind=REMINDER,
            to_email=registration.email,
            to_name=registration.full_name,
            template="emails/reminder",
            context=_context(latest),
            dedupe_key=latest.dedupe_key,
            registration=registration,
        )
        queued += queued_now.created
    return ReminderRun(queued, skipped)


def reminders_send_due(now: datetime | None = None) -> ReminderRun:
    """Beat task body: queue every due reminder (see the module's rules).

    Args:
        now: aware datetime; default the current time.

    Returns: a ``ReminderRun`` with the rows this run queued and skipped (a second run finds
    nothing new).
    """
    now = now or timezone.now()
    registrations = (
        Registration.objects.filter(
            state=S.CONFIRMED,
            offering__sessions__starts_at__gt=now,
            offering__sessions__starts_at__lte=now + timedelta(minutes=MAX_MINUTES),
        )
        .distinct()
        .select_related("offering__course")
        .prefetch_related("offering__sessions")
        .order_by("pk")
    )
    queued = skipped = 0
    for registration in registrations:
        with transaction.atomic():
            run = reminders_for_registration(registration, now)
        queued += run.queued
        skipped += run.skipped
    if queued or skipped:
        logger.info("reminders.run queued=%s skipped=%s", queued, skipped)
    return ReminderRun(queued, skipped)


@shared_task(name="registrations.send_due_reminders", ignore_result=True)
def send_due_reminders() -> int:
    """Beat, every few minutes: queue the reminders that are due. Returns how many were
    queued."""
    return reminders_send_due().queued
