"""``registrations.payments.ledger``: a refund counts once, whether Stripe's ``charge.refunded``
or our own record of it comes first."""

import pytest

from registrations.models import Registration
from registrations.payments import refunds
from registrations.payments.gateway import gateway
from registrations.payments.models import Payment, Refund
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import confirmed, deliver, events

S = Registration.State
# Real commits: emails and refunds run on commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def test_charge_refunded_arriving_before_our_refund_is_recorded_counts_once(
    course, standin, client
):

    registration = confirmed(open_offering(course), standin, client)
    payment = Payment.objects.get()
    refund = refunds.refund_request(payment=payment, amount_cents=25000, reason="Moved away")
    # Stripe refunds, and its webhook lands before refund_execute records the success.
    gateway().refund_create(
        payment_intent_id=payment.stripe_payment_intent_id,
        amount_cents=25000,
        idempotency_key=refund.idempotency_key,
        reason="Moved away",
    )
    [refunded] = events(standin, "charge.refunded")
    assert deliver(client, refunded).status_code == 200
    refunds.refund_execute(refund.pk)  # Stripe replays the same refund (same key)
    assert [(r.amount_cents, r.status) for r in Refund.objects.all()] == [(25000, "succeeded")]
    payment.refresh_from_db()
    registration.refresh_from_db()
    assert payment.amount_refunded_cents == 25000
    assert registration.state == S.REFUNDED
