"""What money events do to registrations: payment received, processing, failed, expired,
refunded, disputed. Called by the webhook dispatcher (``registrations.webhooks``) with Stripe's
objects as plain dicts; every function is idempotent and order-independent, so Stripe's
duplicate or reordered deliveries give the same end state.

Money that arrives for a registration that cannot take it (cancelled, waitlisted, already paid,
or a late payment with no seat left) is refunded in full automatically and flagged for staff.
Locks follow ``booking.lock_offering``'s order: offering, payment, registration.
"""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from courses.models import Offering

from . import booking, notices
from .models import Payment, Refund, Registration
from .transitions import Actor, registration_note, registration_transition

logger = logging.getLogger("citreg.payments")
S = Registration.State


class NotYetKnown(Exception):  # noqa: N818
    """The event refers to a payment we have not heard of yet (Stripe may deliver
    ``charge.refunded`` before ``checkout.session.completed``): answer so Stripe retries."""


@dataclass
class Locked:
    """The rows of one payment's settlement, locked in order."""

    offering: Offering
    payment: Payment
    registration: Registration


def _lock(payment_id: int) -> Locked:
    """Lock the offering, the payment and the registration, in that order (call in atomic)."""
    offering_id = (
        Payment.objects.filter(pk=payment_id).values_list("registration__offering_id", flat=True)
    ).get()
    offering = booking.lock_offering(offering_id)
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    registration = Registration.objects.select_for_update().get(pk=payment.registration_id)
    return Locked(offering, payment, registration)


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


def _flag(registration: Registration, reason: str) -> None:
    Registration.objects.filter(pk=registration.pk).update(
        needs_attention=True, attention_reason=reason, updated_at=timezone.now()
    )
    registration_note(registration, actor=Actor.system(), reason=f"Needs attention: {reason}")
    notices.send_staff_alert(registration, reason)


def _refund_unwanted(payment: Payment, registration: Registration, why: str) -> None:
    """Refund a payment in full that the registration cannot take; flag it for staff."""
    from .refunds import refund_request
    from .tasks import execute_refund

    refund = refund_request(
        payment=payment, amount_cents=payment.refundable_cents, reason=why, automatic=True
    )
    transaction.on_commit(lambda: execute_refund.delay(refund.pk))
    _flag(registration, f"Payment {payment.pk} refunded automatically: {why}")
    notices.send_payment_refunded_unwanted(registration, why)


def _hold_lapsed(registration: Registration, now) -> bool:
    return registration.state == S.HELD and registration.hold_expires_at <= now


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
        rows = _lock(payment_id)
        payment, registration, now = rows.payment, rows.registration, timezone.now()
        if payment.status not in (Payment.Status.OPEN, Payment.Status.CREATING):
            return
        payment.status = Payment.Status.PROCESSING
        payment.save(update_fields=["status", "updated_at"])
        if _hold_lapsed(registration, now):
            registration = _record_lapse(registration)
        seat_free = booking.seats_taken(rows.offering, now) < rows.offering.capacity
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
        rows = _lock(payment_id)
        payment, registration, now = rows.payment, rows.registration, timezone.now()
        if payment.status == Payment.Status.PAID:
            return
        payment.status, payment.paid_at = Payment.Status.PAID, now
        payment.save(update_fields=["status", "paid_at", "updated_at"])
        if _hold_lapsed(registration, now):
            registration = _record_lapse(registration)
        state = registration.state
        seat_free = booking.seats_taken(rows.offering, now) < rows.offering.capacity
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
    from .tasks import expire_checkout_session

    others = Payment.objects.filter(
        registration_id=paid.registration_id,
        status__in=(Payment.Status.OPEN, Payment.Status.CREATING),
    ).exclude(pk=paid.pk)
    for other in others:
        if other.stripe_checkout_session_id:
            session_id = other.stripe_checkout_session_id
            transaction.on_commit(lambda sid=session_id: expire_checkout_session.delay(sid))


