"""Review proofs (temporary)."""
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.utils import timezone

from registrations import booking, cancellation, checkout, payments
from registrations.models import Payment, Refund, Registration
from registrations.transitions import Actor
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import deliver, eligible, events, pay, running_standin

S = Registration.State
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def standin(settings):
    with running_standin(settings) as server:
        yield server


def _completed_for(standin, session_url):
    sid = session_url.rstrip("/").rsplit("/", 1)[-1]
    return [e for e in events(standin, "checkout.session.completed")
            if e["data"]["object"]["id"] == sid][0]


def test_refunding_a_duplicate_payment_ends_the_paid_place(course, standin, client):
    reg = eligible(open_offering(course))
    url_a = checkout.checkout_start(reg)
    assert pay(standin, url_a) == 303            # paid at Stripe; webhook delayed
    booking.release_seat(reg.pk, reason="Seat hold expired unpaid.")  # hold lapses
    url_b = checkout.checkout_start(reg, now=timezone.now() + timedelta(seconds=5))  # tries again
    assert url_b != url_a
    assert pay(standin, url_b) == 303
    deliver(client, _completed_for(standin, url_b))
    reg.refresh_from_db()
    assert reg.state == S.CONFIRMED
    deliver(client, _completed_for(standin, url_a))   # the delayed duplicate lands
    reg.refresh_from_db()
    print("STATE", reg.state, [(p.status, p.amount_refunded_cents) for p in Payment.objects.order_by("pk")])
    # Payment B is kept (paid, not refunded), so the place should still be confirmed.
    assert reg.state == S.CONFIRMED


def test_delayed_payment_after_lapse_oversells(course, standin, client):
    offering = open_offering(course)
    offering.capacity = 1
    offering.save()
    late = eligible(offering, email="late@denver911.example.gov")
    url = checkout.checkout_start(late)
    assert pay(standin, url, action="delayed", delayed_outcome="succeeded") == 303
    booking.release_seat(late.pk, reason="Seat hold expired unpaid.")
    other = eligible(offering, email="other@denver911.example.gov")
    checkout.checkout_start(other)
    deliver(client, _completed_for(standin, url))
    late.refresh_from_db()
    print("STATE", late.state, "taken", booking.seats_taken(offering), "capacity", offering.capacity)
    assert booking.seats_taken(offering) <= offering.capacity


def test_waitlist_offer_session_expiry_cancels_offer_early(course, standin, client):
    offering = open_offering(course)
    offering.capacity = 1
    offering.save()
    a = eligible(offering, email="a@denver911.example.gov")
    checkout.checkout_start(a)
    b = eligible(offering, email="b@denver911.example.gov")
    booking.join_waitlist(b)
    booking.release_seat(a.pk, reason="Seat hold expired unpaid.")
    b.refresh_from_db()
    assert b.state == S.HELD and b.hold_is_offer
    url = checkout.checkout_start(b)
    p = Payment.objects.get(registration=b)
    b.refresh_from_db()
    print("hold ends", b.hold_expires_at, "session ends", p.expires_at)
    # Stripe expires the session at its expires_at (23 h) while the offer runs 24 h.
    sid = url.rstrip("/").rsplit("/", 1)[-1]
    assert payments.checkout_session_expire(sid)
    [expired] = events(standin, "checkout.session.expired")
    with time_machine.travel(p.expires_at + timedelta(seconds=30), tick=True):
        deliver(client, expired)
        b.refresh_from_db()
        print("STATE", b.state, "hold ends", b.hold_expires_at, "now", timezone.now())
        assert b.state == S.HELD  # offer still has ~1 h left


def test_cancel_held_while_payment_lands_keeps_money(course, standin, client):
    reg = eligible(open_offering(course))
    url = checkout.checkout_start(reg)
    assert pay(standin, url) == 303
    real = checkout.expire_open_sessions

    def expire_then_webhook(registration):
        real(registration)
        deliver(client, _completed_for(standin, url))   # webhook lands in between

    with mock.patch.object(checkout, "expire_open_sessions", expire_then_webhook):
        cancellation.registration_cancel(reg, actor=Actor.attendee(), reason="changed mind")
    reg.refresh_from_db()
    pay_ = Payment.objects.get()
    print("STATE", reg.state, pay_.status, pay_.amount_refunded_cents, Refund.objects.count())
    assert not (reg.state == S.CANCELLED and pay_.status == "paid" and pay_.amount_refunded_cents == 0)
