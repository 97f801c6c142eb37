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

Every task handed a row's id follows ``retry_for_missing_row`` when the row is not there (it
lives here, in the lowest layer with tasks, so every sender can use it).

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
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email import policy as email_policy
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.policy import EmailPolicy, Policy
from email.utils import make_msgid
from typing import NoReturn
from urllib.parse import urlsplit

from celery import shared_task
from celery.app.task import Task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, models, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from courses.text import multi_line, one_line, truncate

from .models import KIND_LABELS, OutboundEmail

logger = logging.getLogger("citreg.email")
task_logger = logging.getLogger("citreg.tasks")

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
    ``attachments(row)`` returns attachments made at sending time (``{"filename",
    "content_type", "content"}``, content ``bytes`` or text), sent after the row's stored ones
    and never stored: a certificate's PDF is made from the certificate as it is then.
    """

    name: str
    label: str
    still_wanted: Callable[[OutboundEmail], str] | None = None
    refresh_context: Callable[[OutboundEmail], dict] | None = None
    attachments: Callable[[OutboundEmail], list[dict]] | None = None


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
        still_wanted, refresh_context: the hooks (``MessageKind``); ``attachments`` is
            added by ``register_attachments``.

    Returns: ``name``, so a sender can write ``REMINDER = register_kind("reminder", ...)``.

    Raises: ValueError when another sender registered ``name`` with another label.
    """
    existing = KINDS.get(name)
    if existing is not None and existing.label != label:
        raise ValueError(f"Message kind {name!r} is already registered as {existing.label!r}.")
    KINDS[name] = MessageKind(name, label, still_wanted, refresh_context)
    KIND_LABELS[name] = label
    return name


def register_attachments(name: str, attachments: Callable[[OutboundEmail], list[dict]]) -> str:
    """Give the registered kind ``name`` its ``attachments`` hook (``MessageKind``): made when
    each message is sent, never stored. Returns ``name``.

    Raises: KeyError when no sender registered ``name``.
    """
    KINDS[name] = replace(KINDS[name], attachments=attachments)
    return name


TEST = register_kind("test", "Test message")


@dataclass(frozen=True)
class Queued:
    """What ``email_queue`` did: the row (new or existing) and whether this call made it."""

    email: OutboundEmail
    created: bool


def clean_header(value: str) -> str:
    """Return ``value`` on one line of visible text (``courses.text.one_line``): line breaks,
    tabs, other controls, bidi and zero-width characters become spaces.

    Header values built from user input (names, subjects) go through this, so nobody can add a
    header (e.g. ``"Ana\\r\\nBcc: x@example.org"``) by typing a line break, or reverse how a
    subject reads with a bidi override.
    """
    return one_line(value)


def mailbox(name: str, address: str) -> str:
    """``name <address>`` as Django's message takes a recipient: the name on one line
    (``clean_header``), quoted as RFC 5322 §3.4 requires (``email.headerregistry.Address``), so a
    comma, ``<``, ``@`` or quote in a name cannot make it a list of other recipients. The
    ``To`` header itself is written by ``encoded_mailbox`` (see ``HeaderSafeMessage``).

    (``email.utils.formataddr`` is not used: it turns a non-ASCII name into an RFC 2047 word
    that the message's own header folding later decodes and writes back unquoted, so
    "Zoë, O'Brien" became two recipients, "Zoë" and "O'Brien".)
    """
    local, _, domain = address.rpartition("@")
    return str(Address(display_name=clean_header(name), username=local, domain=domain))


# Header lines citreg writes stay within RFC 5322's recommended 78 characters (§2.1.1).
HEADER_LINE = 78


def encoded_text(value: str, name: str) -> str:
    """An unstructured header value (``Subject``) as it goes on the wire: ASCII as it is,
    anything else in RFC 2047 encoded words, folded into lines of at most ``HEADER_LINE``
    octets by the standard library's ``email.header.Header`` (which splits encoded words on
    character boundaries)."""
    charset = "us-ascii" if value.isascii() else "utf-8"
    return Header(value, charset, maxlinelen=HEADER_LINE, header_name=name).encode(linesep="\n")


