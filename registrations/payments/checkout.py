"""Starting payment: hold a seat (``seats.booking``), then open a Checkout Session for it.

No money moves before eligibility is settled: only eligible registrants (or those trying again
after a hold lapsed, or holding a waitlist offer) get here. The hold is committed before Stripe is
called; a failed Stripe call frees it. Only one Checkout Session per registration is open at a
time: earlier open sessions are expired at Stripe before a new one is made.

Each Payment gets a fresh secret ``nonce`` (``secrets.token_urlsafe``) which is written, with the
registration's and the payment's ids, into the session's metadata (and its PaymentIntent's). It
is how ``payments.settlement`` recognises a session citreg created but never stored (a crash
between Stripe's answer and our save); ``client_reference_id`` is sent for Stripe's dashboard
only and never trusted (``docs/architecture.md``, "Security and privacy").
"""

import secrets
import time
import uuid
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from registrations import links
from registrations.enums import CAN_HOLD_STATES, OPEN_CHECKOUT_STATUSES
from registrations.enums import RegistrationState as S
from registrations.models import Registration
from registrations.seats import booking, queries

from .gateway import MIN_CHECKOUT_MINUTES, PaymentProviderError, gateway
from .models import Payment

# A session offered for a waitlist seat ends with the offer, but within Stripe's window: no later
# than 23 hours and no sooner than the normal hold (35 minutes) from the click.
OFFER_SESSION_MAX = timedelta(hours=23)
REUSE_MARGIN = timedelta(minutes=5)


