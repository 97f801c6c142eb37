"""A course's refund policy: the single source of the rules, of their wording, and of the
quote staff see before refunding (``refund_quote``)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Sum
from django.utils import timezone

from courses.models import Course, Offering
from courses.timefmt import clock, day_label
from registrations.enums import RefundStatus

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


@dataclass(frozen=True)
class RefundQuote:
    """What a refund of one payment can be, now (all amounts integer cents).

    Attributes:
        paid_cents: the payment's amount (0 when not paid).
        refunded_cents: already refunded (succeeded refunds, ``Payment.amount_refunded_cents``).
        pending_cents: refunds requested but not yet answered by the provider.
        refundable_cents: the most staff may refund now: paid less refunded less pending.
        policy_cents: what the course's refund policy gives for a cancellation now
            (``refundable_cents`` of this module, capped by ``refundable_cents`` above); the
            default amount of the staff refund forms.
        rule: the policy rule that applies now, in plain English with its cut-off, e.g.
            "Cancelled at least 14 days before the first session: full refund (until
            Wednesday, December 23, 2026, 4:00 pm MST)."
    """

    paid_cents: int
    refunded_cents: int
    pending_cents: int
    refundable_cents: int
    policy_cents: int
    rule: str


def _moment(moment: datetime, offering: Offering) -> str:
    local = moment.astimezone(offering.zone)
    return f"{day_label(local, offering.zone)}, {clock(local)} {local.tzname()}"


def _days(count: int) -> str:
    return f"{count} day{'s' if count != 1 else ''}"


def refund_quote(
    payment: Payment | None, offering: Offering, now: datetime | None = None
) -> RefundQuote:
    """The refund quote for ``payment`` (a registration's paid payment, or None) of a class.

    The policy amount follows ``refundable_cents`` exactly (the same cut-offs, the same rounding),
    so the staff forms default to what the attendee would get by cancelling at ``now``; staff may
    lower it, or raise it up to ``refundable_cents`` of the quote. Source of the rules:
    ``RefundPolicy`` of the offering's course (``policy_for``).

    Args:
        payment: the payment a refund would go back to; None (or not paid) gives a zero quote.
        offering: the class the payment is for (its first session is the reference).
        now: aware; default the current time.
    """
    now = now or timezone.now()
    policy = policy_for(offering.course)
    if payment is None or payment.status != Payment.Status.PAID:
        return RefundQuote(0, 0, 0, 0, 0, "Nothing was paid, so there is nothing to refund.")
    pending = (
        payment.refunds.filter(status=RefundStatus.PENDING).aggregate(total=Sum("amount_cents"))[
            "total"
        ]
        or 0
    )
    left = max(0, payment.refundable_cents - pending)
    sessions = offering.session_list
    if not sessions:
        rule = "The class has no sessions, so the policy gives nothing."
        return RefundQuote(
            payment.amount_cents, payment.amount_refunded_cents, pending, left, 0, rule
        )
    first = sessions[0].starts_at
    full_until = first - timedelta(days=policy.full_refund_days)
    partial_until = first - timedelta(days=policy.partial_refund_days)
    before = first - now
    if before >= timedelta(days=policy.full_refund_days):
        rule = (
            f"Cancelled at least {_days(policy.full_refund_days)} before the first session: "
            f"full refund (until {_moment(full_until, offering)})."
        )
    elif policy.partial_refund_percent and before >= timedelta(days=policy.partial_refund_days):
        rule = (
            f"Cancelled less than {_days(policy.full_refund_days)} but at least "
            f"{_days(policy.partial_refund_days)} before the first session: "
            f"{policy.partial_refund_percent}% of the amount paid "
            f"(until {_moment(partial_until, offering)})."
        )
    else:
        last = partial_until if policy.partial_refund_percent else full_until
        rule = (
            "Cancelled after the last refund cut-off "
            f"({_moment(last, offering)}): no refund under the policy."
        )
    quote = min(refundable_cents(payment, offering, now), left)
    return RefundQuote(
        payment.amount_cents, payment.amount_refunded_cents, pending, left, quote, rule
    )


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
