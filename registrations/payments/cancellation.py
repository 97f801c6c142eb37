"""Ending a place: by the attendee (manage page) or by staff (admin), with the refund the
course's policy or staff decide. A cancellation frees the seat and ends in ``refunded`` when the
whole amount went back, else ``cancelled``."""

from django.db import transaction

from registrations.enums import UNPAID_CANCELLABLE_STATES as UNPAID_CANCELLABLE
from registrations.enums import RegistrationState as S
from registrations.locking import lock_seat
from registrations.messaging import notices
from registrations.models import Registration
from registrations.seats import booking
from registrations.transitions import Actor, IllegalTransition, registration_transition

from . import checkout, policy, refunds
from .models import Payment


def paid_payment(registration: Registration) -> Payment | None:
    """The paid tuition payment a refund goes back to: the one with the most left to refund (a
    duplicate payment that was already refunded is skipped), or None. Transfer fees are not
    tuition: the refund policy does not give them back (a cancelled class refunds them)."""
    paid = [
        p
        for p in Payment.objects.filter(
            registration=registration,
            status=Payment.Status.PAID,
            purpose=Payment.Purpose.TUITION,
        )
        if p.refundable_cents > 0
    ]
    return max(paid, key=lambda p: (p.refundable_cents, p.paid_at), default=None)


def waitlist_leave(registration: Registration) -> Registration:
    """Leave the waitlist, or decline an open seat offer: its checkout (if one was started) is
    expired at Stripe first, so the offered seat cannot be paid for after all.

    Raises: checkout.CheckoutUnavailable when Stripe cannot be reached (nothing changes).
    """
    if registration.state == S.HELD and registration.hold_is_offer:
        checkout.expire_open_sessions(registration)
    return booking.leave_waitlist(registration)


def attendee_refund_preview(registration: Registration) -> int:
    """Cents the attendee would get back by cancelling now (0 when unpaid)."""
    payment = paid_payment(registration)
    if payment is None or registration.state != S.CONFIRMED:
        return 0
    return policy.refundable_cents(payment, registration.offering)


def registration_cancel(
    registration: Registration,
    *,
    actor: Actor,
    reason: str,
    refund_cents: int | None = None,
) -> Registration:
    """Cancel a registration, refunding ``refund_cents`` of its payment first.

    Args:
        actor: the attendee (policy applies) or a staff user (may choose any amount).
        refund_cents: for confirmed registrations; None means "what the policy allows" for the
            attendee and the full remaining amount for staff.

    Returns: the registration after the change (unchanged when already cancelled or refunded).

    Raises:
        IllegalTransition: final, completed or processing registrations.
        PaymentProviderError: the provider refused the refund; nothing changed.
        checkout.CheckoutUnavailable: an open Checkout Session could not be expired at Stripe.
        ValueError: a refund amount larger than what is left.
    """
    registration = Registration.objects.select_related("offering__course").get(pk=registration.pk)
    if registration.state in (S.CANCELLED, S.REFUNDED):
        return registration
    if registration.state == S.WAITLISTED:
        return waitlist_leave(registration)
    if registration.state == S.HELD:
        checkout.expire_open_sessions(registration)
    if registration.state == S.CONFIRMED:
        return _cancel_paid(registration, actor=actor, reason=reason, refund_cents=refund_cents)
    if registration.state not in UNPAID_CANCELLABLE:
        raise IllegalTransition(registration.pk, registration.state, S.CANCELLED)
    with transaction.atomic():
        _, current = lock_seat(registration)
        if current.state in UNPAID_CANCELLABLE:
            result = registration_transition(
                registration_id=registration.pk,
                to_state=S.CANCELLED,
                actor=actor,
                reason=reason,
                hold_expires_at=None,
            )
            if result.changed:
                notices.send_cancelled(result.registration)
                booking.offer_free_seats(registration.offering_id)
            return result.registration
    # The state moved meanwhile (a payment landed while its checkout was being expired):
    # cancel it for what it is now.
    return registration_cancel(current, actor=actor, reason=reason, refund_cents=refund_cents)


def _cancel_paid(
    registration: Registration, *, actor: Actor, reason: str, refund_cents: int | None
) -> Registration:
    payment = paid_payment(registration)
    if refund_cents is None:
        if payment is None:
            refund_cents = 0
        elif actor.user is not None:  # Staff: the whole amount left unless they say otherwise.
            refund_cents = payment.refundable_cents
        else:
            refund_cents = policy.refundable_cents(payment, registration.offering)
    if refund_cents and payment is not None:
        refund = refunds.refund_request(
            payment=payment,
            amount_cents=refund_cents,
            reason=reason,
            staff_user=actor.user,
        )
        refunds.refund_execute(refund.pk)  # Raises on a Stripe error: nothing else changes.
    told = (
        f"Your registration is cancelled; a refund of ${refund_cents / 100:,.2f} is on its way."
        if refund_cents
        else "Your registration is cancelled. No refund is due under the course's refund policy."
    )
    registration.refresh_from_db()
    if registration.state == S.REFUNDED:  # The whole amount went back (notice already sent).
        return registration
    with transaction.atomic():
        lock_seat(registration)
        result = registration_transition(
            registration_id=registration.pk,
            to_state=S.CANCELLED,
            actor=actor,
            reason=reason
            + (f" Refunded ${refund_cents / 100:.2f}." if refund_cents else " No refund."),
        )
        booking.offer_free_seats(registration.offering_id)
        if result.changed:
            notices.send_place_ended(result.registration, reason=told)
    return result.registration


def attendee_cancel(registration: Registration) -> Registration:
    """The attendee cancels from the manage page: unpaid at no cost, paid under the course's
    refund policy (``registration_cancel``)."""
    return registration_cancel(
        registration, actor=Actor.attendee(), reason="Cancelled by the attendee."
    )