class CheckoutUnavailable(Exception):  # noqa: N818
    """Payment cannot start now; ``message`` says why, for the attendee."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def _session_end(registration: Registration, now: datetime) -> datetime:
    shortest = now + timedelta(minutes=max(settings.SEAT_HOLD_MINUTES, MIN_CHECKOUT_MINUTES + 1))
    hold_end = registration.hold_expires_at or shortest
    end = min(hold_end, now + OFFER_SESSION_MAX)
    return max(end, shortest)


def checkout_start(registration: Registration, now: datetime | None = None) -> str:
    """Return the URL of a Stripe Checkout page for this registration's seat.

    Reuses the open session of the current hold when it has at least five minutes left;
    otherwise holds a seat (from ``eligible``/``expired``) or uses the current hold or waitlist
    offer, expires earlier sessions at Stripe, and creates a new one whose ``expires_at`` is the
    hold's end (the hold is extended if Stripe's 30-minute minimum requires it).

    Raises:
        booking.OfferingFull: no seat (offer the waitlist).
        CheckoutUnavailable: not eligible, already paid, or Stripe could not be reached.
    """
    now = now or timezone.now()
    registration = Registration.objects.select_related("offering__course").get(pk=registration.pk)
    lapsed = registration.hold_expires_at is not None and registration.hold_expires_at <= now
    if registration.state == S.HELD and lapsed:
        booking.release_seat(registration.pk, reason="Seat hold expired unpaid.")
        registration.refresh_from_db()
    if registration.state == S.HELD:
        current = registration.payments.filter(
            status=Payment.Status.OPEN, expires_at__gt=now + REUSE_MARGIN
        ).first()
        if current is not None:
            return current.checkout_url
    elif registration.state in CAN_HOLD_STATES:
        try:
            registration = booking.hold_seat(registration, now)
        except booking.CannotHold as exc:
            raise CheckoutUnavailable(exc.message) from exc
    else:
        raise CheckoutUnavailable(queries.why_not_hold(registration))
    session_end = _session_end(registration, now)
    registration = booking.extend_hold(registration, session_end)
    expire_open_sessions(registration)
    return _create_session(registration, session_end)


def expire_open_sessions(registration: Registration) -> None:
    """Expire the registration's open Checkout Sessions at Stripe (before a new checkout or
    cancelling a hold); one that Stripe says is already complete stays open here until its
    webhook settles it.

    Raises: CheckoutUnavailable when Stripe cannot be reached or the payment just completed.
    """
    for payment in registration.payments.filter(status=Payment.Status.OPEN):
        session_id = payment.stripe_checkout_session_id or ""
        try:
            expired = gateway().checkout_session_expire(session_id)
            if not expired:
                expired = gateway().checkout_session_status(session_id) == "expired"
        except PaymentProviderError as exc:
            raise CheckoutUnavailable(
                "We could not reach our payment provider. Please try again in a few minutes."
            ) from exc
        if not expired:
            raise CheckoutUnavailable(
                "Your payment has just been completed and is being confirmed. Please refresh "
                "this page in a moment."
            )
        Payment.objects.filter(pk=payment.pk, status=Payment.Status.OPEN).update(
            status=Payment.Status.EXPIRED, updated_at=timezone.now()
        )


def _create_session(registration: Registration, session_end: datetime) -> str:
    """Record a new Payment with its nonce (the database allows one creating-or-open per
    registration, so a double click cannot open two checkouts), then create its session at
    Stripe with the payment's own idempotency key and the metadata that identifies it."""
    offering = registration.offering
    course = offering.course
    try:
        with transaction.atomic():
            payment = Payment.objects.create(
                registration=registration,
                amount_cents=course.tuition_cents,
                currency=course.currency,
                expires_at=session_end,
                idempotency_key=f"checkout:{registration.pk}:{uuid.uuid4().hex}",
                nonce=secrets.token_urlsafe(32),
            )
    except IntegrityError:
        return _wait_for_concurrent_checkout(registration)
    manage = links.manage_page_path(registration)  # token-less: the session grant opens it
    try:
        session = gateway().checkout_session_create(
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            product_name=f"{course.title}: {offering.date_label}, "
            f"{offering.get_part_of_day_display().lower()}",
            customer_email=registration.email,
            client_reference_id=str(registration.pk),
            metadata={
                "registration": str(registration.pk),
                "payment": str(payment.pk),
                "nonce": payment.nonce,
                "offering": str(offering.pk),
            },
            expires_at=session_end,
            success_url=f"{settings.SITE_URL}{manage}payment/?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{settings.SITE_URL}{manage}",
            idempotency_key=payment.idempotency_key,
        )
    except PaymentProviderError as exc:
        Payment.objects.filter(pk=payment.pk).update(
            status=Payment.Status.FAILED, updated_at=timezone.now()
        )
        if registration.hold_is_offer:
            # A waitlist offer stays theirs until it ends: they can simply try again.
            raise CheckoutUnavailable(
                "We could not start the payment. Your offered seat is still held for you; "
                "please try again in a few minutes."
            ) from exc
        booking.release_seat(registration.pk, reason=f"Checkout could not start: {exc.message}")
        raise CheckoutUnavailable(
            "We could not start the payment. Your seat was not kept; please try again in a few "
            "minutes."
        ) from exc
    Payment.objects.filter(pk=payment.pk).update(
        stripe_checkout_session_id=session.id,
        checkout_url=session.url,
        status=Payment.Status.OPEN,
        updated_at=timezone.now(),
    )
    return session.url


def _wait_for_concurrent_checkout(registration: Registration, seconds: float = 10) -> str:
    """Another request of the same registration is creating its checkout: return its URL."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        current = (
            registration.payments.filter(status__in=OPEN_CHECKOUT_STATUSES)
            .order_by("-created_at")
            .first()
        )
        if current is None:
            break
        if current.checkout_url:
            return current.checkout_url
        time.sleep(0.1)
    raise CheckoutUnavailable("Your checkout is being prepared. Please try again in a moment.")


@shared_task(name="registrations.expire_checkout_session", acks_late=True, ignore_result=True)
def expire_checkout_session(session_id: str) -> bool:
    """Expire a Checkout Session that must no longer be paid (another payment of the same
    registration succeeded). Returns True when it was expired now."""
    return gateway().checkout_session_expire(session_id)
