"""Staff's "email the attendees": placeholders, recipients, preview, paced sending, progress.

Staff write a subject and a plain-text body with placeholders such as ``{first_name}``. Only the
names in ``PLACEHOLDERS`` are substituted, by a regular expression, never ``str.format`` (which
would allow ``{registration.__class__}``-style attribute access); any other ``{...}`` is refused
before anything is sent. ``{{`` and ``}}`` write literal braces.

Sending creates one ``OutboundEmail`` per recipient at once (``dedupe_key``
``broadcast:<broadcast>:<registration>``, so sending twice creates nothing new), spaced
``60 / BROADCAST_RATE_PER_MINUTE`` seconds apart in ``next_attempt_at``, and starts a pump task
that publishes each row when its moment comes and re-enqueues itself a few seconds later while
rows remain queued (no long ETAs). The rows form the outbox batch ``Broadcast.batch_key``, which
the outbox's sweeper leaves to the pump; this module's own beat entry restarts a pump that
stopped. The outbox (``registrations.messaging.outbox``) then sends, retries temporary failures
and records permanent ones; "retry failed" queues the failed rows again at the same pace. The rows
are the progress: queued, sent, failed (with their errors).
"""

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import shared_task
from celery.app.task import Task
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from registrations import links
from registrations.enums import AUDIENCE_STATES, INACTIVE_STATES
from registrations.enums import BroadcastAudience as Audience
from registrations.enums import RegistrationState as S
from registrations.models import Broadcast, Registration

from .models import OutboundEmail
from .notices import active_only, manage_url_for
from .outbox import (
    PERSONAL_LINK,
    email_queue,
    enqueue_send,
    register_kind,
    render_email,
    retry_for_missing_row,
)

Status = OutboundEmail.Status
logger = logging.getLogger("citreg.email")

PLACEHOLDERS = {
    "first_name": "the recipient's first name",
    "last_name": "the recipient's last name",
    "course_title": "the course's title",
    "offering_dates": 'the class\'s dates, e.g. "March 18–19, 2027"',
    "manage_url": "the recipient's own manage-registration link",
    "meeting_url": "the meeting link (confirmed attendees only)",
}
MEETING_URL_WITHHELD = "(the meeting link is sent to confirmed attendees)"
# What ``{manage_url}`` shows in a staff preview: never a working link (``docs/architecture.md``,
# "Security and privacy").
PREVIEW_MANAGE_URL = "[personal link: the recipient's own registration page]"
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
PUMP_MAX_WAIT_SECONDS = 5.0
PUMP_STALE_SECONDS = 30.0


def unknown_placeholders(text: str) -> list[str]:
    """The ``{...}`` in ``text`` that are not known placeholders, in order, without repeats."""
    found: list[str] = []
    for match in _TOKEN.finditer(text):
        name = match.group(1)
        if name is not None and name not in PLACEHOLDERS and name not in found:
            found.append(name)
    return found


def validate_template_text(text: str) -> None:
    """Refuse staff text with unknown placeholders or a lone brace.

    Raises: ValidationError naming each unknown ``{...}`` and listing the known ones.
    """
    stray = _TOKEN.sub("", text)
    if "{" in stray or "}" in stray:
        raise ValidationError(
            "A brace is not closed or not opened. Placeholders look like {first_name}; write "
            "{{ and }} for literal braces."
        )
    unknown = unknown_placeholders(text)
    if unknown:
        names = ", ".join("{" + name + "}" for name in unknown)
        known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
        raise ValidationError(
            f"Unknown placeholder{'s' if len(unknown) > 1 else ''} {names}. You can use {known}; "
            "write {{ and }} for literal braces."
        )


def substitute(text: str, values: dict[str, str]) -> str:
    """Replace the known placeholders in ``text`` with ``values`` (plain text, not escaped).

    Raises: ValidationError for unknown placeholders (``validate_template_text``).
    """
    validate_template_text(text)

    def replace(match: re.Match) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return values[match.group(1)]

    return _TOKEN.sub(replace, text)


