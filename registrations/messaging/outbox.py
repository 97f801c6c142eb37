"""The outbox: every message is a recorded ``OutboundEmail`` row, sent once, never lost.

The outbox knows none of its senders. Each kind of message is registered by the module that sends
it (``register_kind``), with two optional hooks: ``still_wanted`` (asked when the row is claimed;
a reason not to send marks it skipped) and ``refresh_context`` (the context is rebuilt just before
rendering). Rows of a ``batch`` are published by their sender (a broadcast's pump), not by the
sweeper.

* ``email_queue`` creates the row (or finds the one with the same ``dedupe_key``) and enqueues the
  send task after the transaction commits, so a rolled-back transaction sends nothing.
* ``email_send`` (called by the task with the row id) locks the row, returns at once when it is
  already sent or another worker is sending it, renders, sends, and records the outcome.
  Temporary failures (SMTP 4xx, connection errors, timeouts) are retried with exponential backoff
  recorded in ``next_attempt_at``; permanent ones (SMTP 5xx) are recorded as failed.
* ``email_sweep`` (beat, every minute) re-enqueues rows left queued past ``next_attempt_at`` or
  stuck in ``sending`` past ``EMAIL_SENDING_TIMEOUT_SECONDS``, so a broker outage or a dead worker
  delays a message but never loses it.

Delivery is at-least-once: a message goes out twice only if a worker dies between the SMTP server
accepting it and the row being marked sent. Retry rules follow RFC 5321 §4.2.1 (4yz transient,
5yz permanent).

The outbox keeps no bearer token (``docs/architecture.md``, "Security and privacy"). A personal link
(any URL carrying a value signed by ``django.core.signing``, as every attendee and supervisor link
is) works for whoever holds it, so it must not sit where staff can read it: ``email_queue`` stores
the context with such links replaced by ``PERSONAL_LINK`` (senders put the placeholder there
themselves and make the real link in their ``refresh_context`` hook, at sending time), and
``email_send`` stores the subject and bodies that went out with the links replaced too
(``redact_secrets``)."""

import logging
import re
import smtplib
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import MIMEPart
from email.utils import formataddr, make_msgid
from urllib.parse import urlsplit

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, models, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from .models import KIND_LABELS, OutboundEmail

logger = logging.getLogger("citreg.email")

Status = OutboundEmail.Status
SUBJECT_MAX = 200

PERSONAL_LINK = "[personal link]"
# A value signed by ``django.core.signing``: "<payload>[:<timestamp>]:<signature>", the signature
# being 43 URL-safe base64 characters (HMAC-SHA256 without padding).
_SIGNED = re.compile(r"[A-Za-z0-9_.\-]+(?::[A-Za-z0-9]+)?:[A-Za-z0-9_\-]{43}(?![A-Za-z0-9_\-])")
_URL = re.compile(r"https?://[^\s<>\"'`]+")


def redact_secrets(text: str) -> str:
    """``text`` with every URL that carries a signed value, and any signed value left outside a
    URL, replaced by ``PERSONAL_LINK``. Other URLs (the site, a meeting link) are kept.

    The rule for every place staff read what citreg sent or received: email bodies and
    contexts, previews, webhook payloads.
    """

    def url(match: re.Match) -> str:
        return PERSONAL_LINK if _SIGNED.search(match.group(0)) else match.group(0)

    return _SIGNED.sub(PERSONAL_LINK, _URL.sub(url, text))


