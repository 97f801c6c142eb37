"""What money events do to registrations: payment received, processing, failed, expired,
refunded, disputed. Called by the webhook dispatcher (``payments.webhooks``) with Stripe's
objects as plain dicts; every function is idempotent and order-independent, so Stripe's
duplicate or reordered deliveries give the same end state.

Money that arrives for a registration that cannot take it (cancelled, waitlisted, already paid,
or a late payment with no seat left) is refunded in full automatically and flagged for staff.
Locks follow ``registrations.locking``'s order: offering, payment, registration
(``ledger.lock_payment``).
"""

import logging
from datetime import datetime
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone

from registrations.enums import LIVE_PAYMENT_STATUSES, OPEN_CHECKOUT_STATUSES
from registrations.enums import RegistrationState as S
from registrations.messaging import notices
from registrations.models import Registration
from registrations.seats import booking, queries
from registrations.transitions import Actor, registration_note, registration_transition

from . import attention, checkout, refunds
from .ledger import lock_payment, refunded_total
from .models import Payment

logger = logging.getLogger("citreg.payments")


class NotYetKnown(Exception):  # noqa: N818
    """The event refers to a payment we have not heard of yet (Stripe may deliver
    ``charge.refunded`` before ``checkout.session.completed``): answer so Stripe retries."""


def _payment_for_session(session: dict) -> Payment | None:
    """The Payment of a Checkout Session; if we never stored its id (a crash between Stripe's
    answer and our save), adopt it by ``client_reference_id`` so no payment is lost."""
    payment = Payment.objects.filter(stripe_checkout_session_id=session["id"]).first()
    if payment is not None:
        return payment
    reference = str(session.get("client_reference_id") or "")
    registration = (
        Registration.objects.filter(pk=int(reference)).first() if reference.isdigit() else None
    )
    if registration is None:
        logger.warning("payments.unknown_session session=%s", session["id"])
        return None
    fields = {
        "registration": registration,
        "amount_cents": session.get("amount_total") or registration.offering.course.tuition_cents,
        "currency": session.get("currency") or "usd",
        "idempotency_key": f"adopted:{session['id']}",
        "stripe_checkout_session_id": session["id"],
    }
    try:
        with transaction.atomic():
            return Payment.objects.create(status=Payment.Status.OPEN, **fields)
    except IntegrityError:  # another checkout of this registration is open
        return Payment.objects.create(status=Payment.Status.EXPIRED, **fields)


def _payment_for_intent(obj: dict) -> Payment:
    """The Payment of a charge or dispute, by its PaymentIntent.

    Raises: NotYetKnown when we have not recorded that PaymentIntent yet.
    """
    intent = obj.get("payment_intent") or ""
    payment = Payment.objects.filter(stripe_payment_intent_id=intent).first() if intent else None
    if payment is None:
        raise NotYetKnown(f"no payment for payment_intent {intent!r} yet")
    return payment


def _refund_unwanted(payment: Payment, registration: Registration, why: str) -> None:
    """Refund a payment in full that the registration cannot take; flag it for staff."""
    refund = refunds.refund_request(
        payment=payment, amount_cents=payment.refundable_cents, reason=why, automatic=True
    )
    transaction.on_commit(lambda: refunds.execute_refund.delay(refund.pk))
    attention.flag(registration, f"Payment {payment.pk} refunded automatically: {why}")
    notices.send_payment_refunded_unwanted(registration, why)


def _hold_lapsed(registration: Registration, now: datetime) -> bool:
    return (
        registration.state == S.HELD
        and registration.hold_expires_at is not None
        and registration.hold_expires_at <= now
    )


def _record_lapse(registration: Registration) -> Registration:
    """A hold that ran out before the release task saw it: record it as expired."""
    return registration_transition(
        registration_id=registration.pk,
        to_state=S.EXPIRED,
        actor=Actor.system(),
        reason="Seat hold expired before the payment arrived.",
        hold_expires_at=None,
    ).registration


def checkout_completed(session: dict) -> None:
    """``checkout.session.completed``: paid → confirm; unpaid (delayed method) → processing."""
    payment = _payment_for_session(session)
    if payment is None:
        return
    Payment.objects.filter(pk=payment.pk, stripe_payment_intent_id="").update(
        stripe_payment_intent_id=session.get("payment_intent") or ""
    )
    if session.get("payment_status") in ("paid", "no_payment_required"):
        money_arrived(payment.pk)
    else:
        payment_processing(payment.pk)


def payment_processing(payment_id: int) -> None:
    """A delayed payment method is pending: keep the seat (``held`` → ``processing``).

    If the hold already lapsed, the registration takes a seat only if one is free; otherwise it
    stays expired and the money, if it lands, is refunded (``money_arrived``).
    """
    with transaction.atomic():
        rows = lock_payment(payment_id)
        payment, registration, now = rows.payment, rows.registration, timezone.now()
        if payment.status not in OPEN_CHECKOUT_STATUSES:
            return
        payment.status = Payment.Status.PROCESSING
        payment.save(update_fields=["status", "updated_at"])
        if _hold_lapsed(registration, now):
            registration = _record_lapse(registration)
        seat_free = queries.seats_free(rows.offering, now) > 0
        if registration.state == S.HELD or (registration.state == S.EXPIRED and seat_free):
            registration_transition(
                registration_id=registration.pk,
                to_state=S.PROCESSING,
                actor=Actor.system(),
                reason="Payment pending with a delayed payment method.",
                hold_expires_at=None,
            )
        else:
            registration_note(
                registration,
                actor=Actor.system(),
                reason="A delayed payment is pending, but no seat is free; it will be refunded "
                "if it succeeds.",
            )