def placeholder_values(registration: Registration, *, manage_url: str = "") -> dict[str, str]:
    """The placeholder values for one recipient; the meeting link only if confirmed.

    Args:
        manage_url: what ``{manage_url}`` becomes; default the recipient's own link, made now.
            The stored context and the preview pass a placeholder instead (``docs/architecture.md``,
            "Security and privacy").
    """
    offering = registration.offering
    confirmed = registration.state == S.CONFIRMED
    meeting = offering.join_url if confirmed else MEETING_URL_WITHHELD
    return {
        "first_name": registration.first_name,
        "last_name": registration.last_name,
        "course_title": offering.course.title,
        "offering_dates": offering.date_label,
        "manage_url": manage_url or links.manage_url(registration),
        "meeting_url": meeting or "(the meeting link follows before the class)",
    }


def recipients(broadcast: Broadcast) -> QuerySet[Registration]:
    """The registrations a broadcast goes to, by its audience: confirmed, waitlisted, seat held
    or payment processing, every active registration of the offering, or the selected ones."""
    if broadcast.audience == Audience.SELECTED:
        queryset = broadcast.selected.all() if broadcast.pk else Registration.objects.none()
    else:
        queryset = Registration.objects.filter(offering=broadcast.offering_id)
        if broadcast.audience == Audience.ACTIVE:
            queryset = queryset.exclude(state__in=INACTIVE_STATES)
        else:
            queryset = queryset.filter(state__in=AUDIENCE_STATES[broadcast.audience])
    return (
        queryset.select_related("offering__course")
        .prefetch_related("offering__sessions")
        .order_by("pk")
    )


def message_context(
    broadcast: Broadcast, registration: Registration, *, manage_url: str = ""
) -> dict:
    """The outbox context of one recipient's message (``templates/emails/broadcast``);
    ``manage_url`` as in ``placeholder_values``."""
    values = placeholder_values(registration, manage_url=manage_url)
    return {
        "broadcast": broadcast.pk,
        "subject": substitute(broadcast.subject, values),
        "body": substitute(broadcast.body, values),
        "recipient_name": "",  # the staff's text has its own greeting
    }


def refresh_context(email: OutboundEmail) -> dict:
    """Outbox hook: placeholders take their values when the message is sent, not when it was
    queued, so a recipient who is no longer confirmed by their turn does not get the meeting
    link, and the manage link is made only now (``notices.manage_url_for``: for the address the
    message goes to), never stored."""
    broadcast = Broadcast.objects.filter(pk=email.context.get("broadcast")).first()
    if broadcast is None or email.registration is None:
        return email.context
    return message_context(broadcast, email.registration, manage_url=manage_url_for(email))


BROADCAST = register_kind(
    "broadcast",
    "Message from staff (broadcast)",
    still_wanted=active_only,
    refresh_context=refresh_context,
)


def batch_emails(broadcast: Broadcast | int) -> QuerySet[OutboundEmail]:
    """The outbox rows of a broadcast (its batch)."""
    if isinstance(broadcast, int):
        broadcast = Broadcast(pk=broadcast)
    return OutboundEmail.objects.filter(batch=broadcast.batch_key)


@dataclass(frozen=True)
class Preview:
    """One recipient's rendered message."""

    registration: Registration
    subject: str
    text: str
    html: str


def preview(broadcast: Broadcast, registration: Registration | None = None) -> Preview | None:
    """Render the message for ``registration`` (default: the first recipient) as it will be
    sent, but with ``PREVIEW_MANAGE_URL`` for the recipient's manage link: staff never see a
    working one. None when there is no recipient. Raises ValidationError for unknown
    placeholders."""
    registration = registration or recipients(broadcast).first()
    if registration is None:
        return None
    row = OutboundEmail(
        to_email=registration.email,
        to_name=registration.full_name,
        template="emails/broadcast",
        context=message_context(broadcast, registration, manage_url=PREVIEW_MANAGE_URL),
    )
    subject, text, html = render_email(row)
    return Preview(registration, subject, text, html)


def pace() -> timedelta:
    """Spacing between two messages of a broadcast: 60 / ``BROADCAST_RATE_PER_MINUTE`` s."""
    return timedelta(seconds=60 / settings.BROADCAST_RATE_PER_MINUTE)


class AlreadySent(Exception):  # noqa: N818 — the domain's name for it
    """The broadcast was sent before (each broadcast is sent once; use "retry failed")."""


