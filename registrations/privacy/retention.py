"""How long each kind of personal data is kept, the daily task that applies it, and how the
privacy notice says it.

The periods are settings (``citreg/settings/base.py``, whole days from the environment):

* ``SENSITIVE_DETAILS_RETENTION`` (default 30 days): accessibility needs, phone and supervisor
  name and email are removed this long after the class ends, whatever the registration's state.
* ``EMAIL_BODY_RETENTION`` (90 days): the subject stays, the bodies, context and attachments of
  a sent (or failed, or skipped) email go this long after it was queued; the row and its status
  stay (``body_removed_at``).
* ``WEBHOOK_PAYLOAD_RETENTION`` (90 days): a Stripe event's payload goes this long after it was
  received; the row (its id, type, outcome) stays, so a replay is still recognised
  (``payload_removed_at``).
* ``UNFINISHED_REGISTRATION_RETENTION`` (365 days): a registration that never became a training
  record is anonymised this long after its last change (``updated_at``). Unfinished means ended
  without a seat (rejected, cancelled, refunded: ``INACTIVE_STATES``), or still waiting
  (``OPEN_UNFINISHED_STATES``: work email or review pending, eligible but unpaid, waitlisted,
  held, payment processing, hold expired) for a class that has ended: it can no longer finish.
  A waiting registration for a class still to come is left alone, however old.
* ``TRAINING_RECORD_RETENTION`` (2557 days, about 7 years; CE rules in several states ask for 5):
  a confirmed or completed registration (``TRAINING_RECORD_STATES``) keeps name, course email,
  agency, attendance, certificate and payment this long after the class ends, then is
  anonymised.
* ``SIGN_IN_LOG_RETENTION`` (90 days): django-axes's records of staff sign-ins, failed sign-ins
  and lockouts (username, client address, browser) are deleted this long after the attempt.

"The class ends" is the end of its last session. What removing means is ``privacy.scrub``.
Payments and refunds are never removed: they are the financial record.
"""

import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from celery import shared_task
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from registrations.attendance.models import ImportedParticipant
from registrations.enums import INACTIVE_STATES
from registrations.enums import RegistrationState as S
from registrations.messaging.models import OutboundEmail
from registrations.models import Registration
from registrations.payments.models import WebhookEvent
from registrations.transitions import Actor

from . import scrub

logger = logging.getLogger(__name__)

# A place was taken and paid for: after the class, the training record.
TRAINING_RECORD_STATES: tuple[str, ...] = (S.CONFIRMED, S.COMPLETED)
# Waiting for something; once the class has ended, it can no longer come.
OPEN_UNFINISHED_STATES: tuple[str, ...] = (
    S.PENDING_EMAIL,
    S.PENDING_REVIEW,
    S.ELIGIBLE,
    S.WAITLISTED,
    S.HELD,
    S.PROCESSING,
    S.EXPIRED,
)
# Emails whose sending is over: their bodies may go.
_DONE_EMAIL_STATUSES = (
    OutboundEmail.Status.SENT,
    OutboundEmail.Status.FAILED,
    OutboundEmail.Status.SKIPPED,
)


@dataclass(frozen=True)
class RetentionPeriods:
    """The configured periods (whole days)."""

    sensitive_details: timedelta
    email_bodies: timedelta
    webhook_payloads: timedelta
    unfinished_registrations: timedelta
    training_records: timedelta
    sign_in_logs: timedelta
    attendance_reports: timedelta


SETTING_NAMES = {
    "sensitive_details": "SENSITIVE_DETAILS_RETENTION",
    "email_bodies": "EMAIL_BODY_RETENTION",
    "webhook_payloads": "WEBHOOK_PAYLOAD_RETENTION",
    "unfinished_registrations": "UNFINISHED_REGISTRATION_RETENTION",
    "training_records": "TRAINING_RECORD_RETENTION",
    "sign_in_logs": "SIGN_IN_LOG_RETENTION",
    "attendance_reports": "ATTENDANCE_REPORT_RETENTION",
}


def periods() -> RetentionPeriods:
    """The retention periods from settings.

    Raises: ImproperlyConfigured when one is missing, not a ``timedelta`` of whole days, or
    shorter than one day.
    """
    values = {}
    for name, setting in SETTING_NAMES.items():
        value = getattr(settings, setting, None)
        if not isinstance(value, timedelta) or value < timedelta(days=1) or value.seconds:
            raise ImproperlyConfigured(f"{setting} must be a whole number of days, at least 1.")
        values[name] = value
    return RetentionPeriods(**values)


