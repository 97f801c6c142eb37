"""Starting payment: hold a seat (``seats.booking``), then open a Checkout Session for it.

No money moves before eligibility is settled: only eligible registrants (or those trying again
after a hold lapsed, or holding a waitlist offer) get here. The hold is committed before Stripe is
called; a failed Stripe call frees it. Only one Checkout Session per registration is open at a
time: earlier open sessions are expired at Stripe before a new one is made.

Every step has a way out (``docs/architecture.md``, "Intermediate states"). The Payment row is
committed ``creating`` before Stripe is called and becomes ``open`` with its session in one short
transaction after Stripe answers. A request that dies in between leaves it ``creating``:
``payments.reconcile`` finds its session at Stripe (or that there is none) after
``CHECKOUT_RECONCILE_GRACE_SECONDS``, from beat or from the next Pay press, which otherwise waits
at most ``CHECKOUT_WAIT_SECONDS`` for another request of the same registration.

Each Payment gets a fresh secret ``nonce`` (``secrets.token_urlsafe``) which is written, with the
registration's and the payment's ids, into the session's metadata (and its PaymentIntent's). It
is how ``payments.settlement`` recognises a session citreg created but never stored (a crash
between Stripe's answer and our save); ``client_reference_id`` is sent for Stripe's dashboard
only and never trusted (``docs/architecture.md``, "Security and privacy").
"""

import logging
import secrets
import time
import uuid
from datetime import datetime, timedelta

from celery import shared_task
from celery.app.task import Task
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from registrations import links
from registrations.enums import CAN_HOLD_STATES, OPEN_CHECKOUT_STATUSES
from registrations.enums import RegistrationState as S
from registrations.models import Registration
from registrations.seats import booking, queries

from . import reconcile
from .gateway import MIN_CHECKOUT_MINUTES, CheckoutSession, PaymentProviderError, gateway
from .models import Payment

logger = logging.getLogger("citreg.payments")
CREATING, OPEN = Payment.Status.CREATING, Payment.Status.OPEN

# A session offered for a waitlist seat ends with the offer, but within Stripe's window: no later
# than 23 hours and no sooner than the normal hold (35 minutes) from the click.
OFFER_SESSION_MAX = timedelta(hours=23)
REUSE_MARGIN = timedelta(minutes=5)
PREPARING = "Your checkout is being prepared. Please try again in a moment."


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

    Never waits more than ``CHECKOUT_WAIT_SECONDS`` for another request of the same registration
    that is creating its checkout; a payment left ``creating`` by a request that died is
    reconciled first (``reconcile``), then checkout starts over once.

    Raises:
        booking.OfferingFull: no seat (offer the waitlist).
        CheckoutUnavailable: not eligible, already paid, Stripe could not be reached, or another
            request is still preparing this registration's checkout (try again in a moment).
    """
    now = now or timezone.now()
    for _attempt in range(2):
        url = _checkout_attempt(registration, now)
        if url is not None:
            return url
    raise CheckoutUnavailable(PREPARING)


def _checkout_attempt(registration: Registration, now: datetime) -> str | None:
    """One pass of ``checkout_start``: the URL, or None when a blocking payment was just
    cleared out of the way (start over)."""
    registration = Registration.objects.select_related("offering__course").get(pk=registration.pk)
    lapsed = registration.hold_expires_at is not None and registration.hold_expires_at <= now
    if registration.state == S.HELD and lapsed:
        booking.release_seat(registration.pk, reason="Seat hold expired unpaid.")
        registration.refresh_from_db()
    if registration.state == S.HELD:
        current = (
            registration.payments.filter(
                status=Payment.Status.OPEN, expires_at__gt=now + REUSE_MARGIN
            )
            .exclude(checkout_url="")
            .first()
        )
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


def _create_session(registration: Registration, session_end: datetime) -> str | None:
    """Record a new Payment with its nonce (the database allows one creating-or-open per
    registration, so a double click cannot open two checkouts), then create its session at
    Stripe with the payment's own idempotency key and the metadata that identifies it.

    Returns: the session's URL, or None when another payment was in the way and has just been
    cleared (``_concurrent_checkout``: start over).
    Raises: CheckoutUnavailable.
    """
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
        return _concurrent_checkout(registration)
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
        if not exc.indeterminate:
            reconcile.close_creating(
                payment.pk, Payment.Status.FAILED, f"Stripe refused the checkout: {exc.message}"
            )
        # Otherwise Stripe may have made the session although no answer came back: the payment
        # stays creating and ``reconcile`` adopts or expires that session after the grace.
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
    if not _store_session(payment.pk, session):
        # ``reconcile`` closed the payment while this request was slow: this session must not
        # stay payable beside the next one.
        _discard(session.id)
        raise CheckoutUnavailable(PREPARING)
    return session.url


def _store_session(payment_id: int, session: CheckoutSession) -> bool:
    """Record the session Stripe made for a ``creating`` payment, in one transaction. Returns
    whether the payment now has this open session (also when ``reconcile`` adopted it first),
    False when ``reconcile`` closed the payment meanwhile."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.stripe_checkout_session_id == session.id and payment.status == OPEN:
            return True
        if payment.status != CREATING or payment.stripe_checkout_session_id not in (
            None,
            session.id,
        ):
            return False
        payment.stripe_checkout_session_id = session.id
        payment.checkout_url = session.url
        payment.status = OPEN
        payment.save(
            update_fields=["stripe_checkout_session_id", "checkout_url", "status", "updated_at"]
        )
    return True