def broadcast_send(broadcast: Broadcast, *, user: User | None) -> int:
    """Send a broadcast: one queued ``OutboundEmail`` per recipient, paced; starts the pump.

    Args:
        broadcast: a saved, unsent broadcast.
        user: the staff member sending it (recorded as ``sent_by``).

    Returns: the number of recipients.

    Raises:
        ValidationError: unknown placeholders, or nobody to send to.
        AlreadySent: when it was sent before.
    """
    validate_template_text(broadcast.subject)
    validate_template_text(broadcast.body)
    with transaction.atomic():
        locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        if locked.sent_at is not None:
            raise AlreadySent(f"This message was already sent on {locked.sent_at:%Y-%m-%d %H:%M}.")
        people = list(recipients(locked))
        if not people:
            raise ValidationError("Nobody to send to: no registration matches the recipients.")
        now = timezone.now()
        step = pace()
        for index, registration in enumerate(people):
            email_queue(
                kind=BROADCAST,
                to_email=registration.email,
                to_name=registration.full_name,
                template="emails/broadcast",
                context=message_context(locked, registration, manage_url=PERSONAL_LINK),
                dedupe_key=f"broadcast:{locked.pk}:{registration.pk}",
                registration=registration,
                batch=locked.batch_key,
                not_before=now + index * step,
                publish=False,
            )
        locked.sent_at, locked.sent_by = now, user
        locked.save(update_fields=["sent_at", "sent_by"])
        transaction.on_commit(lambda: start_pump(locked.pk))
    broadcast.sent_at, broadcast.sent_by = locked.sent_at, locked.sent_by
    return len(people)


def start_pump(broadcast_id: int) -> None:
    """Enqueue the pump task for a broadcast (never raises: ``restart_stalled_pumps`` is the
    safety net)."""
    try:
        pump_broadcast.delay(broadcast_id)
    except Exception:  # noqa: BLE001, S110 — broker down: the sweeper restarts the pump later.
        pass