def encoded_mailbox(name: str, address: str) -> str:
    """The ``To`` value for ``name`` at ``address`` as it goes on the wire: an ASCII name that
    fits on the line quoted (``mailbox``), any other name in RFC 2047 encoded words (which
    carry quotes, commas and angle brackets as data, RFC 2047 §5(3)), the address on its own
    line; an address too long to share a line goes alone."""
    display = clean_header(name)
    local, _, domain = address.rpartition("@")
    bare = str(Address(username=local, domain=domain))
    if not display or len(bare) > HEADER_LINE - 6:
        return bare
    quoted = mailbox(display, address)
    if display.isascii() and len(quoted) <= HEADER_LINE - len("To: "):
        return quoted
    words = Header(display, "utf-8", maxlinelen=HEADER_LINE, header_name="To")
    return f"{words.encode(linesep=chr(10))}\n <{bare}>"


class HeaderSafeMessage(EmailMultiAlternatives):
    """Django's message with the headers that carry typed text (``Subject``, ``To``) encoded
    and folded by ``encoded_text`` and ``encoded_mailbox`` and stored as they are
    (``Message.set_raw``, with ``refold_source="none"``), instead of by the folding of
    ``email.policy``: in Python 3.12 that folding drops the quotes of a display name longer
    than a line (``"<b>, x" <ana@…>`` went out as the mailboxes ``b`` and ``x``) and can cut
    an encoded word of a long mixed subject in two (the subject arrived garbled). The
    envelope recipient is ``to`` as Django computes it; only the header is rewritten."""

    def __init__(self, *, to_name: str, to_email: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.to_name, self.to_email = to_name, to_email

    def message(self, *, policy: Policy | None = None) -> EmailMessage:
        msg = super().message(policy=policy or email_policy.default)
        if not self.to_email.isascii():  # no RFC 2047 form for a non-ASCII address
            return msg
        used = msg.policy if isinstance(msg.policy, EmailPolicy) else email_policy.default
        msg.policy = used.clone(refold_source="none")
        del msg["Subject"], msg["To"]
        msg.set_raw("Subject", encoded_text(str(self.subject), "Subject"))
        msg.set_raw("To", encoded_mailbox(self.to_name, self.to_email))
        return msg


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


def publish_retry_policy() -> dict[str, float]:
    """kombu's retry policy for publishing a task: ``EMAIL_PUBLISH_RETRIES`` brief tries (0.2 s
    apart, at most 0.5 s), so a request never hangs on a broker that is down."""
    return {
        "max_retries": settings.EMAIL_PUBLISH_RETRIES,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.5,
    }


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
            retry_policy=publish_retry_policy(),
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
    "failed", "missing" (no row with that id); ``retry_in`` is seconds until the next attempt for
    "retry"."""

    outcome: str
    retry_in: float = 0


class _Missing(Exception):
    """``_claim`` found no row with that id."""


def _claim(email_id: int, now: datetime) -> OutboundEmail | None:
    """Lock the row and mark it sending; None when there is nothing to do.

    Raises: _Missing when there is no row with that id (it may not be committed yet).
    """
    timeout = timedelta(seconds=settings.EMAIL_SENDING_TIMEOUT_SECONDS)
    with transaction.atomic():
        email = (
            OutboundEmail.objects.select_for_update(of=("self",))
            .select_related("registration")
            .filter(pk=email_id)
            .first()
        )
        if email is None:
            raise _Missing(email_id)
        if email.status in (Status.SENT, Status.FAILED, Status.SKIPPED):
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
    ``recipient_name`` for the base layouts in ``templates/emails/``. The subject is one line of
    at most ``SUBJECT_MAX`` characters (the organisation's name when nothing visible is left of
    it); the bodies keep line breaks and tabs but no other
    control character (``courses.text``).
    """
    context = {
        "organisation_name": settings.ORGANISATION_NAME,
        "training_admin_email": settings.TRAINING_ADMIN_EMAIL,
        "site_url": settings.SITE_URL,
        "recipient_name": email.to_name,
        **email.context,
    }
    subject = clean_header(render_to_string(f"{email.template}_subject.txt", context))
    subject = truncate(subject, SUBJECT_MAX)  # Long names and centers: keep subjects readable.
    subject = subject or clean_header(settings.ORGANISATION_NAME)  # nothing visible was left
    # No control characters in either body, whatever an older row holds (``multi_line``).
    text = multi_line(render_to_string(f"{email.template}.txt", context))
    html = multi_line(render_to_string(f"{email.template}.html", context))
    return subject, text, html


def _message(
    email: OutboundEmail, subject: str, text: str, html: str, made: list[dict] | None = None
) -> EmailMultiAlternatives:
    recipient = mailbox(email.to_name, email.to_email)
    domain = urlsplit(settings.SITE_URL).hostname or "citreg.localhost"
    message = HeaderSafeMessage(
        to_name=email.to_name,
        to_email=email.to_email,
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient],
        reply_to=[settings.TRAINING_ADMIN_EMAIL],
        headers={"Message-ID": make_msgid(idstring=f"email{email.pk}", domain=domain)},
    )
    message.attach_alternative(html, "text/html")
    for item in [*email.attachments, *(made or [])]:
        message.attach(_attachment(item))
    return message


