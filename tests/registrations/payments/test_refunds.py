"""``registrations.payments.refunds``: partial and full refunds from the admin, a provider error
changes nothing, an automatic refund is announced once."""

from unittest import mock

import pytest

from registrations.messaging.models import OutboundEmail
from registrations.models import Registration
from registrations.payments import checkout, refunds
from registrations.payments import refunds as tasks  # fmt: skip
from registrations.payments.gateway import gateway
from registrations.payments.models import Payment, Refund
from registrations.seats import booking, queries
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import (
    completed_for,
    confirmed,
    deliver,
    eligible,
    events,
    one_seat_class,
    pay,
)

S = Registration.State
# Real commits: emails and refunds run on commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def test_partial_then_full_refund_from_the_admin(course, standin, client, admin_client):
    registration = confirmed(open_offering(course), standin, client)
    url = "/admin/registrations/registration/"
    form = admin_client.post(url, {"action": "refund_only", "_selected_action": [registration.pk]})
    assert b"Amount (USD)" in form.content
    admin_client.post(
        url,
        {
            "action": "refund_only",
            "_selected_action": [registration.pk],
            "apply": "1",
            "amount": "100.00",
            "reason": "Missed an hour",
        },
    )
    registration.refresh_from_db()
    payment = Payment.objects.get()
    assert registration.state == S.CONFIRMED and payment.amount_refunded_cents == 10000
    # Stripe's charge.refunded for it is idempotent.
    for event in events(standin, "charge.refunded"):
        deliver(client, event)
    assert Payment.objects.get().amount_refunded_cents == 10000
    admin_client.post(
        url,
        {
            "action": "cancel_and_refund",
            "_selected_action": [registration.pk],
            "apply": "1",
            "amount": "",
            "reason": "Moved away",
        },
    )
    registration.refresh_from_db()
    assert registration.state == S.REFUNDED
    assert Payment.objects.get().amount_refunded_cents == 25000
    assert [r.amount_cents for r in Refund.objects.order_by("pk")] == [10000, 15000]
    assert queries.seats_taken(registration.offering) == 0


def test_admin_refund_stripe_error_changes_nothing(course, standin, client, admin_client, settings):
    registration = confirmed(open_offering(course), standin, client)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    response = admin_client.post(
        "/admin/registrations/registration/",
        {"action": "cancel_and_refund", "_selected_action": [registration.pk], "apply": "1",
         "amount": "", "reason": "Test"},
        follow=True,
    )  # fmt: skip
    assert "nothing changed" in response.content.decode()
    registration.refresh_from_db()
    assert registration.state == S.CONFIRMED
    assert Payment.objects.get().amount_refunded_cents == 0
    assert Refund.objects.get().status == "failed"


def test_automatic_refund_is_announced_once(course, standin, client):
    offering = one_seat_class(course)
    late = eligible(offering, email="late@denver911.example.gov")
    url = checkout.checkout_start(late)
    pay(standin, url)
    booking.release_seat(late.pk, reason="Seat hold expired unpaid.")
    checkout.checkout_start(eligible(offering, email="other@denver911.example.gov"))
    with mock.patch.object(tasks.execute_refund, "delay"):  # the worker is a little late
        deliver(client, completed_for(standin, url))
    refund = Refund.objects.get()
    gateway().refund_create(
        payment_intent_id=refund.payment.stripe_payment_intent_id,
        amount_cents=refund.amount_cents, idempotency_key=refund.idempotency_key,
        reason=refund.reason,
    )  # fmt: skip
    [refunded] = events(standin, "charge.refunded")
    deliver(client, refunded)  # Stripe's webhook wins the race
    refunds.refund_execute(refund.pk)
    assert OutboundEmail.objects.filter(registration=late, kind="refund_issued").count() == 1
