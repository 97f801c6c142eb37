"""Races and orderings around money, found in review: each once lost money, oversold a class,
ended a paid place, deadlocked, or sent a message twice. Against the Stripe stand-in."""

import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from registrations import intake, links
from registrations.messaging import notices
from registrations.messaging.models import OutboundEmail
from registrations.models import Registration
from registrations.payments import cancellation, checkout, refunds
from registrations.payments import refunds as tasks  # fmt: skip
from registrations.payments.gateway import gateway
from registrations.payments.models import Payment, Refund
from registrations.seats import booking, queries
from registrations.transitions import Actor
from tests.registrations.helpers import open_offering
from tests.registrations.stripe_helpers import completed_for, deliver, eligible, events, pay

S = Registration.State
pytestmark = pytest.mark.django_db(transaction=True)


def one_seat_class(course):
    offering = open_offering(course)
    offering.capacity = 1
    offering.save()
    return offering


def offer_to_second_person(offering):
    first = eligible(offering, email="a@denver911.example.gov")
    checkout.checkout_start(first)
    second = booking.join_waitlist(eligible(offering, email="b@denver911.example.gov"))
    booking.release_seat(first.pk, reason="Seat hold expired unpaid.")
    second.refresh_from_db()
    assert second.state == S.HELD and second.hold_is_offer
    return second


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


def test_stripe_outage_keeps_the_waitlist_offer(course, standin, settings):
    offered = offer_to_second_person(one_seat_class(course))
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    with pytest.raises(checkout.CheckoutUnavailable, match="still held for you"):
        checkout.checkout_start(offered)
    offered.refresh_from_db()
    assert offered.state == S.HELD


def test_declining_an_offer_expires_its_checkout(course, standin):
    offered = offer_to_second_person(one_seat_class(course))
    url = checkout.checkout_start(offered)
    cancellation.waitlist_leave(offered)
    offered.refresh_from_db()
    assert offered.state == S.CANCELLED
    assert pay(standin, url) != 303  # the session can no longer be paid


def test_cancelling_a_hold_whose_payment_just_completed_keeps_no_money(course, standin, client):
    registration = eligible(open_offering(course))
    url = checkout.checkout_start(registration)
    assert pay(standin, url) == 303
    with pytest.raises(checkout.CheckoutUnavailable, match="just been completed"):
        cancellation.registration_cancel(registration, actor=Actor.attendee(), reason="x")
    deliver(client, completed_for(standin, url))
    cancellation.registration_cancel(registration, actor=Actor.attendee(), reason="x")
    registration.refresh_from_db()
    payment = Payment.objects.get()
    assert registration.state == S.REFUNDED and payment.amount_refunded_cents == 25000


def test_cancel_and_hold_sweeper_do_not_deadlock(course, standin):
    registration = eligible(open_offering(course))
    checkout.checkout_start(registration)
    registration.payments.update(status="expired")  # nothing to expire at Stripe
    locked = threading.Event()
    errors: dict[str, str] = {}
    real_send_cancelled = notices.send_cancelled

    def slow_send_cancelled(reg):
        locked.set()  # the cancel holds its locks here
        time.sleep(0.5)
        return real_send_cancelled(reg)

    def cancel():
        try:
            with mock.patch.object(notices, "send_cancelled", slow_send_cancelled):
                cancellation.registration_cancel(registration, actor=Actor.attendee(), reason="x")
        except Exception as exc:  # noqa: BLE001
            errors["cancel"] = repr(exc)
        finally:
            connection.close()

    def sweep():
        locked.wait(5)
        try:
            booking.release_seat(registration.pk, reason="sweeper")
        except Exception as exc:  # noqa: BLE001
            errors["release"] = repr(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=cancel), threading.Thread(target=sweep)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert errors == {}
    assert Registration.objects.get(pk=registration.pk).state == S.CANCELLED


def test_admin_cancel_of_a_hold_with_stripe_down_says_so(course, standin, settings, admin_client):
    registration = eligible(open_offering(course))
    checkout.checkout_start(registration)
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"
    response = admin_client.post("/admin/registrations/registration/", {
        "action": "cancel_and_refund", "_selected_action": [registration.pk], "apply": "1",
        "amount": "", "reason": "Test"}, follow=True)  # fmt: skip
    assert response.status_code == 200 and "nothing changed" in response.content.decode()
    assert Registration.objects.get(pk=registration.pk).state == S.HELD


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


def test_a_double_click_keeps_one_open_checkout_and_the_hold(course, standin, client):
    registration = eligible(open_offering(course))
    first = checkout.checkout_start(registration)
    # A second request that passed the reuse check before the first stored its session.
    registration.refresh_from_db()
    end = checkout._session_end(registration, timezone.now())
    checkout._expire_open_sessions(registration)
    second = checkout._create_session(registration, end)
    assert second != first
    for event in events(standin, "checkout.session.expired"):
        deliver(client, event)
    registration.refresh_from_db()
    assert registration.state == S.HELD
    assert Payment.objects.filter(status="open").get().checkout_url == second


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


def test_old_manage_links_stop_working_after_an_email_change(course):
    registration = eligible(open_offering(course))
    token = links.manage_path(registration).rstrip("/").rsplit("/", 1)[-1]
    intake.email_change_request(registration, "new-address@denver911.example.gov")
    registration.refresh_from_db()
    intake.email_change_confirm(registration)
    with pytest.raises(links.LinkError):
        links.read_link(links.MANAGE, token)