def broadcasts_restart_stalled(now: datetime | None = None) -> list[int]:
    """Restart the pump of every broadcast with queued messages whose pump has not run for
    ``PUMP_STALE_SECONDS`` (its start was lost to a broker outage, or its worker died).

    Returns: the ids of the broadcasts whose pump was started. Run by this module's beat entry
    (``restart_stalled_pumps``).
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=PUMP_STALE_SECONDS)
    batches = (
        OutboundEmail.objects.filter(
            batch__startswith="broadcast:", status=Status.QUEUED, next_attempt_at__lte=now
        )
        .values_list("batch", flat=True)
        .distinct()
    )
    candidates = {int(batch.partition(":")[2]) for batch in batches}
    _skip_orphans(candidates, now)
    ids = list(
        Broadcast.objects.filter(pk__in=candidates)
        .filter(Q(pumped_at__isnull=True) | Q(pumped_at__lte=stale))
        .filter(Q(sent_at__lte=stale))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for pk in ids:
        start_pump(pk)
    return ids


def _skip_orphans(candidates: set[int], now: datetime) -> None:
    """Queued messages of a broadcast that was deleted (the admin deletes only unsent ones; a
    shell or a script could) have no pump to send them and the sweeper leaves batch rows alone:
    they are skipped, with the reason, and logged."""
    orphans = candidates - set(
        Broadcast.objects.filter(pk__in=candidates).values_list("pk", flat=True)
    )
    for pk in sorted(orphans):
        skipped = (
            batch_emails(pk)
            .filter(status=Status.QUEUED)
            .update(
                status=Status.SKIPPED,
                last_error="Not sent: the email to attendees was deleted.",
                next_attempt_at=None,
                updated_at=now,
            )
        )
        logger.error("broadcast.deleted_while_sending broadcast=%s skipped=%s", pk, skipped)


@dataclass(frozen=True)
class PumpResult:
    """What one pump step did: rows published; ``next_in`` seconds until the next step, None
    when no row of the broadcast is queued any more."""

    published: int
    next_in: float | None


def broadcast_pump(broadcast_id: int, now: datetime | None = None) -> PumpResult:
    """Publish the broadcast's queued rows whose moment has come (one pump step).

    Each published row's ``next_attempt_at`` moves ``EMAIL_SENDING_TIMEOUT_SECONDS`` ahead, so the
    next step does not publish it again; if that publish was lost the row is published again then.
    Sending the same row twice is harmless: the row decides. Each step records ``pumped_at``;
    the sweeper restarts a pump that has stopped (``PUMP_STALE_SECONDS``) instead of publishing
    the broadcast's rows itself, so the pace holds after a broker or worker outage too.

    Returns: a ``PumpResult``; ``next_in`` is at most ``PUMP_MAX_WAIT_SECONDS``.
    """
    now = now or timezone.now()
    rows = batch_emails(broadcast_id).filter(status=Status.QUEUED)
    Broadcast.objects.filter(pk=broadcast_id).update(pumped_at=timezone.now())
    with transaction.atomic():
        due = list(
            rows.filter(next_attempt_at__lte=now)
            .select_for_update(skip_locked=True)
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)
        )
        OutboundEmail.objects.filter(pk__in=due).update(
            next_attempt_at=now + timedelta(seconds=settings.EMAIL_SENDING_TIMEOUT_SECONDS),
            updated_at=now,
        )
    for pk in due:
        enqueue_send(pk)
    upcoming = rows.aggregate(first=Min("next_attempt_at"))["first"]
    if upcoming is None and not rows.exists():
        return PumpResult(len(due), None)
    wait = (upcoming - timezone.now()).total_seconds() if upcoming else PUMP_MAX_WAIT_SECONDS
    return PumpResult(len(due), min(max(wait, 0.05), PUMP_MAX_WAIT_SECONDS))


def broadcast_retry_failed(broadcast: Broadcast) -> int:
    """Queue the broadcast's failed messages again (attempts restart), paced; starts the pump.

    Returns: how many were queued again.
    """
    with transaction.atomic():
        failed = list(
            batch_emails(broadcast)
            .select_for_update()
            .filter(status=Status.FAILED)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        now, step = timezone.now(), pace()
        for index, pk in enumerate(failed):
            OutboundEmail.objects.filter(pk=pk).update(
                status=Status.QUEUED,
                attempts=0,
                next_attempt_at=now + index * step,
                last_error="",
                updated_at=now,
            )
        if failed:
            transaction.on_commit(lambda: start_pump(broadcast.pk))
    return len(failed)


@dataclass(frozen=True)
class Progress:
    """Counts of a broadcast's messages by status; ``running`` while any is queued or sending."""

    total: int
    queued: int
    sending: int
    sent: int
    failed: int
    skipped: int

    @property
    def running(self) -> bool:
        return bool(self.queued or self.sending)


def progress(broadcast: Broadcast) -> Progress:
    """The broadcast's progress, from its ``OutboundEmail`` rows (one query)."""
    counts = dict(
        batch_emails(broadcast)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    return Progress(
        total=sum(counts.values()),
        queued=counts.get(Status.QUEUED, 0),
        sending=counts.get(Status.SENDING, 0),
        sent=counts.get(Status.SENT, 0),
        failed=counts.get(Status.FAILED, 0),
        skipped=counts.get(Status.SKIPPED, 0),
    )


@shared_task(name="registrations.pump_broadcast", bind=True, acks_late=True, ignore_result=True)
def pump_broadcast(self: Task, broadcast_id: int) -> int:
    """Publish a broadcast's messages whose moment came; run again a few seconds later while any
    are queued (``broadcast_pump``). Returns how many were published. A broadcast it cannot see
    is waited for, then reported (``outbox.retry_for_missing_row``)."""
    if not Broadcast.objects.filter(pk=broadcast_id).exists():
        retry_for_missing_row(self, model="Broadcast", row_id=broadcast_id)
    result = broadcast_pump(broadcast_id)
    if result.next_in is not None:
        pump_broadcast.apply_async(args=(broadcast_id,), countdown=result.next_in)
    return result.published


@shared_task(name="registrations.restart_stalled_pumps", ignore_result=True)
def restart_stalled_pumps() -> int:
    """Beat, every minute: restart the pumps of broadcasts whose publishing stopped (a broker
    outage, a dead worker). Returns how many were restarted."""
    return len(broadcasts_restart_stalled())