def redact_value(value: object) -> object:
    """``redact_secrets`` applied to every string inside a JSON-like value (dicts, lists)."""
    if isinstance(value, str):
        return redact_secrets(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value


@dataclass(frozen=True)
class MessageKind:
    """A kind of message and its sender's hooks.

    ``still_wanted(row)`` returns "" when the message should still go out, else the reason it is
    skipped (e.g. "the registration is cancelled"). ``refresh_context(row)`` returns the context
    to render with, computed at sending time (e.g. placeholders that depend on the current state).
    """

    name: str
    label: str
    still_wanted: Callable[[OutboundEmail], str] | None = None
    refresh_context: Callable[[OutboundEmail], dict] | None = None


KINDS: dict[str, MessageKind] = {}


def register_kind(
    name: str,
    label: str,
    *,
    still_wanted: Callable[[OutboundEmail], str] | None = None,
    refresh_context: Callable[[OutboundEmail], dict] | None = None,
) -> str:
    """Register a kind of message; called at import time by the module that sends it.

    Args:
        name: the stored ``OutboundEmail.kind`` (at most 40 characters).
        label: what the admin shows, e.g. "Reminder".

    Returns: ``name``, so a sender can write ``REMINDER = register_kind("reminder", ...)``.

    Raises: ValueError when another sender registered ``name`` with another label.
    """
    existing = KINDS.get(name)
    if existing is not None and existing.label != label:
        raise ValueError(f"Message kind {name!r} is already registered as {existing.label!r}.")
    KINDS[name] = MessageKind(name, label, still_wanted, refresh_context)
    KIND_LABELS[name] = label
    return name


TEST = register_kind("test", "Test message")


@dataclass(frozen=True)
class Queued:
    """What ``email_queue`` did: the row (new or existing) and whether this call made it."""

    email: OutboundEmail
    created: bool


def clean_header(value: str) -> str:
    """Return ``value`` on one line: CR, LF and other line breaks become spaces.

    Header values built from user input (names, subjects) go through this, so nobody can add a
    header (e.g. ``"Ana\\r\\nBcc: x@example.org"``) by typing a line break.
    """
    return " ".join(str(value).splitlines()).strip()


def email_queue(
    *,
    kind: str,
    to_email: str,
    template: str,
    dedupe_key: str,
    context: dict | None = None,
    to_name: str = "",
    attachments: list[dict] | None = None,
    registration: models.Model | None = None,
    batch: str = "",
    not_before: datetime | None = None,
    publish: bool = True,
) -> Queued:
    """Record a message that must go out and enqueue its sending after commit.

    Args:
        kind: a registered kind (``register_kind``).
        to_email: the recipient's address.
        template: template base name under ``templates/``, e.g. ``"emails/test"``; the files
            ``<template>_subject.txt``, ``<template>.txt`` and ``<template>.html`` are rendered.
        dedupe_key: unique per message; the same key again returns the existing row and sends
            nothing new.
        context: JSON-serialisable template context (ids and strings, not model instances).
            Personal links are stored as ``PERSONAL_LINK`` (``redact_secrets``): a kind whose
            message carries one makes it in its ``refresh_context`` hook.
        to_name: the recipient's display name (any script; line breaks are removed).
        attachments: ``[{"filename", "content_type", "content"}]`` with text content; a
            content type with parameters (``"text/calendar; method=REQUEST"``) keeps them.
        registration: the registration the message is about, if any.
        batch: the sender's batch (e.g. ``"broadcast:12"``); the sender publishes its rows.
        not_before: earliest sending time (``next_attempt_at``); default now.
        publish: False leaves publishing to the caller (a batch's pump) or the sweeper.

    Returns: ``Queued`` with the row (new or existing) and whether this call made it.

    Raises: ValueError for a kind nobody registered.
    """
    if kind not in KINDS:
        raise ValueError(f"Unknown message kind {kind!r}: register it with register_kind().")
    defaults = {
        "kind": kind,
        "to_email": to_email.strip(),
        "to_name": clean_header(to_name),
        "template": template,
        "context": _stored_context(kind, context or {}),
        "attachments": attachments or [],
        "registration": registration,
        "batch": batch,
        "next_attempt_at": not_before or timezone.now(),
    }
    try:
        with transaction.atomic():
            email, created = OutboundEmail.objects.get_or_create(
                dedupe_key=dedupe_key, defaults=defaults
            )
    except IntegrityError:  # Another transaction created the same key first.
        email, created = OutboundEmail.objects.get(dedupe_key=dedupe_key), False
    if created:
        logger.info(
            "email.queued id=%s kind=%s registration=%s", email.pk, kind, email.registration_id
        )
        if publish:
            transaction.on_commit(lambda: enqueue_send(email.pk))
    return Queued(email, created)


def _stored_context(kind: str, context: dict) -> dict:
    """The context as stored: without personal links. A sender that passed one has a bug (the
    message would go out with the placeholder unless its hook makes the link): logged."""
    stored = redact_value(context)
    if stored != context:
        logger.warning("email.context_had_personal_link kind=%s", kind)
    return stored  # type: ignore[return-value]


def enqueue_send(email_id: int, countdown: float = 0) -> bool:
    """Publish the send task for one row; never raises.

    Publishing retries only briefly (``EMAIL_PUBLISH_RETRIES``); when the broker stays down the
    row stays queued and ``email_sweep`` publishes it later. Returns True when published.
    """
    try:
        send_outbound_email.apply_async(
            args=(email_id,),
            countdown=countdown,
            retry=True,
            retry_policy={
                "max_retries": settings.EMAIL_PUBLISH_RETRIES,
                "interval_start": 0,
                "interval_step": 0.2,
                "interval_max": 0.5,
            },
        )
        return True
    except Exception as exc:  # noqa: BLE001 — any broker error: the sweeper covers it.
        logger.warning("email.publish_failed id=%s error=%s", email_id, exc.__class__.__name__)
        return False


def retry_delay(attempts: int) -> timedelta:
    """Backoff before attempt ``attempts + 1``: ``EMAIL_RETRY_BASE_SECONDS`` × 2^(attempts−1),
    capped at ``EMAIL_RETRY_MAX_SECONDS``."""
    seconds = settings.EMAIL_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.EMAIL_RETRY_MAX_SECONDS))


