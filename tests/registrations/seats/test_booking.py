"""``registrations.seats.booking``: concurrent holds take exactly the free seats; a lapsed hold
is offered to the waitlist, one offer per seat."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.utils import timezone

from registrations.models import Registration
from registrations.payments import checkout
from registrations.payments.models import Payment
from registrations.seats import booking, queries
from tests.factories import registration_in
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import eligible

S = Registration.State
# Real commits: emails run on commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.django_db(transaction=True)
def test_forty_concurrent_checkouts_for_three_seats_take_exactly_three(course, standin):
    offering = open_offering(course)
    offering.capacity = 3
    offering.save()
    registrations = [eligible(offering, email=f"p{i}@denver911.example.gov") for i in range(40)]
    barrier = threading.Barrier(40)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(registration):
        barrier.wait()
        try:
            checkout.checkout_start(registration)
            outcome = "held"
        except booking.OfferingFull:
            outcome = "full"
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt, args=(r,)) for r in registrations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes).count("held") == 3 and outcomes.count("full") == 37
    assert Registration.objects.filter(state=S.HELD).count() == 3
    assert Payment.objects.filter(status="open").count() == 3
    assert queries.seats_taken(offering) == 3
    # The others can join the waitlist, in order.
    late = [r for r in registrations if Registration.objects.get(pk=r.pk).state == S.ELIGIBLE]
    for registration in late[:2]:
        booking.join_waitlist(registration)
    assert queries.waitlist_position(Registration.objects.get(pk=late[1].pk)) == 2


def test_expired_hold_offers_the_seat_to_the_waitlist_head_one_per_seat(course, standin):
    offering = open_offering(course)
    offering.capacity = 1
    offering.save()
    holder = eligible(offering, email="holder@denver911.example.gov")
    checkout.checkout_start(holder)
    first = booking.join_waitlist(eligible(offering, email="first@denver911.example.gov"))
    second = booking.join_waitlist(eligible(offering, email="second@denver911.example.gov"))
    assert "waitlist" in mail.outbox[-1].subject.lower()

    with time_machine.travel(timezone.now() + timedelta(minutes=36)):
        assert booking.release_expired_holds() == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == S.HELD and first.hold_is_offer
    assert second.state == S.WAITLISTED  # one offer per free seat
    assert first.hold_expires_at - timezone.now() > timedelta(hours=23, minutes=59)
    offer = mail.outbox[-1]
    assert "A seat is free for you" in offer.subject and "leave-waitlist" in offer.body
    # The offer's checkout fits Stripe's window: no later than 23 hours from the click.
    url = checkout.checkout_start(first)
    payment = Payment.objects.get(registration=first)
    assert payment.expires_at - timezone.now() <= timedelta(hours=23, seconds=5)
    assert url

    # An unanswered offer passes on; the one who let it lapse leaves the list.
    first.refresh_from_db()
    with time_machine.travel(first.hold_expires_at + timedelta(minutes=1)):
        assert booking.release_expired_holds() == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == S.CANCELLED
    assert second.state == S.HELD and second.hold_is_offer
    lapsed = [m for m in mail.outbox if "first@" in m.to[0] and "offer ended" in m.subject]
    assert lapsed


def test_raising_the_capacity_offers_the_new_seats_to_the_waitlist_in_order(course):
    offering = open_offering(course)
    offering.capacity = 1
    offering.save()
    registration_in(S.CONFIRMED, offering)
    waiting = [
        booking.join_waitlist(eligible(offering, email=f"w{n}@denver911.example.gov"))
        for n in range(3)
    ]
    offering.capacity = 3  # staff raised it (the admin, an import: any save)
    offering.save()
    states = [Registration.objects.get(pk=r.pk).state for r in waiting]
    assert states == [S.HELD, S.HELD, S.WAITLISTED]
    assert sum("A seat is free for you" in m.subject for m in mail.outbox) == 2
    offering.save()  # saving again offers nothing more
    assert Registration.objects.get(pk=waiting[2].pk).state == S.WAITLISTED
