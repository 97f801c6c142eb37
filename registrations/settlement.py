"""What money events do to registrations: payment received, processing, failed, expired,
refunded, disputed. Called by the webhook dispatcher (``registrations.webhooks``) with Stripe's
objects as plain dicts; every function is idempotent and order-independent, so Stripe's
duplicate or reordered deliveries give the same end state.

Money that arrives for a registration that cannot take it (cancelled, waitlisted, already paid,
or a late payment with no seat left) is refunded in full automatically and flagged for staff.
"""

import logging

from django.db import transaction
from django.utils import timezone

from . import booking, notices
from .models import Payment, Refund, Registration
from .transitions import Actor, registration_note, registration_transition

logger = logging.getLogger("citreg.payments")
S = Registration.State


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
    return Payment.objects.create(
        registration=registration,
        status=Payment.Status.OPEN,
        amount_cents=session.get("amount_total") or 0,
        currency=session.get("currency") or "usd",
        idempotency_key=f"adopted:{session['id']}",
        stripe_checkout_session_id=session["id"],
    )


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
    _flag(registration, f"Payment refunded automatically: {why}")
    notices.send_payment_refunded_unwanted(registration, why)


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
    """A delayed payment method is pending: keep the seat (``held`` → ``processing``)."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status not in (Payment.Status.OPEN, Payment.Status.CREATING):
            return
        payment.status = Payment.Status.PROCESSING
        payment.save(update_fields=["status", "updated_at"])
        registration = payment.registration
        if registration.state in (S.HELD, S.EXPIRED):
            registration_transition(
                registration_id=registration.pk,
                to_state=S.PROCESSING,
                actor=Actor.system(),
                reason="Payment pending with a delayed payment method.",
                hold_expires_at=None,
            )


def money_arrived(payment_id: int) -> None:
    """The payment succeeded: confirm the seat, or refund when it cannot be kept.

    Confirms from ``held``/``processing``, and from ``expired`` when a seat is still free (a late
    payment); otherwise refunds in full, tells the attendee and flags staff.
    """
    with transaction.atomic():
        payment = Payment.objects.select_related("registration").get(pk=payment_id)
        offering = booking._lock_offering(payment.registration.offering_id)
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status == Payment.Status.PAID:
            return
        payment.status, payment.paid_at = Payment.Status.PAID, timezone.now()
        payment.save(update_fields=["status", "paid_at", "updated_at"])
        registration = Registration.objects.select_for_update().get(pk=payment.registration_id)
        now = timezone.now()
        if registration.state == S.HELD and registration.hold_expires_at <= now:
            # The hold lapsed before the payment landed (the release task has not run yet):
            # record that, then treat it as any late payment.
            registration = registration_transition(
                registration_id=registration.pk,
                to_state=S.EXPIRED,
                actor=Actor.system(),
                reason="Seat hold expired before the payment arrived.",
                hold_expires_at=None,
            ).registration
        state = registration.state
        seat_free = booking.seats_taken(offering, now) < offering.capacity
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
    """``checkout.session.async_payment_failed``: the pending payment failed; free the seat."""
    payment = _payment_for_session(session)
    if payment is None:
        return
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.status in (Payment.Status.PAID, Payment.Status.FAILED):
            return
        payment.status = Payment.Status.FAILED
        payment.save(update_fields=["status", "updated_at"])
        if booking.release_seat(payment.registration_id, reason="The payment failed."):
            notices.send_payment_failed(payment.registration)


def session_expired(session: dict) -> None:
    """``checkout.session.expired``: close the payment; release the hold only if this was the
    registration's live checkout and it is still unpaid (an abandoned earlier session of a
    registration that later paid changes nothing)."""
    payment = _payment_for_session(session)
    if payment is None:
        return
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
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
        registration = payment.registration
        if not live and registration.state == S.HELD:
            booking.release_seat(registration.pk, reason="Checkout expired unpaid.", notify=True)


def refunded_total(payment: Payment, total_cents: int, refund: Refund | None = None) -> None:
    """Record that ``total_cents`` of ``payment`` have been refunded in all (from our own refund
    or from ``charge.refunded``, e.g. a refund made in Stripe's dashboard). Never lowers the
    total. When the whole amount is back, a confirmed (or late-paid expired) registration moves
    to ``refunded`` and its seat is offered on; a partial refund keeps state and seat."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        total_cents = min(total_cents, payment.amount_cents)
        if total_cents <= payment.amount_refunded_cents:
            return
        added = total_cents - payment.amount_refunded_cents
        payment.amount_refunded_cents = total_cents
        payment.save(update_fields=["amount_refunded_cents", "updated_at"])
        # Our own refunds count from the moment they are requested: Stripe's charge.refunded
        # can arrive before refund_execute has recorded its success.
        recorded = sum(
            r.amount_cents
            for r in payment.refunds.filter(
                status__in=(Refund.Status.SUCCEEDED, Refund.Status.PENDING)
            )
        )
        if recorded < total_cents:  # Refunded outside citreg (Stripe's dashboard): record it.
            Refund.objects.create(
                payment=payment,
                amount_cents=total_cents - recorded,
                status=Refund.Status.SUCCEEDED,
                reason="Refunded in Stripe.",
                idempotency_key=f"external:{payment.pk}:{total_cents}",
            )
        registration = Registration.objects.select_for_update().get(pk=payment.registration_id)
        full = total_cents >= payment.amount_cents
        if full and registration.state in (S.CONFIRMED, S.EXPIRED):
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
                f"${payment.amount_cents / 100:.2f} refunded).",
            )
        if refund is None or not refund.automatic:  # automatic ones were announced already
            notices.send_refund_issued(registration, payment, total_cents)


def charge_refunded(charge: dict) -> None:
    """``charge.refunded``: bring the payment's refunded total up to ``amount_refunded``."""
    intent = charge.get("payment_intent") or ""
    payment = Payment.objects.filter(stripe_payment_intent_id=intent).first() if intent else None
    if payment is None:
        logger.warning("payments.unknown_charge charge=%s", charge.get("id"))
        return
    refunded_total(payment, int(charge.get("amount_refunded") or 0))


def dispute_created(dispute: dict) -> None:
    """``charge.dispute.created``: flag the registration for staff (once per dispute)."""
    intent = dispute.get("payment_intent") or ""
    payment = Payment.objects.filter(stripe_payment_intent_id=intent).first() if intent else None
    if payment is None:
        logger.warning("payments.unknown_dispute dispute=%s", dispute.get("id"))
        return
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
        _flag(refund.payment.registration, f"Automatic refund failed: {message}")
