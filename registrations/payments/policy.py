"""A course's refund policy: the single source of the rules and of their wording."""

from datetime import datetime, timedelta

from django.utils import timezone

from courses.models import Course, Offering

from .models import Payment, RefundPolicy


def policy_for(course: Course) -> RefundPolicy:
    """The course's refund policy, created with the defaults (14 days full, then 50% until 3
    days before) the first time it is needed."""
    policy, _ = RefundPolicy.objects.get_or_create(course=course)
    return policy


def refundable_cents(payment: Payment, offering: Offering, now: datetime | None = None) -> int:
    """What the policy gives back if the attendee cancels at ``now``, in cents.

    Full amount (less anything already refunded) until ``full_refund_days`` before the first
    session; ``partial_refund_percent`` of the paid amount, rounded down to the cent, until
    ``partial_refund_days`` before; nothing after.
    """
    now = now or timezone.now()
    policy = policy_for(offering.course)
    sessions = offering.session_list
    if not sessions or payment.status != Payment.Status.PAID:
        return 0
    before = sessions[0].starts_at - now
    if before >= timedelta(days=policy.full_refund_days):
        amount = payment.amount_cents
    elif before >= timedelta(days=policy.partial_refund_days):
        amount = payment.amount_cents * policy.partial_refund_percent // 100
    else:
        amount = 0
    return max(0, min(amount, payment.refundable_cents))


def policy_text(policy: RefundPolicy) -> str:
    """The refund rules in plain English, for the terms page and the manage page."""
    full = policy.full_refund_days
    lines = [
        f"Cancel at least {full} day{'s' if full != 1 else ''} before the first session: "
        "full refund."
    ]
    if policy.partial_refund_percent and policy.partial_refund_days < full:
        lines.append(
            f"Cancel later, but at least {policy.partial_refund_days} day"
            f"{'s' if policy.partial_refund_days != 1 else ''} before the first session: "
            f"{policy.partial_refund_percent}% refund."
        )
        lines.append("Cancel after that: no refund.")
    else:
        lines.append("Cancel after that: no refund.")
    lines.append(
        "If we cannot confirm your eligibility, or we cancel a class, you get a full refund."
    )
    return "\n".join(lines)
