"""Registering for an offering and the attendee's self-service changes (no account needed)."""

import logging
from dataclasses import dataclass

from celery import shared_task
from django.db import IntegrityError, transaction
from django.utils import timezone

from courses.models import Offering

from . import addresses
from .enums import INACTIVE_STATES
from .enums import RegistrationState as S
from .messaging import notices, outbox
from .models import Registration
from .transitions import Actor, registration_note

logger = logging.getLogger("citreg.registrations")
# The addresses a registration stores; each is normalised (``addresses.clean_email``) here too,
# not only by the form, so no invisible or control character reaches the database.
EMAIL_FIELDS = ("email", "work_email", "supervisor_email")


class RegistrationClosed(Exception):  # noqa: N818 — reads as the domain says it
    """The offering does not take registrations now; ``message`` says why, for the page."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


CLOSED_MESSAGES = {
    Offering.RegistrationState.PAST: "This class has already taken place.",
    Offering.RegistrationState.CANCELLED: "This class has been cancelled.",
    Offering.RegistrationState.DRAFT: "This class is not open for registration.",
    Offering.RegistrationState.CLOSED: "Registration for this class has closed.",
    Offering.RegistrationState.NOT_YET_OPEN: "Registration for this class has not opened yet.",
}


def ensure_open(offering: Offering) -> None:
    """Raise ``RegistrationClosed`` with a clear message unless registration is open now."""
    state = offering.registration_state()
    if state != Offering.RegistrationState.OPEN:
        raise RegistrationClosed(CLOSED_MESSAGES[state])


def active_registration(offering: Offering, email: str) -> Registration | None:
    """The active registration of ``email`` (case-insensitive) in ``offering``, if any."""
    return (
        Registration.objects.filter(offering=offering, email__iexact=email.strip())
        .exclude(state__in=INACTIVE_STATES)
        .first()
    )


@dataclass(frozen=True)
class SubmitResult:
    """``created`` False means the email already had an active registration (sent a fresh
    manage link instead)."""

    registration: Registration
    created: bool


def registration_submit(*, offering: Offering, data: dict) -> SubmitResult:
    """Register someone for ``offering`` from validated form data.

    Args:
        offering: the class (locked while checking it is open).
        data: cleaned fields of ``RegistrationForm`` (names, email, phone, role, employer_*,
            work_email, supervisor_*, accessibility_needs, time_zone).

    Returns: a ``SubmitResult``. A duplicate (same course email, active registration in this
    offering — also under concurrent requests, enforced by a database constraint) creates nothing
    and emails a fresh manage link.

    Raises: RegistrationClosed when the offering is past, cancelled, draft, closed or not yet open;
    ValidationError when an address is not one ``addresses.clean_email`` accepts (the form
    refuses those first, with a message).
    """
    data = {**data, **{name: addresses.clean_email(data[name]) for name in EMAIL_FIELDS}}
    now = timezone.now()
    try:
        with transaction.atomic():
            offering = Offering.objects.select_for_update().get(pk=offering.pk)
            ensure_open(offering)
            if existing := active_registration(offering, data["email"]):
                notices.send_manage_link(existing)
                return SubmitResult(existing, created=False)
            registration = Registration.objects.create(
                offering=offering,
                attested_at=now,
                participation_acknowledged_at=now,
                terms_accepted_at=now,
                **data,
            )
            registration_note(registration, actor=Actor.attendee(), reason="Registered.")
            notices.send_work_email_confirmation(registration)
            return SubmitResult(registration, created=True)
    except IntegrityError:
        # A concurrent request registered the same email first: treat it as the duplicate.
        existing = active_registration(offering, data["email"])
        if existing is None:
            raise
        with transaction.atomic():
            notices.send_manage_link(existing)
        return SubmitResult(existing, created=False)


def request_links(email: str) -> int:
    """Email a fresh manage link for every active registration of ``email``; returns how many.

    Runs in a worker (``send_manage_links``), never in the request: see ``request_links_later``.
    """
    registrations = Registration.objects.filter(email__iexact=email.strip()).exclude(
        state__in=INACTIVE_STATES
    )
    sent = []
    with transaction.atomic():
        for registration in registrations.select_related("offering__course"):
            notices.send_manage_link(registration)
            sent.append(registration.pk)
    logger.info("registrations.links_requested registrations=%s", sent)
    return len(sent)


@shared_task(name="registrations.send_manage_links", ignore_result=True)
def send_manage_links(email: str) -> int:
    """Worker side of a link request: ``request_links``. Returns how many links were queued."""
    return request_links(email)


def request_links_later(email: str) -> None:
    """Ask for fresh manage links without looking the address up in the request.

    The request only publishes ``send_manage_links`` (after the surrounding transaction commits),
    whether or not ``email`` has a registration, so the page answers alike, with the same queries
    and in the same time, for known and unknown addresses (an answer that came measurably slower for
    known addresses would tell which addresses registered). The worker looks the address up and
    queues the emails. Never raises: when the broker stays down (``EMAIL_PUBLISH_RETRIES``), the
    request is dropped and logged, and the person may ask again."""

    def publish() -> None:
        try:
            send_manage_links.apply_async(
                args=(email,), retry=True, retry_policy=outbox.publish_retry_policy()
            )
        except Exception as exc:  # noqa: BLE001 — any broker error; the page says "if".
            logger.warning("registrations.link_request_lost error=%s", exc.__class__.__name__)

    transaction.on_commit(publish)


def resend_work_email_link(registration: Registration) -> bool:
    """Send a new work-email confirmation link while one is still awaited; False otherwise."""
    if registration.state != S.PENDING_EMAIL:
        return False
    with transaction.atomic():
        notices.send_work_email_confirmation(registration)
    return True


def details_update(
    registration: Registration, *, first_name: str, last_name: str, phone: str
) -> Registration:
    """Correct name spelling and phone (attendee self-service); records what changed."""
    with transaction.atomic():
        registration = Registration.objects.select_for_update().get(pk=registration.pk)
        changes = [
            f"{label}: {getattr(registration, name)!r} → {value!r}"
            for name, label, value in (
                ("first_name", "first name", first_name),
                ("last_name", "last name", last_name),
                ("phone", "phone", phone),
            )
            if getattr(registration, name) != value
        ]
        if changes:
            registration.first_name, registration.last_name, registration.phone = (
                first_name,
                last_name,
                phone,
            )
            registration.save(update_fields=["first_name", "last_name", "phone", "updated_at"])
            registration_note(
                registration, actor=Actor.attendee(), reason="Edited " + "; ".join(changes)
            )
    return registration


class EmailChangeRefused(Exception):  # noqa: N818
    """The new course email cannot be used; ``message`` says why."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def email_change_request(registration: Registration, new_email: str) -> Registration:
    """Start changing the course email: keep it pending and send a link to the new address.

    The current address stays in use until the new one is confirmed. A change of letter case
    only (the same mailbox) applies at once, without a link.

    Raises: EmailChangeRefused when another active registration for the class uses the address;
    ValidationError when ``addresses.clean_email`` refuses it (the form refuses it first).
    """
    new_email = addresses.clean_email(new_email)
    with transaction.atomic():
        registration = Registration.objects.select_for_update().get(pk=registration.pk)
        other = active_registration(registration.offering, new_email)
        if other is not None and other.pk != registration.pk:
            raise EmailChangeRefused(
                "That address already has a registration for this class, so it cannot be used "
                "for this one."
            )
        if new_email.lower() == registration.email.lower():
            old_email = registration.email
            registration.email, registration.pending_email = new_email, ""
            if old_email != new_email:
                registration_note(
                    registration,
                    actor=Actor.attendee(),
                    reason=f"Course email corrected from {old_email} to {new_email}.",
                )
        else:
            registration.pending_email = new_email
            notices.send_new_email_confirmation(registration)
        registration.save(update_fields=["email", "pending_email", "updated_at"])
    return registration


def email_change_confirm(registration: Registration) -> Registration:
    """The new course email was confirmed through its link: make it the course email.

    Raises: IntegrityError is turned into a no-op when the new address already has an active
    registration for the same class (the change is dropped and recorded).
    """
    with transaction.atomic():
        registration = Registration.objects.select_for_update().get(pk=registration.pk)
        new_email = registration.pending_email
        if not new_email:
            return registration
        old_email = registration.email
        registration.email, registration.pending_email = new_email, ""
        try:
            with transaction.atomic():
                registration.save(update_fields=["email", "pending_email", "updated_at"])
        except IntegrityError:
            registration.email = old_email
            registration.save(update_fields=["pending_email", "updated_at"])
            registration_note(
                registration,
                actor=Actor.attendee(),
                reason=f"Course email change to {new_email} dropped: that address already has "
                "a registration for this class.",
            )
            return registration
        registration_note(
            registration,
            actor=Actor.attendee(),
            reason=f"Course email changed from {old_email} to {new_email}.",
        )
    return registration