@dataclass(frozen=True)
class SendResult:
    """What ``email_send`` did: ``outcome`` is one of "sent", "already-done", "busy", "retry",
    "failed"; ``retry_in`` is seconds until the next attempt for "retry"."""

    outcome: str
    retry_in: float = 0


def _claim(email_id: int, now: datetime) -> OutboundEmail | None:
    """Lock the row and mark it sending; None when there is nothing to do."""
    timeout = timedelta(seconds=settings.EMAIL_SENDING_TIMEOUT_SECONDS)
    with transaction.atomic():
        email = (
            OutboundEmail.objects.select_for_update(of=("self",))
            .select_related("registration")
            .filter(pk=email_id)
            .first()
        )
        if email is None or email.status in (Status.SENT, Status.FAILED, Status.SKIPPED):
            return None
        kind = KINDS.get(email.kind)
        unwanted = kind.still_wanted(email) if kind and kind.still_wanted else ""
        if unwanted:
            email.status = Status.SKIPPED
            email.last_error = f"Not sent: {unwanted}."
            email.save(update_fields=["status", "last_error", "updated_at"])
            logger.info("email.skipped id=%s kind=%s", email.pk, email.kind)
            return None
        if (
            email.status == Status.SENDING
            and email.sending_started_at
            and email.sending_started_at > now - timeout
        ):
            return None  # Another worker holds it; the sweeper takes over if that one dies.
        if email.attempts >= settings.EMAIL_MAX_ATTEMPTS:
            # Taken over too often (workers dying mid-send): stop rather than send again.
            email.status = Status.FAILED
            email.last_error = email.last_error or "Gave up: the attempts limit was reached."
            email.save(update_fields=["status", "last_error", "updated_at"])
            logger.error("email.failed id=%s kind=%s registration=%s reason=attempts", email.pk,
                         email.kind, email.registration_id)  # fmt: skip
            return None
        email.status = Status.SENDING
        email.sending_started_at = now
        email.attempts += 1
        email.save(update_fields=["status", "sending_started_at", "attempts", "updated_at"])
        return email


