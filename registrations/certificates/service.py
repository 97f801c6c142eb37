"""Issuing, revoking and reissuing certificates of completion, and the email that carries one
(``docs/architecture.md``, "Certificates").

A certificate is issued once per completed registration (``issue_certificate``, called by
``registrations.attendance.completion`` after the registration became completed). What it
states is computed then and frozen in the row (``frozen_fields``), so later edits of the course
or the class do not change a certificate already given; staff reissue it after a name
correction (``certificate_reissue``: same number, new name, ``reissued_at``) or revoke it with a
reason (``certificate_revoke``). Every change is in the row's history (who, when, why).

The number (``new_number``) is 12 characters drawn with ``secrets`` from 30 letters and digits
that cannot be mistaken for one another (no 0/O, 1/I/L, nor U), written in three groups of four:
about 59 bits, so numbers can be neither guessed nor enumerated through the public page (which
is rate-limited too).

The email (kind ``certificate``) is queued in the same transaction, once per certificate and
once per reissue; its PDF is made when it is sent (the outbox's ``attachments`` hook), from the
certificate as it is then, so no PDF with personal data is stored in the email log, and a
certificate revoked before its email went out is not sent.
"""

import logging
import secrets
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from registrations.enums import RegistrationState as S
from registrations.messaging import notices
from registrations.messaging.models import OutboundEmail
from registrations.messaging.outbox import email_queue, register_attachments, register_kind
from registrations.models import Registration

from .models import Certificate
from .pdf import pdf_filename, render_pdf, verification_url

logger = logging.getLogger("citreg.certificates")

# Unambiguous when read aloud, typed or printed: no 0/O, 1/I/L, and no U (no accidental words).
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS, GROUP_LENGTH = 3, 4
TWO_PLACES = Decimal("0.01")