def describe(period: timedelta) -> str:
    """A period in words, e.g. "30 days", "365 days (about 12 months)", "2557 days (about 7
    years)"."""
    days = period.days
    text = f"{days} day{'s' if days != 1 else ''}"
    if days >= 730:
        return f"{text} (about {round(days / 365.25)} years)"
    if days >= 60:
        return f"{text} (about {round(days / 30.44)} months)"
    return text


def notice_lines(retention: RetentionPeriods | None = None) -> list[str]:
    """What the privacy notice says about retention, generated from the settings (one sentence
    per kind of data), so the notice cannot disagree with what the task does."""
    p = retention or periods()
    return [
        "Accessibility needs, phone numbers and your supervisor's name and email: removed "
        f"{describe(p.sensitive_details)} after your class ends.",
        "The text of the emails we send you: removed "
        f"{describe(p.email_bodies)} after sending. We keep a record that a message was sent, "
        "without its text.",
        "The notifications our payment processor sends us about a payment: removed "
        f"{describe(p.webhook_payloads)} after we receive them. We keep a record that they "
        "arrived, without their content.",
        "A registration that never led to a seat in a class (not confirmed, not eligible, "
        "cancelled, refunded, or still waiting when the class took place): anonymised "
        f"{describe(p.unfinished_registrations)} after its last change.",
        "Your training record (your name, course email, agency, attendance, certificate and "
        f"payment): kept {describe(p.training_records)} after your class ends, because "
        "continuing-education rules ask for proof of training for years, then anonymised.",
        "Your name and email as the video platform's attendance report wrote them: removed "
        f"{describe(p.attendance_reports)} after the report was imported. The minutes you "
        "attended stay in your training record.",
        "Payment amounts and our payment processor's reference numbers are kept as financial "
        "records. You can ask us to erase your personal data sooner; we then keep only what "
        "the training and financial records need.",
    ]


# The end of the class: the end of its last session.
CLASS_ENDS_AT = Max("offering__sessions__ends_at")


def training_records_due(now: datetime, p: RetentionPeriods) -> QuerySet[Registration]:
    """Training records whose class ended longer ago than ``TRAINING_RECORD_RETENTION``."""
    return (
        Registration.objects.filter(state__in=TRAINING_RECORD_STATES, anonymised_at__isnull=True)
        .annotate(class_ends_at=CLASS_ENDS_AT)
        .filter(class_ends_at__lte=now - p.training_records)
    )


def unfinished_due(now: datetime, p: RetentionPeriods) -> QuerySet[Registration]:
    """Unfinished registrations unchanged for longer than ``UNFINISHED_REGISTRATION_RETENTION``:
    ended ones, and waiting ones whose class has ended (or has no sessions)."""
    class_over = Q(class_ends_at__isnull=True) | Q(class_ends_at__lte=now)
    return (
        Registration.objects.filter(
            anonymised_at__isnull=True, updated_at__lte=now - p.unfinished_registrations
        )
        .annotate(class_ends_at=CLASS_ENDS_AT)
        .filter(Q(state__in=INACTIVE_STATES) | (Q(state__in=OPEN_UNFINISHED_STATES) & class_over))
    )


def sensitive_due(now: datetime, p: RetentionPeriods) -> QuerySet[Registration]:
    """Registrations whose class ended longer ago than ``SENSITIVE_DETAILS_RETENTION`` and whose
    sensitive details are still there."""
    return (
        Registration.objects.filter(
            sensitive_details_removed_at__isnull=True, anonymised_at__isnull=True
        )
        .annotate(class_ends_at=CLASS_ENDS_AT)
        .filter(class_ends_at__lte=now - p.sensitive_details)
    )


def _batches(queryset: QuerySet, batch_size: int) -> Iterator[list[int]]:
    """The primary keys of ``queryset``, ``batch_size`` at a time in key order. Rows done in
    between drop out of the query; the cursor keeps a row that could not be done from being
    read again."""
    last = 0
    while ids := list(
        queryset.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch_size]
    ):
        yield ids
        last = ids[-1]


def _ids(queryset: QuerySet, batch_size: int) -> Iterator[int]:
    for ids in _batches(queryset, batch_size):
        yield from ids


def _update_in_batches(queryset: QuerySet, batch_size: int, **changes: object) -> int:
    """``queryset.update(**changes)``, ``batch_size`` rows per statement (short locks)."""
    return sum(
        queryset.filter(pk__in=ids).update(**changes) for ids in _batches(queryset, batch_size)
    )