def render_email(email: OutboundEmail) -> tuple[str, str, str]:
    """Render ``(subject, text, html)`` from the row's template and context.

    The context also holds ``organisation_name``, ``training_admin_email``, ``site_url`` and
    ``recipient_name`` for the base layouts in ``templates/emails/``.
    """
    context = {
        "organisation_name": settings.ORGANISATION_NAME,
        "training_admin_email": settings.TRAINING_ADMIN_EMAIL,
        "site_url": settings.SITE_URL,
        "recipient_name": email.to_name,
        **email.context,
    }
    subject = clean_header(render_to_string(f"{email.template}_subject.txt", context))
    if len(subject) > SUBJECT_MAX:  # Long names and centers: keep subjects readable.
        subject = subject[: SUBJECT_MAX - 1].rstrip() + "\u2026"
    text = render_to_string(f"{email.template}.txt", context)
    html = render_to_string(f"{email.template}.html", context)
    return subject, text, html


def _message(email: OutboundEmail, subject: str, text: str, html: str) -> EmailMultiAlternatives:
    recipient = formataddr((clean_header(email.to_name), email.to_email))
    domain = urlsplit(settings.SITE_URL).hostname or "citreg.localhost"
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient],
        reply_to=[settings.TRAINING_ADMIN_EMAIL],
        headers={"Message-ID": make_msgid(idstring=f"email{email.pk}", domain=domain)},
    )
    message.attach_alternative(html, "text/html")
    for item in email.attachments:
        message.attach(_attachment(item))
    return message


def _attachment(item: dict) -> MIMEPart:
    """A MIME part for ``{"filename", "content_type", "content"}``; parameters of the content
    type are kept (an iTIP invitation needs ``text/calendar; method=REQUEST``, RFC 6047 §2.4)."""
    mimetype, *params = (p.strip() for p in item["content_type"].split(";"))
    maintype, subtype = mimetype.split("/", 1)
    part = MIMEPart()
    extra = dict(p.split("=", 1) for p in params if "=" in p)
    if maintype == "text":
        part.set_content(
            item["content"],
            subtype=subtype,
            params=extra,
            disposition="attachment",
            filename=item["filename"],
        )
    else:
        part.set_content(
            item["content"].encode(),
            maintype,
            subtype,
            params=extra,
            disposition="attachment",
            filename=item["filename"],
        )
    return part


