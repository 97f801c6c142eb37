"""``registrations.payments.checkout``: a Checkout Session follows the seat hold; one open
session per registration; Stripe outages free an ordinary hold but keep a waitlist offer."""

from datetime import timedelta

import pytest
from django.utils import timezone

from registrations.models import Registration
from registrations.payments import checkout
from registrations.payments.gateway import PaymentProviderError
from registrations.payments.models import Payment
from registrations.payments.stripe_gateway import StripeGateway
from registrations.seats import booking, queries
from tests.registrations.helpers import eager_retries, open_offering
from tests.registrations.stripe_helpers import (
    completed_for,
    deliver,
    eligible,
    events,
    offer_to_second_person,
    one_seat_class,
    pay,
    session_id,
)

S = Registration.State
# Real commits: emails and refunds run on commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


def test_checkout_session_follows_the_hold_and_stripe_rules(course, standin):
    offering = open_offering(course)
    registration = eligible(offering)
    before = timezone.now()
    url = checkout.checkout_start(registration)
    registration.refresh_from_db()
    assert registration.state == S.HELD
    hold = registration.hold_expires_at - before
    assert timedelta(minutes=34, seconds=59) < hold <= timedelta(minutes=35, seconds=5)
    payment = Payment.objects.get()
    assert (payment.status, payment.amount_cents, payment.currency) == ("open", 25000, "usd")
    assert payment.expires_at == registration.hold_expires_at
    assert url == payment.checkout_url and url.startswith(standin.base_url)
    # A second click reuses the open session instead of making another.
    assert checkout.checkout_start(registration) == url
    assert Payment.objects.count() == 1
    assert queries.seats_taken(offering) == 1


def test_checkout_refused_before_eligibility(course, standin):
    registration = eligible(open_offering(course))
    Registration.objects.filter(pk=registration.pk).update(state=S.PENDING_REVIEW)
    with pytest.raises(checkout.CheckoutUnavailable, match="still being reviewed"):
        checkout.checkout_start(registration)
    assert not Payment.objects.exists()


def test_stripe_unreachable_frees_the_hold(course, settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    registration = eligible(open_offering(course))
    with pytest.raises(checkout.CheckoutUnavailable, match="could not start the payment"):
        checkout.checkout_start(registration)
    registration.refresh_from_db()
    assert registration.state == S.EXPIRED
    assert queries.seats_taken(registration.offering) == 0


def test_stripe_outage_keeps_the_waitlist_offer(course, standin, settings):
    offered = offer_to_second_person(one_seat_class(course))
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    with pytest.raises(checkout.CheckoutUnavailable, match="still held for you"):
        checkout.checkout_start(offered)
    offered.refresh_from_db()
    assert offered.state == S.HELD


def test_paying_again_while_an_earlier_checkout_completed_is_refused(course, standin, client):
    registration = eligible(open_offering(course))
    url = checkout.checkout_start(registration)
    assert pay(standin, url) == 303  # paid at Stripe; its webhook is late
    booking.release_seat(registration.pk, reason="Seat hold expired unpaid.")
    with pytest.raises(checkout.CheckoutUnavailable, match="just been completed"):
        checkout.checkout_start(registration)
    deliver(client, completed_for(standin, url))  # the late payment, with the seat still free
    registration.refresh_from_db()
    assert registration.state == S.CONFIRMED


def test_a_double_click_keeps_one_open_checkout_and_the_hold(course, standin, client):
    registration = eligible(open_offering(course))
    first = checkout.checkout_start(registration)
    # A second request that passed the reuse check before the first stored its session.
    registration.refresh_from_db()
    end = checkout._session_end(registration, timezone.now())
    checkout.expire_open_sessions(registration)
    second = checkout._create_session(registration, end)
    assert second != first
    for event in events(standin, "checkout.session.expired"):
        deliver(client, event)
    registration.refresh_from_db()
    assert registration.state == S.HELD
    assert Payment.objects.filter(status="open").get().checkout_url == second


def test_expiring_a_session_is_retried_while_stripe_is_unreachable(
    course, standin, monkeypatch, caplog
):
    url = checkout.checkout_start(eligible(open_offering(course)))
    real, calls = StripeGateway.checkout_session_expire, []

    def flaky(self, session_id):
        calls.append(session_id)
        if len(calls) < 3:
            raise PaymentProviderError("Stripe: connection reset", indeterminate=True)
        return real(self, session_id)

    monkeypatch.setattr(StripeGateway, "checkout_session_expire", flaky)
    with eager_retries():
        done = checkout.expire_checkout_session.delay(session_id(url))
    assert (done.state, done.result, len(calls)) == ("SUCCESS", True, 3)
    assert standin.store.retrieve_session(session_id(url))["status"] == "expired"

    def down(self, session_id):
        raise PaymentProviderError("Stripe: connection reset", indeterminate=True)

    monkeypatch.setattr(StripeGateway, "checkout_session_expire", down)
    with eager_retries(), caplog.at_level("ERROR", logger="citreg.payments"):
        failed = checkout.expire_checkout_session.delay("cs_test_unreachable")
    assert failed.state == "FAILURE" and isinstance(failed.result, PaymentProviderError)
    assert "payments.expire_failed task=registrations.expire_checkout_session" in caplog.text