class CertificateRefused(Exception):
    """A certificate step that cannot be done; ``message`` says why, for staff or logs."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def new_number() -> str:
    """A fresh random certificate number, e.g. "7KQM-X4PA-93TD" (``secrets.choice`` over
    ``ALPHABET``: 12 characters, about 59 bits). Uniqueness is the database's (``issue``
    retries on a collision)."""
    groups = ("".join(secrets.choice(ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(GROUPS))
    return "-".join(groups)


def normalise_number(value: str) -> str:
    """A number as typed or read from a QR code, in its stored form: upper case, spaces and
    dashes ignored, regrouped; "" when it cannot be a number (wrong length or characters), so
    the public page answers 404 without a query."""
    compact = "".join(value.split()).replace("-", "").upper()
    if len(compact) != GROUPS * GROUP_LENGTH or any(c not in ALPHABET for c in compact):
        return ""
    return "-".join(compact[i : i + GROUP_LENGTH] for i in range(0, len(compact), GROUP_LENGTH))


def _decimal(value: Decimal) -> Decimal:
    return value.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def instructor_names(registration: Registration) -> str:
    """The class's instructors' full names ("Dana Cole, Lee Park"), by last and first name; a
    user without a name is named by username."""
    users = registration.offering.instructors.order_by("last_name", "first_name", "username")
    names = [user.get_full_name().strip() or user.get_username() for user in users]
    return ", ".join(names)[: Certificate._meta.get_field("instructors").max_length]


def frozen_fields(registration: Registration) -> dict:
    """What a certificate for ``registration`` states, computed now (``Certificate``'s fields).

    contact hours: the course's ``contact_hours``; CE credits: the class's total session
    minutes / the course's ``minutes_per_credit``; CEUs: contact hours / 10 (IACET's unit:
    one CEU per ten contact hours); all rounded to two places. Dates: ``Offering.date_label``
    (the class's days in its zone); provider: ``settings.ORGANISATION_NAME``."""
    offering = registration.offering
    course = offering.course
    minutes = sum(int(s.duration.total_seconds()) for s in offering.session_list) / Decimal(60)
    hours = Decimal(course.contact_hours)
    return {
        "name": registration.full_name,
        "course_title": course.title,
        "dates_label": offering.date_label,
        "contact_hours": _decimal(hours),
        "credits": _decimal(minutes / Decimal(course.minutes_per_credit)),
        "ceus": _decimal(hours / 10),
        "instructors": instructor_names(registration),
        "provider": settings.ORGANISATION_NAME,
    }


def _locked_registration(registration_id: int) -> Registration:
    return (
        Registration.objects.select_for_update(of=("self",))
        .select_related("offering__course")
        .get(pk=registration_id)
    )


def issue_certificate(registration_id: int) -> Certificate:
    """The certificate of a completed registration: issued (and its email queued) on the first
    call, the same one on every later call. Safe inside a transaction (the email goes out after
    it commits) and from ``transaction.on_commit``; the registration's row is locked, so two
    concurrent calls issue one certificate.

    Raises:
        Registration.DoesNotExist: no registration has this id.
        CertificateRefused: the registration is not completed (and has no certificate).
    """
    with transaction.atomic():
        registration = _locked_registration(registration_id)
        existing = Certificate.objects.filter(registration=registration).first()
        if existing is not None:
            return existing
        if registration.state != S.COMPLETED:
            raise CertificateRefused(
                f"Registration {registration.pk} is {registration.state}: a certificate is "
                "issued only for a completed registration."
            )
        fields = frozen_fields(registration)
        now = timezone.now()
        for attempt in range(5):
            try:
                with transaction.atomic():
                    certificate = Certificate(
                        registration=registration, number=new_number(), issued_at=now, **fields
                    )
                    certificate._change_reason = "Issued on completion."  # type: ignore[attr-defined]
                    certificate.save()
                break
            except IntegrityError:  # the number was taken (about 1 in 2**59 per certificate)
                if attempt == 4:
                    raise
        logger.info("certificate.issued id=%s registration=%s", certificate.pk, registration.pk)
        _queue_email(certificate, f"certificate:{certificate.pk}:issued", reissued=False)
        return certificate


def certificate_revoke(
    certificate: Certificate, *, reason: str, user: AbstractBaseUser | None
) -> Certificate:
    """Revoke ``certificate``: its public page says so from now on, with the date, and it can
    no longer be downloaded from the manage page. Recorded with ``user`` and ``reason`` in its
    history; revoking a revoked certificate changes nothing.

    Raises: CertificateRefused without a reason.
    """
    reason = reason.strip()
    if not reason:
        raise CertificateRefused("Give the reason for revoking the certificate.")
    with transaction.atomic():
        row = Certificate.objects.select_for_update().get(pk=certificate.pk)
        if row.revoked_at is not None:
            return row
        row.revoked_at = timezone.now()
        row.revoked_reason = reason
        row._change_reason = f"Revoked: {reason}"  # type: ignore[attr-defined]
        row._history_user = user  # type: ignore[attr-defined]
        row.save()
        logger.info("certificate.revoked id=%s", row.pk)
        return row


def certificate_reissue(
    certificate: Certificate, *, user: AbstractBaseUser | None, now: datetime | None = None
) -> Certificate:
    """Reissue ``certificate`` after a correction of the attendee's name: same number, what it
    states computed again from the registration as it is now (``frozen_fields``), ``reissued_at``
    set, and the new PDF emailed once for this reissue. Recorded with ``user`` in its history.

    Raises: CertificateRefused for a revoked certificate (a revocation is final).
    """
    with transaction.atomic():
        row = Certificate.objects.select_for_update().get(pk=certificate.pk)
        if row.revoked_at is not None:
            raise CertificateRefused("A revoked certificate cannot be reissued.")
        registration = Registration.objects.select_related("offering__course").get(
            pk=row.registration_id
        )
        before = row.name
        for name, value in frozen_fields(registration).items():
            setattr(row, name, value)
        row.reissued_at = now or timezone.now()
        row._change_reason = (  # type: ignore[attr-defined]
            "Reissued after a name correction." if row.name != before else "Reissued."
        )
        row._history_user = user  # type: ignore[attr-defined]
        row.save()
        stamp = int(row.reissued_at.timestamp() * 1_000_000)
        _queue_email(row, f"certificate:{row.pk}:reissued:{stamp}", reissued=True)
        logger.info("certificate.reissued id=%s", row.pk)
        return row


def downloadable(registration: Registration) -> Certificate | None:
    """The registration's certificate when its attendee may download it (issued, not
    revoked), else None."""
    return Certificate.objects.filter(registration=registration, revoked_at__isnull=True).first()


def find(number: str) -> Certificate | None:
    """The certificate with this number (as typed: ``normalise_number``), revoked or not;
    None when there is none."""
    normal = normalise_number(number)
    if not normal:
        return None
    return Certificate.objects.filter(number=normal).first()


# --- the email ---------------------------------------------------------------------------------


def _certificate_of(email: OutboundEmail) -> Certificate | None:
    if email.registration_id is None:
        return None
    return Certificate.objects.filter(registration_id=email.registration_id).first()


def still_wanted(email: OutboundEmail) -> str:
    """Outbox hook: a certificate email goes out only while its certificate stands. Returns
    the reason not to send, or ""."""
    certificate = _certificate_of(email)
    if certificate is None:
        return "the certificate is gone"
    if certificate.revoked_at is not None:
        return "the certificate was revoked"
    return ""


def pdf_attachment(email: OutboundEmail) -> list[dict]:
    """Outbox hook: the certificate's PDF, made now from the certificate as it is.

    Raises: CertificateFontsMissing when the fonts are not installed (the email fails with
    that message; staff send it again once they are)."""
    certificate = _certificate_of(email)
    if certificate is None:
        return []
    return [
        {
            "filename": pdf_filename(certificate),
            "content_type": "application/pdf",
            "content": render_pdf(certificate),
        }
    ]


CERTIFICATE = register_attachments(
    register_kind(
        "certificate",
        "Certificate of completion",
        still_wanted=still_wanted,
        refresh_context=notices.with_links,
    ),
    pdf_attachment,
)


def _queue_email(certificate: Certificate, key: str, *, reissued: bool) -> None:
    registration = certificate.registration
    email_queue(
        kind=CERTIFICATE,
        to_email=registration.email,
        to_name=registration.full_name,
        template="emails/certificate",
        context={
            **notices.registration_context(registration),
            "certificate_number": certificate.number,
            "verify_url": verification_url(certificate),
            "contact_hours": f"{certificate.contact_hours.normalize():f}",
            "reissued": reissued,
        },
        dedupe_key=key,
        registration=registration,
    )