def _attachment(item: dict) -> MIMEPart:
    """A MIME part for ``{"filename", "content_type", "content"}`` (content text, or ``bytes``
    for a made attachment); parameters of the content type are kept (an iTIP invitation needs
    ``text/calendar; method=REQUEST``, RFC 6047 §2.4)."""
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
        content = item["content"]
        part.set_content(
            content if isinstance(content, bytes) else content.encode(),
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
    and the caller should enqueue it after ``retry_in`` seconds; "missing" that no row has this
    id (the caller decides whether to wait for it: ``send_outbound_email``).
    """
    now = timezone.now()
    try:
        email = _claim(email_id, now)
    except _Missing:
        return SendResult("missing")
    if email is None:
        return SendResult("already-done")
    kind = KINDS.get(email.kind)
    try:
        if kind is not None and kind.refresh_context is not None:
            email.context = kind.refresh_context(email)
        subject, text, html = render_email(email)
        made = kind.attachments(email) if kind is not None and kind.attachments else []
        message = _message(email, subject, text, html, made)
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


class RowMissing(LookupError):  # noqa: N818 — what happened, not an error class name
    """A task was handed the id of a row it still could not see after waiting for it."""


def row_retry_countdown(retries: int) -> float:
    """Seconds before retry ``retries + 1`` of a task whose row is missing:
    ``TASK_ROW_RETRY_BASE_SECONDS`` × 2^retries."""
    return float(settings.TASK_ROW_RETRY_BASE_SECONDS * 2**retries)


def retry_for_missing_row(task: Task, *, model: str, row_id: int) -> NoReturn:
    """The rule for every task handed an id whose row it cannot see (``docs/architecture.md``,
    "Tasks"): the row may not be visible yet (published from a transaction that has not
    committed, or a lagging replica), so retry with exponential backoff, ``TASK_ROW_RETRIES``
    times (2, 4, … 32 s by default: about a minute); then log an ERROR naming the task, the
    model and the id (no row exists to mark, so the log line is the record) and fail. Never
    returns: the work was not done.

    Must be called from a task bound with ``bind=True``; ``model`` is the model's name.

    Raises:
        celery.exceptions.Retry: while retries remain.
        RowMissing: after the last retry (the worker records the task as failed).
    """
    retries = task.request.retries
    if retries < settings.TASK_ROW_RETRIES:
        countdown = row_retry_countdown(retries)
        task_logger.warning(
            "task.row_not_found task=%s model=%s id=%s retry=%s in=%ss",
            task.name, model, row_id, retries + 1, countdown,
        )  # fmt: skip
        raise task.retry(countdown=countdown, max_retries=settings.TASK_ROW_RETRIES)
    task_logger.error(
        "task.row_missing task=%s model=%s id=%s attempts=%s",
        task.name, model, row_id, retries + 1,
    )  # fmt: skip
    raise RowMissing(f"{task.name}: no {model} with id {row_id} after {retries + 1} attempts")


@shared_task(
    name="registrations.send_outbound_email", bind=True, acks_late=True, ignore_result=True
)
def send_outbound_email(self: Task, email_id: int) -> str:
    """Send one ``OutboundEmail`` row; on a temporary failure enqueue the next attempt after the
    backoff the row records. Returns the outcome ("sent", "retry", ...). A row it cannot see is
    waited for, then reported (``retry_for_missing_row``)."""
    result = email_send(email_id)
    if result.outcome == "missing":
        retry_for_missing_row(self, model="OutboundEmail", row_id=email_id)
    if result.outcome == "retry":
        enqueue_send(email_id, countdown=result.retry_in)
    return result.outcome


@shared_task(name="registrations.sweep_outbound_email", ignore_result=True)
def sweep_outbound_email() -> int:
    """Beat, every minute: re-enqueue queued rows whose publish was lost and stuck rows."""
    return email_sweep()
