"""The refund policy as dated steps, for the attendee's ticket: "cancel by <instant> for a full
refund, by <instant> for half, after that nothing".

The cut-offs follow ``policy.refundable_cents`` exactly (the same ``RefundPolicy`` of the
offering's course, the same reference, the first session's start, and the same rounding down to
the cent), so the page promises what a cancellation then pays. Pages write each instant through
the time rules (``{% deadline_time %}``, ``courses.timefmt``).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from courses.models import Offering

from .policy import policy_for


@dataclass(frozen=True)
class RefundStep:
    """One step of the policy.

    Attributes:
        until: an aware instant: cancelling before it gives this step's refund.
        percent: the share of the amount paid given back (100 for the full refund).
        cents: that share of ``amount_cents`` (integer cents, rounded down).
    """

    until: datetime
    percent: int
    cents: int


def refund_steps(offering: Offering, amount_cents: int) -> list[RefundStep]:
    """The refund steps of ``offering`` for a payment of ``amount_cents``, earliest first.

    Full refund until ``full_refund_days`` before the first session; then, when the policy has
    a partial refund, ``partial_refund_percent`` until ``partial_refund_days`` before it; after
    the last step, nothing. An offering without sessions has no steps. Source of the rules:
    the course's ``RefundPolicy`` (``policy.policy_for``).
    """
    sessions = offering.session_list
    if not sessions:
        return []
    policy = policy_for(offering.course)
    first = sessions[0].starts_at
    steps = [RefundStep(first - timedelta(days=policy.full_refund_days), 100, amount_cents)]
    if policy.partial_refund_percent and policy.partial_refund_days < policy.full_refund_days:
        steps.append(
            RefundStep(
                first - timedelta(days=policy.partial_refund_days),
                policy.partial_refund_percent,
                amount_cents * policy.partial_refund_percent // 100,
            )
        )
    return steps
