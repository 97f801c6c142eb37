"""``registrations.payments.settlement``: what Stripe's events do to registrations, idempotent and
in any order: paid, processing, failed, expired, refunded, disputed; late money is refunded."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from registrations.messaging.models import OutboundEmail
from registrations.models import Registration
from registrations.payments import cancellation, checkout
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
    offer_to_second_person,
    one_seat_class,
    pay,
    standin_post,
)

S = Registration.State
# Real commits: emails and refunds run on commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def test_expired_event_of_an_abandoned_session_changes_nothing_after_paying(
    course, standin, client
):
    registration = eligible(open_offering(course))
    first_url = checkout.checkout_start(registration)
    # Coming back with less than five minutes left on the session: a fresh one replaces it.
    later = timezone.now() + timedelta(minutes=31)
    second_url = checkout.checkout_start(registration, now=later)
    assert second_url != first_url
    [expired] = events(standin, "checkout.session.expired")
    assert pay(standin, second_url) == 303
    [completed] = events(standin, "checkout.session.completed")
    for event in (completed, expired):  # the expiry arrives last
        assert deliver(client, event).status_code == 200
    registration.refresh_from_db()
    assert registration.state == S.CONFIRMED
    assert (
        Payment.objects.get(stripe_checkout_session_id=expired["data"]["object"]["id"]).status
        == "expired"
    )


def test_expired_event_releases_an_unpaid_hold(course, standin, client):
    registration = eligible(open_offering(course))
    url = checkout.checkout_start(registration)
    session_id = url.rstrip("/").rsplit("/", 1)[-1]
    from registrations.payments.gateway import gateway

    assert gateway().checkout_session_expire(session_id)
    [expired] = events(standin, "checkout.session.expired")
    assert deliver(client, expired).status_code == 200
    assert deliver(client, expired).status_code == 200
    registration.refresh_from_db()
    assert registration.state == S.EXPIRED
    assert queries.seats_taken(registration.offering) == 0
    [told] = OutboundEmail.objects.filter(kind="hold_lapsed")
    assert told.status == "sent" and "Nothing was charged" in told.text_body


def test_waitlist_offer_outlives_its_checkout_session(course, standin, client):
    offered = offer_to_second_person(one_seat_class(course))
    url = checkout.checkout_start(offered)
    payment = Payment.objects.get(registration=offered)
    assert gateway().checkout_session_expire(url.rstrip("/").rsplit("/", 1)[-1])
    [expired] = events(standin, "checkout.session.expired")
    with time_machine.travel(payment.expires_at + timedelta(seconds=30)):
        deliver(client, expired)
    offered.refresh_from_db()
    assert offered.state == S.HELD  # about an hour of the 24-hour offer is left


def test_delayed_payment_processing_then_failed(course, standin, client):
    registration = eligible(open_offering(course))
    url = checkout.checkout_start(registration)
    assert pay(standin, url, action="delayed", delayed_outcome="failed") == 303
    [completed] = events(standin, "checkout.session.completed")
    assert completed["data"]["object"]["payment_status"] == "unpaid"
    deliver(client, completed)
    registration.refresh_from_db()
    assert registration.state == S.PROCESSING
    assert queries.seats_taken(registration.offering) == 1  # the seat is kept meanwhile
    from tests.services import wait_for

    failed = wait_for(lambda: events(standin, "checkout.session.async_payment_failed"), 10)
    deliver(client, failed[0])
    registration.refresh_from_db()
    assert registration.state == S.EXPIRED
    assert "did not go through" in mail.outbox[-1].subject


def test_late_payment_confirms_when_a_seat_is_free(course, standin, client):
    registration = eligible(open_offering(course))
    url = checkout.checkout_start(registration)
    pay(standin, url)
    booking.release_seat(registration.pk, reason="Seat hold expired unpaid.")
    [completed] = events(standin, "checkout.session.completed")
    deliver(client, completed)
    registration.refresh_from_db()
    assert registration.state == S.CONFIRMED


def test_late_payment_without_a_seat_is_refunded_in_full_and_flagged(course, standin, client):
    offering = open_offering(course)
    offering.capacity = 1
    offering.save()
    late = eligible(offering, email="late@denver911.example.gov")
    url = checkout.checkout_start(late)
    pay(standin, url)
    booking.release_seat(late.pk, reason="Seat hold expired unpaid.")
    checkout.checkout_start(eligible(offering, email="other@denver911.example.gov"))
    [completed] = events(standin, "checkout.session.completed")
    mail.outbox.clear()
    deliver(client, completed)
    deliver(client, completed)
    late.refresh_from_db()
    assert late.state == S.REFUNDED
    assert late.needs_attention and "refunded automatically" in late.attention_reason
    [refund] = Refund.objects.all()
    assert (refund.amount_cents, refund.status, refund.automatic) == (25000, "succeeded", True)
    assert refund.stripe_refund_id.startswith("re_")
    subjects = [m.subject for m in mail.outbox]
    assert any(s.startswith("Needs attention") for s in subjects)
    assert any(s.startswith("Refund") for s in subjects)
    # Stripe's charge.refunded for our own refund changes nothing more.
    [refunded] = events(standin, "charge.refunded")
    deliver(client, refunded)
    assert Refund.objects.count() == 1
    assert Payment.objects.get(registration=late).amount_refunded_cents == 25000


def test_payment_landing_after_its_hold_lapsed_does_not_overbook(course, standin, client):
    offering = open_offering(course)
    offering.capacity = 1
    offering.save()
    late = eligible(offering, email="late@denver911.example.gov")
    late_url = checkout.checkout_start(late)
    # The hold lapses; before the release task runs, someone else takes the seat.
    Registration.objects.filter(pk=late.pk).update(
        hold_expires_at=timezone.now() - timedelta(seconds=1)
    )
    other = eligible(offering, email="other@denver911.example.gov")
    other_url = checkout.checkout_start(other)
    assert pay(standin, late_url) == 303
    [completed] = events(standin, "checkout.session.completed")
    deliver(client, completed)
    late.refresh_from_db()
    assert late.state == S.REFUNDED and late.needs_attention
    assert pay(standin, other_url) == 303
    deliver(client, completed_for(standin, other_url))
    other.refresh_from_db()
    assert other.state == S.CONFIRMED
    assert queries.seats_taken(offering) == 1


def test_delayed_payment_after_its_hold_lapsed_does_not_oversell(course, standin, client):
    offering = one_seat_class(course)
    late = eligible(offering, email="late@denver911.example.gov")
    url = checkout.checkout_start(late)
    assert pay(standin, url, action="delayed", delayed_outcome="succeeded") == 303
    booking.release_seat(late.pk, reason="Seat hold expired unpaid.")
    checkout.checkout_start(eligible(offering, email="other@denver911.example.gov"))
    deliver(client, completed_for(standin, url))
    late.refresh_from_db()
    assert late.state == S.EXPIRED
    assert queries.seats_taken(offering) == 1


def test_money_for_a_cancelled_registration_is_refunded(course, standin, client):
    registration = eligible(open_offering(course))
    url = checkout.checkout_start(registration)
    pay(standin, url)
    Registration.objects.filter(pk=registration.pk).update(state=S.CANCELLED)
    [completed] = events(standin, "checkout.session.completed")
    deliver(client, completed)
    registration.refresh_from_db()
    assert registration.state == S.CANCELLED and registration.needs_attention
    assert Refund.objects.get().status == "succeeded"


def test_refunding_a_duplicate_payment_keeps_the_paid_place(course, standin, client, admin_client):
    registration = eligible(open_offering(course))
    url = checkout.checkout_start(registration)
    pay(standin, url)
    deliver(client, completed_for(standin, url))
    kept = Payment.objects.get()
    # A second payment for the same registration reaches Stripe some other way (a session we
    # never recorded): it is adopted by client_reference_id, then refunded as a duplicate.
    duplicate = gateway().checkout_session_create(
        amount_cents=25000, currency="usd", product_name="CIT", customer_email="a@b.example.org",
        client_reference_id=str(registration.pk), metadata={}, idempotency_key="dup",
        expires_at=timezone.now() + timedelta(hours=1), success_url="https://x.example.org/",
        cancel_url="https://x.example.org/",
    )  # fmt: skip
    pay(standin, duplicate.url)
    deliver(client, completed_for(standin, duplicate.url))
    registration.refresh_from_db()
    assert registration.state == S.CONFIRMED and registration.needs_attention
    adopted = Payment.objects.exclude(pk=kept.pk).get()
    assert adopted.amount_refunded_cents == 25000
    assert cancellation.paid_payment(registration) == kept
    # Staff can still refund the payment that was kept.
    admin_client.post("/admin/registrations/registration/", {
        "action": "refund_only", "_selected_action": [registration.pk], "apply": "1",
        "amount": "", "reason": "Goodwill"})  # fmt: skip
    kept.refresh_from_db()
    assert kept.amount_refunded_cents == 25000


def test_a_refund_reported_before_the_payment_is_retried_not_lost(course, standin, client):
    registration = eligible(open_offering(course))
    url = checkout.checkout_start(registration)
    assert pay(standin, url) == 303
    [completed] = events(standin, "checkout.session.completed")
    intent = completed["data"]["object"]["payment_intent"]
    gateway().refund_create(payment_intent_id=intent, amount_cents=25000, idempotency_key="dash")
    [refunded] = events(standin, "charge.refunded")
    assert deliver(client, refunded).status_code == 503  # not yet known: Stripe retries
    assert deliver(client, completed).status_code == 200
    assert deliver(client, refunded).status_code == 200
    registration.refresh_from_db()
    assert Payment.objects.get().amount_refunded_cents == 25000
    assert registration.state == S.REFUNDED


def test_dispute_flags_the_registration(course, standin, client):
    registration = confirmed(open_offering(course), standin, client)
    payment = Payment.objects.get()

    assert standin_post(standin, "/_standin/disputes", {
        "payment_intent": payment.stripe_payment_intent_id}) == 200  # fmt: skip
    [dispute] = events(standin, "charge.dispute.created")
    deliver(client, dispute)
    deliver(client, dispute)
    registration.refresh_from_db()
    assert registration.needs_attention and "disputed" in registration.attention_reason
    assert registration.state == S.CONFIRMED