def is_temporary(error: BaseException) -> bool:
    """True for failures worth retrying: SMTP 4yz replies, dropped connections, timeouts and
    other network errors (RFC 5321 §4.2.1); False for 5yz replies and anything else."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return bool(codes) and all(400 <= code < 500 for code in codes)
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(error, smtplib.SMTPException):
        return False  # e.g. SMTPNotSupportedError: our configuration, not the network
    return isinstance(error, socket.timeout | OSError)


def email_send(email_id: int) -> SendResult:
    """Send one queued message, at most once per successful SMTP acceptance.

    Args:
        email_id: ``OutboundEmail`` primary key.

    Returns: a ``SendResult``. "retry" means the row is queued again with ``next_attempt_at`` set
    and the caller should enqueue it after ``retry_in`` seconds.
    """
    now = timezone.now()
    email = _claim(email_id, now)
    if email is None:
        return SendResult("already-done")
    kind = KINDS.get(email.kind)
    try:
        if kind is not None and kind.refresh_context is not None:
            email.context = kind.refresh_context(email)
        subject, text, html = render_email(email)
        message = _message(email, subject, text, html)
        message.send()
    except Exception as error:  # noqa: BLE001 — classified and recorded below.
        return _record_failure(email, error)
    OutboundEmail.objects.filter(pk=email.pk).update(
        status=Status.SENT,
        sent_at=timezone.now(),
        subject=redact_secrets(subject),
        text_body=redact_secrets(text),
        html_body=redact_secrets(html),
        provider_message_id=message.extra_headers["Message-ID"],
        last_error="",
        next_attempt_at=None,
        updated_at=timezone.now(),
    )
    logger.info(
        "email.sent id=%s kind=%s registration=%s attempt=%s",
        email.pk,
        email.kind,
        email.registration_id,
        email.attempts,
    )
    return SendResult("sent")


def _record_failure(email: OutboundEmail, error: BaseException) -> SendResult:
    description = f"{error.__class__.__name__}: {error}"[:2000]
    temporary = is_temporary(error)
    if temporary and email.attempts < settings.EMAIL_MAX_ATTEMPTS:
        delay = retry_delay(email.attempts)
        OutboundEmail.objects.filter(pk=email.pk).update(
            status=Status.QUEUED,
            next_attempt_at=timezone.now() + delay,
            last_error=description,
            updated_at=timezone.now(),
        )
        logger.warning(
            "email.retry id=%s kind=%s registration=%s attempt=%s in=%ss error=%s",
            email.pk,
            email.kind,
            email.registration_id,
            email.attempts,
            int(delay.total_seconds()),
            error.__class__.__name__,
        )
        return SendResult("retry", delay.total_seconds())
    OutboundEmail.objects.filter(pk=email.pk).update(
        status=Status.FAILED,
        last_error=description,
        next_attempt_at=None,
        updated_at=timezone.now(),
    )
    logger.error(
        "email.failed id=%s kind=%s registration=%s attempt=%s permanent=%s error=%s",
        email.pk,
        email.kind,
        email.registration_id,
        email.attempts,
        not temporary,
        error.__class__.__name__,
    )
    return SendResult("failed")


def email_sweep(now: datetime | None = None) -> int:
    """Re-enqueue rows that should be moving but are not.

    Picks rows queued with ``next_attempt_at`` older than ``EMAIL_SWEEP_GRACE_SECONDS`` (their
    publish failed, or their retry is due) and rows ``sending`` for longer than
    ``EMAIL_SENDING_TIMEOUT_SECONDS`` (their worker died). Queued rows of a ``batch`` are left to
    their sender, which restarts its own publishing (a broadcast's beat entry).
    Returns how many messages were enqueued.
    """
    now = now or timezone.now()
    due = now - timedelta(seconds=settings.EMAIL_SWEEP_GRACE_SECONDS)
    stuck = now - timedelta(seconds=settings.EMAIL_SENDING_TIMEOUT_SECONDS)
    queued = OutboundEmail.objects.filter(status=Status.QUEUED, next_attempt_at__lte=due, batch="")
    sending = OutboundEmail.objects.filter(status=Status.SENDING, sending_started_at__lte=stuck)
    ids = list(queued.values_list("pk", flat=True)) + list(sending.values_list("pk", flat=True))
    published = sum(enqueue_send(pk) for pk in ids)
    if ids:
        logger.info("email.sweep found=%s published=%s", len(ids), published)
    return published


def email_resend(email: OutboundEmail) -> bool:
    """Queue a failed message again (admin "send again"): attempts restart, the same row is used.

    Returns False when the row is not failed (nothing done).
    """
    updated = OutboundEmail.objects.filter(pk=email.pk, status=Status.FAILED).update(
        status=Status.QUEUED,
        attempts=0,
        next_attempt_at=timezone.now(),
        last_error="",
        updated_at=timezone.now(),
    )
    if updated:
        transaction.on_commit(lambda: enqueue_send(email.pk))
    return bool(updated)


@shared_task(name="registrations.send_outbound_email", acks_late=True, ignore_result=True)
def send_outbound_email(email_id: int) -> str:
    """Send one ``OutboundEmail`` row; on a temporary failure enqueue the next attempt after the
    backoff the row records. Returns the outcome ("sent", "retry", ...)."""
    result = email_send(email_id)
    if result.outcome == "retry":
        enqueue_send(email_id, countdown=result.retry_in)
    return result.outcome


@shared_task(name="registrations.sweep_outbound_email", ignore_result=True)
def sweep_outbound_email() -> int:
    """Beat, every minute: re-enqueue queued rows whose publish was lost and stuck rows."""
    return email_sweep()
