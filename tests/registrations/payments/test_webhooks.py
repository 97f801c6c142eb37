"""``registrations.payments.webhooks``: each event is stored once and dispatched; duplicates and
unknown types are answered 200."""

import pytest
from django.core import mail

from registrations.models import Registration
from registrations.payments import checkout
from registrations.payments.models import Payment, WebhookEvent
from registrations.seats import queries
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import deliver, eligible, events, pay

S = Registration.State
# Real commits: emails and refunds run on commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def test_pay_and_webhook_confirm_once_even_twice_and_reordered(course, standin, client):
    offering = open_offering(course)
    registration = eligible(offering)
    url = checkout.checkout_start(registration)
    assert pay(standin, url) == 303
    completed = events(standin, "checkout.session.completed")
    assert len(completed) == 1
    mail.outbox.clear()
    for event in [completed[0], completed[0]]:
        assert deliver(client, event).status_code == 200
    registration.refresh_from_db()
    assert registration.state == S.CONFIRMED and registration.hold_expires_at is None
    payment = Payment.objects.get()
    assert payment.status == "paid" and payment.stripe_payment_intent_id.startswith("pi_")
    assert WebhookEvent.objects.get().deliveries == 2
    assert [m.subject for m in mail.outbox] == [
        f"Confirmed: {course.title}, {offering.date_label}, day class"
    ]
    assert queries.seats_taken(offering) == 1


def test_unknown_event_types_are_answered_200(client, standin, db):
    event = {"id": "evt_other", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}
    assert deliver(client, event).status_code == 200
    assert WebhookEvent.objects.get().processed_at is not None
