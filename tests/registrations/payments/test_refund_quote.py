"""``payments.policy.refund_quote``: the amount staff forms default to is exactly what the policy
gives, on each side of each cut-off, with the rule that applies; what was paid, refunded and is
pending is counted; the admin refund form shows the quote and defaults to it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from registrations.enums import RefundStatus
from registrations.payments import policy
from registrations.payments.models import Payment, Refund
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import eligible

pytestmark = pytest.mark.django_db
SECOND = timedelta(seconds=1)


def paid(registration, amount_cents=25000, refunded_cents=0) -> Payment:
    """A paid payment of ``registration`` (no provider involved: the quote reads rows only)."""
    return Payment.objects.create(
        registration=registration,
        status=Payment.Status.PAID,
        amount_cents=amount_cents,
        amount_refunded_cents=refunded_cents,
        idempotency_key=f"test:{registration.pk}:{amount_cents}:{refunded_cents}",
        stripe_payment_intent_id=f"pi_test_{registration.pk}",
        paid_at=timezone.now(),
    )


@pytest.fixture
def offering(course):
    return open_offering(course)


def first_start(offering):
    return offering.session_list[0].starts_at


@pytest.mark.parametrize(
    ("when", "expected", "rule"),
    [
        (timedelta(days=14), 25000, "at least 14 days before the first session: full refund"),
        (timedelta(days=14) - SECOND, 12500, "50% of the amount paid"),
        (timedelta(days=3), 12500, "50% of the amount paid"),
        (timedelta(days=3) - SECOND, 0, "no refund under the policy"),
        (timedelta(days=30), 25000, "full refund"),
        (timedelta(hours=1), 0, "no refund"),
    ],
)
def test_quote_equals_the_policy_on_each_side_of_its_cut_offs(offering, when, expected, rule):
    payment = paid(eligible(offering))
    now = first_start(offering) - when
    quote = policy.refund_quote(payment, offering, now=now)
    assert quote.policy_cents == expected == policy.refundable_cents(payment, offering, now)
    assert rule in quote.rule
    assert (quote.paid_cents, quote.refunded_cents, quote.refundable_cents) == (25000, 0, 25000)


def test_the_rule_names_its_cut_off_in_mountain_time(offering):
    payment = paid(eligible(offering))
    cut_off = first_start(offering) - timedelta(days=14)
    quote = policy.refund_quote(payment, offering, now=cut_off - timedelta(days=1))
    local = cut_off.astimezone(offering.zone)
    assert f"until {local:%A}, {local:%B} {local.day}, {local.year}" in quote.rule
    assert local.tzname() in quote.rule  # MST or MDT


def test_percentage_counts_on_the_paid_amount_capped_by_what_is_left(offering, course):
    payment = paid(eligible(offering), amount_cents=25001, refunded_cents=20000)
    now = first_start(offering) - timedelta(days=5)
    quote = policy.refund_quote(payment, offering, now=now)
    # 50% of $250.01 is $125.00 (rounded down), but only $50.01 is left.
    assert (quote.paid_cents, quote.refunded_cents, quote.refundable_cents) == (25001, 20000, 5001)
    assert quote.policy_cents == 5001
    policy_row = policy.policy_for(course)
    policy_row.partial_refund_percent = 0
    policy_row.save()
    quote = policy.refund_quote(payment, offering, now=now)
    assert quote.policy_cents == 0 and "no refund" in quote.rule


def test_pending_refunds_are_not_refundable_twice(offering):
    payment = paid(eligible(offering))
    Refund.objects.create(
        payment=payment, amount_cents=4000, reason="x", idempotency_key="refund:test:1",
        status=RefundStatus.PENDING,
    )  # fmt: skip
    quote = policy.refund_quote(payment, offering, now=first_start(offering) - timedelta(days=20))
    assert (quote.pending_cents, quote.refundable_cents, quote.policy_cents) == (4000, 21000, 21000)


def test_nothing_paid_gives_a_zero_quote(offering):
    quote = policy.refund_quote(None, offering)
    assert (quote.paid_cents, quote.refundable_cents, quote.policy_cents) == (0, 0, 0)
    assert "Nothing was paid" in quote.rule


@pytest.mark.parametrize("action", ["refund_only", "cancel_and_refund"])
def test_admin_refund_forms_show_the_quote_and_default_to_it(admin_client, offering, action):
    registration = eligible(offering)
    registration.state = "confirmed"
    registration.save(update_fields=["state"])
    paid(registration, refunded_cents=5000)
    page = admin_client.post(
        "/admin/registrations/registration/",
        {"action": action, "_selected_action": [registration.pk]},
    )
    html = page.content.decode()
    assert "$250.00" in html and "$50.00" in html and "$200.00" in html  # paid, refunded, left
    assert "full refund (until" in html
    field = page.context["form"][f"amount-{registration.pk}"]
    assert str(field.initial) == "200.00"  # the policy's amount (full: what is left)
    assert 'max="200.00"' in str(field)


def test_admin_refund_above_what_is_refundable_is_refused_beside_the_field(admin_client, offering):
    registration = eligible(offering)
    registration.state = "confirmed"
    registration.save(update_fields=["state"])
    paid(registration)
    page = admin_client.post(
        "/admin/registrations/registration/",
        {
            "action": "refund_only", "_selected_action": [registration.pk], "apply": "1",
            f"amount-{registration.pk}": "250.01", "reason": "Goodwill",
        },
    )  # fmt: skip
    assert page.status_code == 200
    assert page.context["form"].errors[f"amount-{registration.pk}"]
    assert not Refund.objects.exists()