def payment_failed(session: dict) -> None:
    """``checkout.session.async_payment_failed``: the pending payment failed; free the seat it
    was keeping (only if the registration is processing this very payment)."""
    payment = _payment_for_session(session)
    if payment is None:
        return
    with transaction.atomic():
        rows = _lock(payment.pk)
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
        rows = _lock(payment.pk)
        payment, registration = rows.payment, rows.registration
        if payment.status not in (Payment.Status.OPEN, Payment.Status.CREATING):
            return
        payment.status = Payment.Status.EXPIRED
        payment.save(update_fields=["status", "updated_at"])
        live = Payment.objects.filter(
            registration_id=payment.registration_id,
            status__in=(
                Payment.Status.OPEN, Payment.Status.CREATING, Payment.Status.PROCESSING,
                Payment.Status.PAID,
            ),
        ).exists()  # fmt: skip
        offer_still_open = registration.hold_is_offer and (
            registration.hold_expires_at and registration.hold_expires_at > timezone.now()
        )
        if not live and registration.state == S.HELD and not offer_still_open:
            booking.release_seat(registration.pk, reason="Checkout expired unpaid.", notify=True)


def kept_cents(registration: Registration) -> int:
    """What the registration has paid and not been refunded, over all its payments (cents)."""
    return sum(
        payment.amount_cents - payment.amount_refunded_cents
        for payment in registration.payments.filter(status=Payment.Status.PAID)
    )


def refunded_total(payment: Payment, total_cents: int, refund: Refund | None = None) -> None:
    """Record that ``total_cents`` of ``payment`` have been refunded in all (from our own refund
    or from ``charge.refunded``, e.g. a refund made in Stripe's dashboard). Never lowers the
    total and never exceeds the payment. When nothing the registration paid is left (over all
    its payments: refunding a duplicate payment does not end a paid place), a confirmed (or
    late-paid expired) registration moves to ``refunded`` and its seat is offered on; a partial
    refund keeps state and seat."""
    with transaction.atomic():
        rows = _lock(payment.pk)
        payment, registration = rows.payment, rows.registration
        total_cents = min(total_cents, payment.amount_cents)
        if total_cents <= payment.amount_refunded_cents:
            return
        added = total_cents - payment.amount_refunded_cents
        payment.amount_refunded_cents = total_cents
        payment.save(update_fields=["amount_refunded_cents", "updated_at"])
        # Our own refunds count from the moment they are requested: Stripe's charge.refunded
        # can arrive before refund_execute has recorded its success.
        ours = payment.refunds.filter(status__in=(Refund.Status.SUCCEEDED, Refund.Status.PENDING))
        recorded = sum(r.amount_cents for r in ours)
        if recorded < total_cents:  # Refunded outside citreg (Stripe's dashboard): record it.
            Refund.objects.create(
                payment=payment,
                amount_cents=total_cents - recorded,
                status=Refund.Status.SUCCEEDED,
                reason="Refunded in Stripe.",
                idempotency_key=f"external:{payment.pk}:{total_cents}",
            )
        if registration.state in (S.CONFIRMED, S.EXPIRED) and kept_cents(registration) == 0:
            was_confirmed = registration.state == S.CONFIRMED
            registration_transition(
                registration_id=registration.pk,
                to_state=S.REFUNDED,
                actor=Actor.system(),
                reason=f"Refunded in full (${total_cents / 100:.2f}).",
            )
            booking.offer_free_seats(registration.offering_id)
            if was_confirmed:
                notices.send_place_ended(
                    registration,
                    reason=f"Your payment of ${total_cents / 100:,.2f} has been refunded in full, "
                    "so your place in the class has ended.",
                )
        else:
            registration_note(
                registration,
                actor=Actor.system(),
                reason=f"Refund of ${added / 100:.2f} recorded (${total_cents / 100:.2f} of "
                f"${payment.amount_cents / 100:.2f} of payment {payment.pk} refunded).",
            )
        automatic = payment.refunds.filter(automatic=True).exists()
        if not automatic:  # automatic refunds were announced when they were decided
            notices.send_refund_issued(registration, payment, total_cents)


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
        with transaction.atomic():
            _flag(registration, reason)


def refund_failed(refund_id: int, message: str) -> None:
    """An automatic refund could not be issued after retries: flag the registration for staff."""
    refund = Refund.objects.select_related("payment__registration").get(pk=refund_id)
    with transaction.atomic():
        _flag(refund.payment.registration, f"Automatic refund {refund.pk} failed: {message}")