def _discard(session_id: str) -> None:
    """Expire a session nobody will pay; a failure is logged (it expires at its ``expires_at``
    anyway, and a payment of it would be refunded by ``settlement``)."""
    try:
        gateway().checkout_session_expire(session_id)
    except PaymentProviderError as exc:
        logger.warning("payments.discard_failed session=%s error=%s", session_id, exc.message)


def _concurrent_checkout(registration: Registration) -> str | None:
    """Another payment of this registration is ``creating`` or ``open`` (the database allows one).

    Waits at most ``CHECKOUT_WAIT_SECONDS`` for another request to finish creating it. A
    payment abandoned by its request (``reconcile.is_abandoned``) is reconciled at once.

    Returns: None when the way is clear (start over: reuse the open session or make a new one).
    Raises: CheckoutUnavailable when the other request is still at it, or Stripe cannot be
        reached to reconcile.
    """
    deadline = time.monotonic() + settings.CHECKOUT_WAIT_SECONDS
    while True:
        current = (
            registration.payments.filter(status__in=OPEN_CHECKOUT_STATUSES)
            .order_by("-created_at")
            .first()
        )
        if current is None or current.status != CREATING:
            return None
        if reconcile.is_abandoned(current):
            try:
                reconcile.reconcile_payment(current.pk)
            except PaymentProviderError as exc:
                raise CheckoutUnavailable(
                    "We could not reach our payment provider. Please try again in a few minutes."
                ) from exc
            return None
        if time.monotonic() >= deadline:
            raise CheckoutUnavailable(PREPARING)
        time.sleep(0.1)


EXPIRE_TASK_MAX_RETRIES = 6


@shared_task(
    name="registrations.expire_checkout_session",
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=EXPIRE_TASK_MAX_RETRIES,
)
def expire_checkout_session(self: Task, session_id: str) -> bool:
    """Expire a Checkout Session that must no longer be paid (another payment of the same
    registration succeeded). Returns True when it was expired now, False when it was no longer
    open. While Stripe cannot be reached it is retried with backoff (2, 4, … 64 s); after that an
    error is logged and the task fails: the session still ends at its ``expires_at`` (the hold's
    end), and a payment of it would be refunded (``settlement``)."""
    try:
        return gateway().checkout_session_expire(session_id)
    except PaymentProviderError as exc:
        if self.request.retries >= EXPIRE_TASK_MAX_RETRIES:
            logger.error(
                "payments.expire_failed task=%s session=%s error=%s",
                self.name, session_id, exc.message,
            )  # fmt: skip
            raise
        raise self.retry(countdown=2 ** (self.request.retries + 1)) from exc