@dataclass(frozen=True)
class RetentionReport:
    """How many rows one run changed."""

    training_records_anonymised: int = 0
    unfinished_anonymised: int = 0
    sensitive_details_removed: int = 0
    email_bodies_removed: int = 0
    webhook_payloads_removed: int = 0
    sign_in_records_deleted: int = 0
    report_names_removed: int = 0


def apply_retention(now: datetime | None = None, batch_size: int | None = None) -> RetentionReport:
    """Apply every retention period at ``now`` (default: the current time).

    Each registration is done in its own transaction (``scrub.apply``), so an interrupted run
    keeps what it did and the next one carries on. Idempotent: rows already done carry their
    stamps (``anonymised_at``, ``sensitive_details_removed_at``, ``body_removed_at``,
    ``payload_removed_at``) and are not selected again, so a second run changes nothing.

    Args:
        now: the moment the periods are counted back from (aware).
        batch_size: rows read per query (default ``RETENTION_BATCH_SIZE``).

    Returns: a ``RetentionReport`` of what changed.

    Raises: ImproperlyConfigured for a bad period (``periods``).
    """
    now = now or timezone.now()
    p = periods()
    size = batch_size or settings.RETENTION_BATCH_SIZE
    system = Actor.system()
    # (scope, the registrations due, the note each gets), in this order: anonymising first, so
    # a registration due for both is not stripped of its sensitive details a moment before.
    passes = [
        (scrub.ANONYMISE, training_records_due(now, p),
         "Personal data anonymised: the training record was kept "
         f"{describe(p.training_records)} after the class ended (TRAINING_RECORD_RETENTION)."),
        (scrub.ANONYMISE, unfinished_due(now, p),
         "Personal data anonymised: the registration never finished and was unchanged "
         f"for {describe(p.unfinished_registrations)} (UNFINISHED_REGISTRATION_RETENTION)."),
        (scrub.SENSITIVE, sensitive_due(now, p),
         "Accessibility needs, phone and supervisor details removed "
         f"{describe(p.sensitive_details)} after the class ended (SENSITIVE_DETAILS_RETENTION)."),
    ]  # fmt: skip
    records, unfinished, sensitive = (
        sum(scrub.apply(scope, pk, now=now, actor=system, note=note) for pk in _ids(due, size))
        for scope, due, note in passes
    )
    emails = _update_in_batches(
        OutboundEmail.objects.filter(
            body_removed_at__isnull=True,
            created_at__lte=now - p.email_bodies,
            status__in=_DONE_EMAIL_STATUSES,
        ),
        size,
        text_body="",
        html_body="",
        context={},
        attachments=[],
        body_removed_at=now,
    )
    payloads = _update_in_batches(
        WebhookEvent.objects.filter(
            payload_removed_at__isnull=True, received_at__lte=now - p.webhook_payloads
        ),
        size,
        payload={},
        payload_removed_at=now,
    )
    # Names and addresses as the video platform wrote them (guests' too); the intervals and the
    # minutes they gave stay.
    report_rows = _update_in_batches(
        ImportedParticipant.objects.filter(
            attendance_import__created_at__lte=now - p.attendance_reports
        ).exclude(name="", email=""),
        size,
        name="",
        email="",
    )
    sign_ins = sum(
        model.objects.filter(attempt_time__lte=now - p.sign_in_logs).delete()[0]
        for model in (AccessLog, AccessFailureLog, AccessAttempt)
    )
    report = RetentionReport(
        records, unfinished, sensitive, emails, payloads, sign_ins, report_rows
    )
    logger.info(
        "privacy.retention %s", " ".join(f"{key}={value}" for key, value in asdict(report).items())
    )
    return report


@shared_task(
    name="registrations.apply_retention",
    ignore_result=True,
    soft_time_limit=50 * 60,
    time_limit=55 * 60,
)
def apply_retention_task() -> dict[str, int]:
    """Beat, daily: apply the retention periods (``apply_retention``). Its time limits (50 and 55
    minutes, above the default two) allow a first run on years of rows; a run stopped by them
    keeps what it did, and the next day's run carries on."""
    return asdict(apply_retention())


@shared_task(name="registrations.clear_expired_sessions", ignore_result=True)
def clear_expired_sessions_task() -> None:
    """Beat, daily: delete expired sessions (Django's ``clearsessions``), with the link grants
    they hold."""
    call_command("clearsessions")
