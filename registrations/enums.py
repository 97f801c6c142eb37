"""The states of registrations and payments, and every group of states the code asks about.

One place for each group: the seat rule, the unique-email constraint, the admin filters and the
services all read them from here (``docs/architecture.md``, "Registration states").
"""

from django.db import models


class RegistrationState(models.TextChoices):
    """Where a registration is, from the form to completion (``registrations.transitions``)."""

    PENDING_EMAIL = "pending_email", "Work email not yet confirmed"
    PENDING_REVIEW = "pending_review", "Eligibility under review"
    ELIGIBLE = "eligible", "Eligible"
    WAITLISTED = "waitlisted", "Waitlisted"
    HELD = "held", "Seat held for payment"
    PROCESSING = "processing", "Payment processing"
    EXPIRED = "expired", "Seat hold expired"
    CONFIRMED = "confirmed", "Confirmed"
    COMPLETED = "completed", "Completed"
    REJECTED = "rejected", "Not eligible"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"


S = RegistrationState

# Ended registrations: they hold nothing and free the email for another registration.
INACTIVE_STATES: tuple[str, ...] = (S.REJECTED, S.CANCELLED, S.REFUNDED)
# States that occupy a seat whatever the clock says; a ``held`` seat counts only until
# ``hold_expires_at`` (``registrations.seats.queries.taken_filter``).
SEAT_STATES: tuple[str, ...] = (S.CONFIRMED, S.COMPLETED, S.PROCESSING)
# States from which a seat can be held (or tried again after a lapsed hold or a failed payment).
CAN_HOLD_STATES: tuple[str, ...] = (S.ELIGIBLE, S.EXPIRED)
# Unpaid registrations the attendee or staff may cancel at no cost.
UNPAID_CANCELLABLE_STATES: tuple[str, ...] = (
    S.PENDING_EMAIL,
    S.PENDING_REVIEW,
    S.ELIGIBLE,
    S.EXPIRED,
    S.HELD,
)
# States in which staff may still decide eligibility (approve).
REVIEWABLE_STATES: tuple[str, ...] = (S.PENDING_REVIEW, S.ELIGIBLE)


class Role(models.TextChoices):
    """The registrant's job at the call center."""

    CALL_TAKER = "call_taker", "Call-taker"
    DISPATCHER = "dispatcher", "Dispatcher"
    SUPERVISOR = "supervisor", "Supervisor"
    TRAINER = "trainer", "Trainer"
    OTHER = "other", "Other"


class ActorKind(models.TextChoices):
    """Who made a recorded change."""

    ATTENDEE = "attendee", "Attendee"
    SUPERVISOR = "supervisor", "Supervisor"
    STAFF = "staff", "Staff"
    SYSTEM = "system", "System"


class PaymentStatus(models.TextChoices):
    """One Checkout Session's life (``registrations.payments``)."""

    CREATING = "creating", "Creating checkout"
    OPEN = "open", "Checkout open"
    PROCESSING = "processing", "Payment processing"
    PAID = "paid", "Paid"
    FAILED = "failed", "Payment failed"
    EXPIRED = "expired", "Checkout expired"


P = PaymentStatus

# A checkout in progress: the database allows one per registration.
OPEN_CHECKOUT_STATUSES: tuple[str, ...] = (P.CREATING, P.OPEN)
# Payments that still keep (or have taken) the registration's money or seat.
LIVE_PAYMENT_STATUSES: tuple[str, ...] = (P.CREATING, P.OPEN, P.PROCESSING, P.PAID)


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


# Refunds that count against what is left to refund (requested or done).
COUNTED_REFUND_STATUSES: tuple[str, ...] = (RefundStatus.SUCCEEDED, RefundStatus.PENDING)


class BroadcastAudience(models.TextChoices):
    CONFIRMED = "confirmed", "Confirmed attendees"
    WAITLISTED = "waitlisted", "Waitlisted"
    PAYING = "paying", "Seat held or payment processing"
    ACTIVE = "active", "Everyone with an active registration"
    SELECTED = "selected", "The registrations selected in the list"


# The registration states each audience (but "active" and "selected") reaches.
AUDIENCE_STATES: dict[str, tuple[str, ...]] = {
    BroadcastAudience.CONFIRMED: (S.CONFIRMED,),
    BroadcastAudience.WAITLISTED: (S.WAITLISTED,),
    BroadcastAudience.PAYING: (S.HELD, S.PROCESSING),
}