def money_arrived(payment_id: int) -> None:
    """The payment succeeded: confirm the seat, or refund when it cannot be kept.

    Confirms from ``held``/``processing``, and from ``expired`` (or a hold that lapsed before the
    release task ran) when a seat is still free; otherwise refunds in full, tells the attendee
    and flags staff.
    """
    with transaction.atomic():
        rows = lock_payment(payment_id)
        payment, registration, now = rows.payment, rows.registration, timezone.now()
        if payment.status == Payment.Status.PAID:
            return
        payment.status, payment.paid_at = Payment.Status.PAID, now
        payment.save(update_fields=["status", "paid_at", "updated_at"])
        if _hold_lapsed(registration, now):
            registration = _record_lapse(registration)
        state = registration.state
        seat_free = queries.seats_free(rows.offering, now) > 0
        if state in (S.HELD, S.PROCESSING) or (state == S.EXPIRED and seat_free):
            result = registration_transition(
                registration_id=registration.pk,
                to_state=S.CONFIRMED,
                actor=Actor.system(),
                reason="Paid." if state != S.EXPIRED else "Paid after the hold lapsed; seat free.",
                hold_expires_at=None,
                hold_is_offer=False,
            )
            notices.send_confirmation(result.registration)
            _expire_other_sessions(payment)
            return
        if state == S.EXPIRED:
            why = "the payment arrived after your seat hold ended and the class is now full"
        elif state == S.CONFIRMED:
            why = "this registration was already paid"
        else:
            why = f"the registration is {registration.get_state_display().lower()}"
        _refund_unwanted(payment, registration, why)


def _expire_other_sessions(paid: Payment) -> None:
    others = Payment.objects.filter(
        registration_id=paid.registration_id, status__in=OPEN_CHECKOUT_STATUSES
    ).exclude(pk=paid.pk)
    for other in others:
        if other.stripe_checkout_session_id:
            session_id = other.stripe_checkout_session_id
            transaction.on_commit(partial(checkout.expire_checkout_session.delay, session_id))


def payment_failed(session: dict) -> None:
    """``checkout.session.async_payment_failed``: the pending payment failed; free the seat it
    was keeping (only if the registration is processing this very payment)."""
    payment = _payment_for_session(session)
    if payment is None:
        return
    with transaction.atomic():
        rows = lock_payment(payment.pk)
        payment, registration = rows.payment, rows.registration
        if payment.status in (Payment.Status.PAID, Payment.Status.FAILED):
            return
        was_processing = payment.status == Payment.Status.PROCESSING
        payment.status = Payment.Status.FAILED
        payment.save(update_fields=["status", "updated_at"])
        if was_processing and registration.state == S.PROCESSING:
            booking.release_seat(registration.pk, reason="The payment failed.")
            notices.send_payment_failed(registration)


def session_expired(session: dict) -> None:
    """``checkout.session.expired``: close the payment; release the hold only if this was the
    registration's live checkout and it is still unpaid. An abandoned earlier session changes
    nothing, and a waitlist offer (whose session ends before the offer) keeps its seat until the
    offer itself ends, so the person can start checkout again."""
    payment = _payment_for_session(session)
    if payment is None:
        return
    with transaction.atomic():
        rows = lock_payment(payment.pk)
        payment, registration = rows.payment, rows.registration
        if payment.status not in OPEN_CHECKOUT_STATUSES:
            return
        payment.status = Payment.Status.EXPIRED
        payment.save(update_fields=["status", "updated_at"])
        live = Payment.objects.filter(
            registration_id=payment.registration_id, status__in=LIVE_PAYMENT_STATUSES
        ).exists()
        offer_still_open = registration.hold_is_offer and (
            registration.hold_expires_at and registration.hold_expires_at > timezone.now()
        )
        if not live and registration.state == S.HELD and not offer_still_open:
            booking.release_seat(registration.pk, reason="Checkout expired unpaid.", notify=True)


def charge_refunded(charge: dict) -> None:
    """``charge.refunded``: bring the payment's refunded total up to ``amount_refunded``.

    Raises: NotYetKnown when the payment is not recorded yet (Stripe retries the delivery).
    """
    refunded_total(_payment_for_intent(charge), int(charge.get("amount_refunded") or 0))


def dispute_created(dispute: dict) -> None:
    """``charge.dispute.created``: flag the registration for staff (once per dispute).

    Raises: NotYetKnown when the payment is not recorded yet (Stripe retries the delivery).
    """
    payment = _payment_for_intent(dispute)
    registration = payment.registration
    reason = (
        f"Payment disputed ({dispute.get('reason') or 'no reason given'}); "
        f"dispute {dispute.get('id')}."
    )
    if registration.attention_reason != reason:
        attention.flag(registration, reason)
