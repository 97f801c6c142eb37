"""Registering for an offering and the attendee's self-service changes (no account needed)."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from courses.models import Offering

from .enums import INACTIVE_STATES
from .enums import RegistrationState as S
from .messaging import notices
from .models import Registration
from .transitions import Actor, registration_note


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

    Raises: RegistrationClosed when the offering is past, cancelled, draft, closed or not yet open.
    """
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

    The page says the same whatever the count, so it reveals nothing about who registered.
    """
    registrations = Registration.objects.filter(email__iexact=email.strip()).exclude(
        state__in=INACTIVE_STATES
    )
    count = 0
    with transaction.atomic():
        for registration in registrations.select_related("offering__course"):
            notices.send_manage_link(registration)
            count += 1
    return count


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

    Raises: EmailChangeRefused when another active registration for the class uses the address.
    """
    new_email = new_email.strip()
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
